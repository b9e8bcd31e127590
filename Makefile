# The two quick-start commands, `make demo` and `make test`, work on a fresh machine: they create
# .venv, install the CPU torch wheel and rlmba (editable, compiled with scikit-build-core) into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SOURCES := pyproject.toml CMakeLists.txt $(shell find csrc -type f 2>/dev/null)

.PHONY: demo test test-all bench results compare info build clean

demo: $(VENV)/.built
	$(VENV)/bin/rlmba demo

# The lint (ruff, configured in pyproject.toml) runs first: a finding fails the test run.
test: $(VENV)/.built
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

test-all: $(VENV)/.built
	$(PY) -m pytest -q -m ""

bench: $(VENV)/.built
	$(PY) -m pytest benchmarks -q

results: $(VENV)/.built
	$(PY) benchmarks/report.py

# The README's comparison table: the paper's reward baselines (GCNAL, BADGE, BMMAL), then every
# strategy with RL-MBA's relative reward against them; rlmba-compare/paper_table.md (~10 min).
COMPARE := --initial 20 --budget 20 --rounds 6 --seeds 0 1 2 3 4 --threads 1
compare: $(VENV)/.built
	$(VENV)/bin/rlmba baselines $(COMPARE) --out rlmba-compare/baselines
	$(VENV)/bin/rlmba run --strategy all $(COMPARE) --baselines rlmba-compare/baselines/baselines.json --out rlmba-compare

info: $(VENV)/.built
	$(VENV)/bin/rlmba info

build: $(VENV)/.built

$(VENV)/.deps:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12"
	touch $@

# Rebuild the extension whenever a build input changes; flock serialises concurrent builds.
$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	flock build.lock $(PY) -m pip install -q --no-build-isolation -e ".[test]"
	touch $@

clean:
	rm -rf build dist $(VENV) build.lock
