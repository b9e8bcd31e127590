"""The C++ binding layer: every function is declared in ``_C.pyi``, and calls the Python layer
would never make (mismatched sizes, wrong dtypes, strided arrays, out-of-range indices, budgets
larger than the pool) raise an error naming the argument instead of reading past a buffer. The
cases run in a child process, so a crash fails the cases it reached instead of killing the run."""
import ast
import pathlib
import subprocess
import sys
import textwrap

import pytest

_C = pytest.importorskip("rlmba._C", reason="the compiled module is not built")
STUB = pathlib.Path(__file__).resolve().parents[1] / "src" / "rlmba" / "_C.pyi"


def test_stub_declares_every_function():
    declared = {n.name for n in ast.parse(STUB.read_text()).body if isinstance(n, ast.FunctionDef)}
    built = {name for name in dir(_C) if callable(getattr(_C, name)) and not name.startswith("_")}
    assert built <= declared, f"not in _C.pyi: {sorted(built - declared)}"
    cpu_declared = {name for name in declared if not name.startswith("cuda_")}
    assert cpu_declared <= built, f"declared but not built: {sorted(cpu_declared - built)}"


PRELUDE = """
import torch, rlmba
from rlmba import _C
f32, f64, i64 = torch.float32, torch.float64, torch.int64
x = torch.randn(50, 4)
"""

# (what, code, exception name, message part)
CASES = [
    ("k-center picks more rows than are free", """
        mind = torch.full((50,), float("-inf")); mind[:3] = 1.0
        _C.cpu_kcenter_greedy(x, None, mind, 0, torch.empty(5, dtype=i64), "euclidean", 2)""",
     "ValueError", "b: only 3 rows"),
    ("k-center first pick out of range", """
        _C.cpu_kcenter_greedy(x, None, torch.zeros(50), 50, torch.empty(5, dtype=i64), "euclidean", 2)""",
     "ValueError", "first"),
    ("k-center cosine without norms", """
        _C.cpu_kcenter_pass(x, torch.zeros(4), None, torch.zeros(50), "cosine", True, 2)""",
     "ValueError", "inv_norm"),
    ("k-center mind of the wrong size", """
        _C.cpu_kcenter_pass(x, torch.zeros(4), None, torch.zeros(49), "euclidean", True, 2)""",
     "ValueError", "mind"),
    ("cluster sums with an out-of-range cluster index", """
        idx = torch.zeros(50, dtype=i64); idx[7] = 3
        _C.cpu_cluster_sums(x, idx, torch.zeros(3, 4, dtype=f64), torch.zeros(3, dtype=i64), 2)""",
     "ValueError", "nearest: entry 7 is 3"),
    ("cluster sums with a negative cluster index", """
        idx = torch.zeros(50, dtype=i64); idx[0] = -1
        _C.cpu_cluster_sums(x, idx, torch.zeros(3, 4, dtype=f64), torch.zeros(3, dtype=i64), 2)""",
     "ValueError", "nearest"),
    ("efda with mismatched modality shapes", """
        _C.cpu_efda_scores([torch.randn(10, 3), torch.randn(9, 3)], [0.5, 0.5], [1.0, 1.0], "variance",
                           torch.empty(10), torch.empty(2, 10), 2)""",
     "ValueError", "zs[1]"),
    ("efda with an output too small", """
        _C.cpu_efda_scores([torch.randn(10, 3)], [1.0], [1.0], "variance", torch.empty(9), torch.empty(1, 10), 2)""",
     "ValueError", "u_fused"),
    ("efda with mixed dtypes", """
        _C.cpu_efda_scores([torch.randn(10, 3), torch.randn(10, 3, dtype=f64)], [0.5, 0.5], [1.0, 1.0], "variance",
                           torch.empty(10), torch.empty(2, 10), 2)""",
     "TypeError", "zs[1]"),
    ("scoring on strided rows", """
        _C.cpu_dirichlet_uncertainty(torch.rand(10, 6)[:, ::2], "variance", torch.empty(10), 2)""",
     "ValueError", "contiguous rows"),
    ("top-b of integer scores", """
        _C.cpu_topb_select(torch.arange(10), 3, True, torch.empty(3, dtype=i64), 2)""",
     "TypeError", "scores"),
    ("top-b with b beyond the scores", """
        _C.cpu_topb_select(torch.randn(1000), 10**9, True, torch.empty(1, dtype=i64), 2)""",
     "ValueError", "b"),
    ("top-b public op with b = 10^9", """
        rlmba.topb_select(torch.randn(1000), 10**9, backend="cpp")""",
     "ValueError", "fewer than b"),
    ("badge with float16 probabilities", """
        _C.cpu_kmeanspp_gradient(torch.rand(20, 3).half(), [torch.randn(20, 4).half()], torch.ones(1, 1, dtype=f64),
                                 torch.rand(4, dtype=f64), torch.empty(5, dtype=i64), 2)""",
     "TypeError", "probs"),
    ("badge with too few uniforms", """
        _C.cpu_kmeanspp_gradient(torch.rand(20, 3), [torch.randn(20, 4)], torch.ones(1, 1, dtype=f64),
                                 torch.rand(2, dtype=f64), torch.empty(5, dtype=i64), 2)""",
     "ValueError", "u"),
    ("badge with features of another pool", """
        _C.cpu_kmeanspp_gradient(torch.rand(20, 3), [torch.randn(19, 4)], torch.ones(1, 1, dtype=f64),
                                 torch.rand(4, dtype=f64), torch.empty(5, dtype=i64), 2)""",
     "ValueError", "hs[0]"),
    ("k-means++ with more seeds than rows", """
        _C.cpu_kmeans_plusplus(x, torch.rand(51, dtype=f64), torch.empty(51, dtype=i64), torch.empty(50),
                               torch.empty(50, dtype=i64), -1, 2)""",
     "ValueError", "k"),
    ("nearest centroid with a wrong tile", """
        c = torch.randn(3, 4)
        _C.cpu_nearest_centroid(torch.randn(50, 2), x, c, (c * c).sum(1), torch.empty(50), torch.empty(50, dtype=i64), 2)""",
     "ValueError", "centroids"),
    ("a non-tensor argument", """
        _C.cpu_bald([[0.5, 0.5]], torch.empty(1), 2)""",
     "TypeError", "probs"),
]


@pytest.fixture(scope="module")
def outcomes() -> tuple[dict, str]:
    """Every case in one child process, in order, each printing its outcome as it finishes: a crash
    ends the child but only fails the cases it had not reported."""
    script = PRELUDE
    for what, code, _, _ in CASES:
        script += "try:\n" + textwrap.indent(textwrap.dedent(code).strip(), "    ") + f"""
except Exception as exc:
    print({what!r}, "|", type(exc).__name__, "|", str(exc).replace("\\n", " "), flush=True)
else:
    print({what!r}, "| no error |", flush=True)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    seen = {}
    for line in run.stdout.splitlines():
        what, name, message = (part.strip() for part in line.split("|", 2))
        seen[what] = (name, message)
    return seen, f"the process ended with {run.returncode}: {run.stderr[-2000:]}"


@pytest.mark.parametrize("what, code, error, part", CASES, ids=[c[0] for c in CASES])
def test_bad_native_call_raises_instead_of_crashing(outcomes, what, code, error, part):
    seen, death = outcomes
    assert what in seen, f"{what}: never reported; {death}"
    name, message = seen[what]
    assert name == error and part in message, f"{what}: got {name}: {message}"
