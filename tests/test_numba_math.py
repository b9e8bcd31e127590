"""The numba backend's own pieces: the vectorisable exp/log/log1p/softplus of
``rlmba.backends.numba.fastmath`` (accuracy in ulps against a wider float, special values,
vectorisation), and kernel edge cases the backend matrix of test_scoring.py does not reach
(block and part boundaries, strided MC samples, non-finite inputs, thread-count independence)."""
import re

import numpy as np
import pytest
import torch

import rlmba
from conftest import backend_or_skip
from rlmba.testing import make_logits, make_probs

numba = pytest.importorskip("numba", reason="the numba backend needs numba")
fm = pytest.importorskip("rlmba.backends.numba.fastmath")

WIDE = {np.float32: np.float64, np.float64: np.longdouble}
# Max error in ulps of the correctly rounded result; measured 1.04 / 0.95 / 1.44 / 1.66 (float32)
# and 1.06 / 1.15 / 1.48 / 1.67 (float64) on 6 * 10^6 points.
MAX_ULPS = {"exp": 1.5, "log": 1.5, "log1p": 2.0, "softplus": 2.5}
DTYPES = [np.float32, np.float64]


def _rng(gen):
    return np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))


def _need_wide(dtype):
    if dtype == np.float64 and np.finfo(np.longdouble).nmant < 60:
        pytest.skip("no extended-precision long double here to check float64 against")


def _ulps(got, ref, dtype):
    """|got - ref| in units of the spacing at ref rounded to dtype (finite refs only)."""
    with np.errstate(over="ignore"):
        rounded = ref.astype(dtype)
    keep = np.isfinite(rounded)
    spacing = np.spacing(np.abs(rounded[keep])).astype(ref.dtype)
    return np.abs(got[keep].astype(ref.dtype) - ref[keep]) / spacing


def _inputs(name, dtype, rng):
    n = 400_000
    if name == "exp":
        hi, lo = (89.0, -104.0) if dtype == np.float32 else (710.0, -746.0)
        x = np.concatenate([rng.uniform(lo, hi, n), rng.uniform(-1, 1, n), rng.uniform(-1e-6, 1e-6, 1000)])
    elif name == "log":
        emax = 88.0 if dtype == np.float32 else 709.0
        x = np.concatenate([np.exp(rng.uniform(-emax, emax, n)), rng.uniform(0.5, 2.0, n)])
        x = np.concatenate([x, np.finfo(dtype).smallest_subnormal * rng.integers(1, 2**20, 1000)])
    elif name == "log1p":
        x = np.concatenate([rng.uniform(-1, 1, n), np.exp(rng.uniform(-80, 80, n)),
                            -np.exp(rng.uniform(-80, 0, n)), rng.uniform(-1e-7, 1e-7, 1000)])
    else:  # softplus
        x = np.concatenate([rng.uniform(-120, 120, n), rng.uniform(-3, 3, n)])
    return x.astype(dtype)


def _wide(name, x):
    if name == "softplus":
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return getattr(np, name)(x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["exp", "log", "log1p", "softplus"])
def test_accuracy_in_ulps_against_a_wider_float(name, dtype, gen):
    _need_wide(dtype)
    x = _inputs(name, dtype, _rng(gen))
    got = getattr(fm, f"{name}_array")(x)
    with np.errstate(over="ignore", under="ignore"):
        ref = _wide(name, x.astype(WIDE[dtype]))
    assert got.dtype == dtype
    ulps = _ulps(got, ref, dtype)
    assert ulps.size > 0.9 * x.size
    assert ulps.max() <= MAX_ULPS[name], f"{name}[{dtype.__name__}]: {ulps.max():.2f} ulps"
    rel = np.abs(got.astype(ref.dtype) - ref) / np.maximum(np.abs(ref), np.finfo(dtype).tiny)
    rel = rel[(np.abs(ref) <= np.finfo(dtype).max) & (np.abs(ref) >= np.finfo(dtype).tiny)]
    assert rel.max() <= MAX_ULPS[name] * np.finfo(dtype).eps


INF, NAN = np.inf, np.nan
SPECIAL = {  # input -> exact expected output (NaN compares as NaN)
    "exp": [(-INF, 0.0), (INF, INF), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (1e4, INF), (-1e4, 0.0)],
    "log": [(0.0, -INF), (-0.0, -INF), (-1.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN), (1.0, 0.0)],
    "log1p": [(-1.0, -INF), (-2.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN), (0.0, 0.0), (1e-30, 1e-30)],
    "softplus": [(-INF, 0.0), (INF, INF), (NAN, NAN), (1e4, 1e4), (-1e4, 0.0)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_values(name, dtype):
    x, expected = (np.array(v, dtype=dtype) for v in zip(*SPECIAL[name]))
    got = getattr(fm, f"{name}_array")(x)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_of_zero_is_one_and_softplus_of_zero_is_ln2(dtype):
    assert fm.exp_array(np.zeros(3, dtype))[0] == 1  # softmax's maximum class is exactly 1
    assert abs(float(fm.softplus_array(np.zeros(1, dtype))[0]) - np.log(2)) <= np.finfo(dtype).eps


@pytest.mark.parametrize("dtype,ir_type", [(np.float32, "float"), (np.float64, "double")])
@pytest.mark.parametrize("name", ["exp", "log", "log1p", "softplus"])
def test_loops_over_the_functions_vectorise(name, dtype, ir_type):
    """The point of the module: a loop calling them compiles to SIMD (LLVM vector types). A
    raising branch (e.g. Python's ZeroDivisionError) or a libm call would keep it scalar."""
    fn = numba.njit(error_model="numpy")(getattr(fm, f"{name}_array").py_func)  # uncached: inspectable
    fn(np.ones(4, dtype))
    llvm = "\n".join(fn.inspect_llvm().values())
    assert re.search(rf"<\d+ x {ir_type}>", llvm), f"{name}[{dtype.__name__}] did not vectorise"


# ---------------------------------------------------------------- kernel edge cases
def _numba(op, dtype=torch.float32, **facts):
    return backend_or_skip(op, "numba", dtype=dtype, **facts)


@pytest.mark.parametrize("C", [1, 3, 16, 101, 700])
def test_efda_across_block_and_part_boundaries(C, gen):
    """Row counts around the kernel's block size R (16..1024 rows) and its 4-per-thread parts."""
    backend = _numba("efda_scores", kind="variance")
    for n in (1, 15, 17, 1023, 1025, 4099) if C <= 101 else (1, 15, 17, 1025):
        z = make_logits(2, n, C, dtype=torch.float64, generator=gen)
        for kind in ("variance", "vacuity", "entropy"):
            got = rlmba.efda_scores(z, weights=[0.25, 0.75], kind=kind, backend=backend)
            ref = rlmba.efda_scores(z, weights=[0.25, 0.75], kind=kind, backend="torch")
            for g, r in zip(got, ref):
                torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-15)


def test_results_do_not_depend_on_the_thread_count(gen):
    backend = _numba("efda_scores", kind="variance")
    z = make_logits(3, 5000, 10, generator=gen)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = rlmba.efda_scores(z, backend=backend)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = rlmba.efda_scores(z, backend=backend)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("rule", ["weighted", "ds"])
@pytest.mark.parametrize("M", [1, 2, 3])
def test_fuse_evidence_non_finite_logits_match_the_reference(rule, M, gen):
    """weighted: inf/NaN stay in their element; ds: the reference's S = inf/NaN spreads to the row."""
    backend = _numba("fuse_evidence", rule=rule)
    z = make_logits(M, 40, 6, dtype=torch.float64, generator=gen, style="masked")
    z[M - 1, 3, 2], z[0, 7, 1], z[M - 1, 9, :] = float("inf"), float("nan"), float("-inf")
    w = None if rule == "ds" else [1 / M] * M
    got = rlmba.fuse_evidence(z, weights=w, rule=rule, backend=backend)
    ref = rlmba.fuse_evidence(z, weights=w, rule=rule, backend="torch")
    torch.testing.assert_close(got, ref, equal_nan=True, rtol=1e-12, atol=0)
    assert torch.equal(got.isnan(), ref.isnan())


@pytest.mark.parametrize("from_logits", [False, True])
def test_uncertainty_scores_non_finite_rows_match_the_reference(from_logits, gen):
    backend = _numba("uncertainty_scores")
    x = make_logits(1, 12, 5, dtype=torch.float64, generator=gen)[0] if from_logits else \
        make_probs(12, 5, dtype=torch.float64, generator=gen)
    x[0, 1], x[1, 2], x[2, :] = float("nan"), float("inf"), float("-inf")
    x[3, 0], x[3, 1] = float("inf"), float("inf")
    x[4, :4] = float("-inf")  # one class left: margin 1 from logits
    x[5, 0], x[6, 2] = 0.0, -0.0
    got = rlmba.uncertainty_scores(x, from_logits=from_logits, backend=backend)
    ref = rlmba.uncertainty_scores(x, from_logits=from_logits, backend="torch")
    torch.testing.assert_close(got, ref, equal_nan=True, rtol=1e-12, atol=1e-15)


def test_bald_reads_strided_and_expanded_samples(gen):
    """Chunks of [S, N, C] keep the pool's stride(0); an expanded tensor has stride(0) = 0."""
    backend = _numba("bald", dtype=torch.float64)
    p = make_probs(1000, 7, dtype=torch.float64, generator=gen, samples=6)
    ref = rlmba.bald(p, backend="torch")
    torch.testing.assert_close(rlmba.bald(p, chunk_size=97, backend=backend), ref, rtol=1e-10, atol=1e-14)
    same = p[:1].expand(4, -1, -1)
    torch.testing.assert_close(rlmba.bald(same, backend=backend), torch.zeros(1000, dtype=torch.float64),
                               rtol=0, atol=1e-14)


def test_dirichlet_variance_is_accurate_for_a_dominant_class(gen):
    """S - alpha_c is the sum of the other classes: float32 alpha with one class 10^6 times the
    others still gives the float64 answer to float32 precision (row sums run in float64)."""
    backend = _numba("dirichlet_uncertainty", kind="variance")
    alpha = 1 + torch.rand(2000, 10, generator=gen, dtype=torch.float64)
    alpha[:, 3] = 1e6 * (1 + torch.rand(2000, generator=gen, dtype=torch.float64))
    a32 = alpha.float()
    got = rlmba.dirichlet_uncertainty(a32, backend=backend)
    ref = rlmba.dirichlet_uncertainty(a32.double(), backend="torch")
    torch.testing.assert_close(got.double(), ref, rtol=4e-7, atol=0)
