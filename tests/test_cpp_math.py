"""The C++ backend's own checks: accuracy of the vectorised float32 math of csrc/include/rlmba/math.h
on every SIMD path, and agreement of the kernel paths (baseline, AVX2, AVX-512, and "rows", the
one-row-at-a-time helpers the CUDA kernels run) with the float64 reference on fresh random data."""
import numpy as np
import pytest
import torch

import rlmba
from rlmba.testing import make_logits, make_probs
from tolerances import assert_matches_reference

_C = pytest.importorskip("rlmba._C", reason="the compiled module is not built")
pytestmark = pytest.mark.skipif("cpu_scoring" not in _C.build_info["families"], reason="no cpu_scoring kernels")

SIMD = ("baseline", "avx2", "avx512")
BEST = _C.cpu_isa("auto")
VECTOR_PATHS = SIMD[: SIMD.index(BEST) + 1]  # every SIMD path this CPU can run, baseline first
PATHS = (*VECTOR_PATHS, "rows")
ULP_BOUND = 3.0  # measured at most ~1.9 ulp (softplus); see test_math_accuracy's message
FLT_MIN = float(np.finfo(np.float32).tiny)
INF, NAN = float("inf"), float("nan")


def probe(fn: str, x: torch.Tensor, isa: str) -> torch.Tensor:
    x = x.float().contiguous()
    y = torch.empty_like(x)
    _C.cpu_math_probe(fn, x, y, isa)
    return y


def softplus64(x):
    return x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))


REFERENCE = {"exp": torch.exp, "log": torch.log, "log1p": torch.log1p, "softplus": softplus64}
DENSE = {  # dense ranges that cover every branch of the range reductions, and their extremes
    "exp": lambda: torch.linspace(-110, 90, 1_000_003),
    "log": lambda: torch.cat([torch.logspace(-45, 38.5, 1_000_003), torch.linspace(0.5, 2, 100_003)]),
    "log1p": lambda: torch.cat([-torch.logspace(-45, 0, 300_007), torch.logspace(-45, 38, 700_001),
                                torch.linspace(-0.99, 2, 100_003)]),
    "softplus": lambda: torch.linspace(-120, 120, 1_000_003),
}
SPECIAL = {  # input -> exact float32 result
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (NAN, NAN), (1e-40, 1.0), (89.0, INF), (-110.0, 0.0)],
    "log": [(1.0, 0.0), (0.0, -INF), (-1.0, NAN), (INF, INF), (NAN, NAN), (-INF, NAN)],
    "log1p": [(0.0, 0.0), (-1.0, -INF), (-2.0, NAN), (INF, INF), (NAN, NAN), (1e-40, 1e-40), (-1e-40, -1e-40)],
    "softplus": [(INF, INF), (-INF, 0.0), (NAN, NAN), (1e4, 1e4), (-200.0, 0.0)],
}


@pytest.mark.parametrize("isa", VECTOR_PATHS)
@pytest.mark.parametrize("fn", sorted(REFERENCE))
def test_math_accuracy(fn, isa):
    x = DENSE[fn]().float()
    y, ref = probe(fn, x, isa).double(), REFERENCE[fn](x.double())
    normal = torch.isfinite(ref.float()) & (ref.abs() >= FLT_MIN)
    ulp = torch.from_numpy(np.spacing(np.abs(ref.float().numpy()))).double()
    err_ulp = ((y - ref).abs() / ulp)[normal]
    worst = err_ulp.argmax()
    rel = ((y - ref).abs() / ref.abs())[normal].max().item()
    print(f"{fn}[{isa}]: max error {err_ulp.max().item():.3f} ulp (relative {rel:.2e}) at x = {x[normal][worst].item():.9g}")
    assert err_ulp.max().item() <= ULP_BOUND, f"{fn}[{isa}]: {err_ulp.max().item():.2f} ulp at x = {x[normal][worst]}"
    # results out of the normal range: overflow exactly, subnormals within one subnormal step
    # (softplus flushes results below FLT_MIN, i.e. x < -87.3, to zero: documented in math.h)
    tiny = ~normal & torch.isfinite(ref)
    slack = FLT_MIN if fn == "softplus" else 1.5e-45
    torch.testing.assert_close(y[tiny], ref.float().double()[tiny], rtol=0, atol=slack)
    assert torch.equal(y[torch.isinf(ref.float())], ref.float().double()[torch.isinf(ref.float())])


@pytest.mark.parametrize("isa", VECTOR_PATHS)
@pytest.mark.parametrize("fn", sorted(REFERENCE))
def test_math_special_values(fn, isa):
    x, expected = (torch.tensor(v, dtype=torch.float32) for v in zip(*SPECIAL[fn]))
    x = x.repeat(7)  # long enough for the vector loop, not only its scalar tail
    torch.testing.assert_close(probe(fn, x, isa), expected.repeat(7), rtol=0, atol=0, equal_nan=True)


def test_paths_cover_baseline_and_best():
    assert VECTOR_PATHS[0] == "baseline" and VECTOR_PATHS[-1] == BEST
    assert _C.cpu_isa("baseline") == "baseline" and _C.cpu_isa("rows") == "rows"


def test_isa_selection_errors_name_their_source(monkeypatch):
    with pytest.raises(ValueError, match="isa"):
        _C.cpu_isa("sse9")
    monkeypatch.setenv("RLMBA_CPU_ISA", "bogus")
    with pytest.raises(ValueError, match="RLMBA_CPU_ISA"):
        rlmba.efda_scores(torch.zeros(2, 3, 4), backend="cpp")
    monkeypatch.setenv("RLMBA_CPU_ISA", "baseline")
    assert _C.cpu_isa() == "baseline"


# ---------------------------------------------------------------- every path vs the reference
def check_path(monkeypatch, isa, op, inputs, **kw):
    """``op`` on the cpp backend forced onto ``isa``, against the reference in float64 and float32."""
    monkeypatch.setenv("RLMBA_CPU_ISA", isa)
    fn = getattr(rlmba, op)
    out = fn(*inputs, backend="cpp", **kw)
    ref_same = fn(*inputs, backend="torch", **kw)
    ref64 = fn(*[x.double() for x in inputs], backend="torch", **kw)
    outs, r64, rs = (o if isinstance(o, tuple) else (o,) for o in (out, ref64, ref_same))
    for o, a, b in zip(outs, r64, rs):
        assert_matches_reference(o, a, b, what=f"{op}[cpp/{isa}]")
    return out


@pytest.mark.parametrize("isa", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_paths_match_reference(monkeypatch, isa, dtype, gen):
    for n, C in [(1, 3), (31, 10), (33, 7), (20, 23), (1000, 10), (200, 101)]:
        for style in ("normal", "extreme", "masked"):
            z = make_logits(2, n, C, dtype=dtype, generator=gen, style=style)
            for kind in ("variance", "vacuity", "entropy"):
                check_path(monkeypatch, isa, "efda_scores", [z], weights=[0.3, 0.7], temperatures=[0.7, 1.9], kind=kind)
            for rule, w in (("weighted", [0.4, 0.6]), ("ds", None)):
                check_path(monkeypatch, isa, "fuse_evidence", [z], weights=w, temperatures=[0.5, 2.0], rule=rule)
            check_path(monkeypatch, isa, "uncertainty_scores", [z[0]], from_logits=True)
        alpha = 1 + torch.exp(torch.randn(n, C, generator=gen, dtype=torch.float64) * 3).to(dtype)
        for kind in ("variance", "vacuity", "entropy"):
            check_path(monkeypatch, isa, "dirichlet_uncertainty", [alpha], kind=kind)
        check_path(monkeypatch, isa, "uncertainty_scores", [make_probs(n, C, dtype=dtype, generator=gen)])
        check_path(monkeypatch, isa, "bald", [make_probs(n, C, dtype=dtype, generator=gen, samples=6)])


@pytest.mark.parametrize("isa", PATHS)
def test_tiny_temperatures_and_dominant_classes(monkeypatch, isa, gen):
    """|z| = 80 at T = 0.05: alpha up to 1600 against 1s, where S^2 - sum alpha^2 would cancel."""
    z = make_logits(3, 2000, 10, generator=gen, style="extreme")
    for kind in ("variance", "entropy"):
        check_path(monkeypatch, isa, "efda_scores", [z], weights=[0.2, 0.3, 0.5], temperatures=[0.05, 1, 20], kind=kind)


def test_best_path_agrees_with_baseline(monkeypatch, gen):
    """The SIMD clones differ only by rounding (FMA contraction): same scores to a few ulp."""
    z = make_logits(2, 4099, 10, generator=gen)
    p = make_probs(4099, 10, generator=gen, samples=4)
    runs = {}
    for isa in (VECTOR_PATHS[0], VECTOR_PATHS[-1], "rows"):
        monkeypatch.setenv("RLMBA_CPU_ISA", isa)
        runs[isa] = [*rlmba.efda_scores(z, backend="cpp"), rlmba.fuse_evidence(z, rule="ds", backend="cpp"),
                     rlmba.uncertainty_scores(z[0], from_logits=True, backend="cpp"), rlmba.bald(p, backend="cpp")]
    for isa, outs in runs.items():
        for a, b in zip(outs, runs["baseline"]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=lambda m, isa=isa: f"{isa} vs baseline: {m}")


# ---------------------------------------------------------------- layout and edge cases
@pytest.mark.parametrize("isa", PATHS)
def test_rows_do_not_depend_on_their_group(monkeypatch, isa, gen):
    """Rows run 32 (C < 16) or 16 to a SIMD group, the last group shifted back and tiny inputs
    padded: any chunking gives the same bits."""
    monkeypatch.setenv("RLMBA_CPU_ISA", isa)
    for C in (10, 23):
        z = make_logits(2, 101, C, generator=gen)
        p = make_probs(101, C, generator=gen, samples=3)
        alpha = 1 + torch.rand(101, C, generator=gen) * 50
        def run(chunk, z=z, p=p, alpha=alpha):
            return [*rlmba.efda_scores(z, backend="cpp", chunk_size=chunk),
                    rlmba.uncertainty_scores(z[0], from_logits=True, backend="cpp", chunk_size=chunk),
                    rlmba.bald(p, backend="cpp", chunk_size=chunk),
                    rlmba.dirichlet_uncertainty(alpha, backend="cpp", chunk_size=chunk)]
        whole = run(None)
        for chunk in (1, 7, 16, 33, 64):
            for a, b in zip(run(chunk), whole):
                torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bald_reads_chunk_views_with_a_sample_stride(gen):
    p = make_probs(500, 7, generator=gen, samples=5)
    view = p[:, 100:300]
    assert view.stride(0) > view.shape[1] * view.shape[2]
    torch.testing.assert_close(rlmba.bald(view, backend="cpp"), rlmba.bald(view.contiguous(), backend="cpp"),
                               rtol=0, atol=0)


@pytest.mark.parametrize("isa", PATHS)
def test_nan_and_infinite_logits(monkeypatch, isa, gen):
    monkeypatch.setenv("RLMBA_CPU_ISA", isa)
    z = make_logits(2, 40, 6, generator=gen)
    z[0, 3, 2], z[1, 7, 0], z[0, 9, 5] = NAN, INF, -INF
    ds = rlmba.fuse_evidence(z, rule="ds", backend="cpp")
    ref = rlmba.fuse_evidence(z, rule="ds", backend="torch")
    torch.testing.assert_close(ds, ref, equal_nan=True)  # rows 3 and 7 NaN, the -inf class has no evidence
    assert torch.isnan(ds[[3, 7]]).all() and torch.isfinite(ds[9]).all()
    s = rlmba.uncertainty_scores(z[0], from_logits=True, backend="cpp")
    assert torch.isnan(s[:, 3]).all() and torch.isfinite(s[:, 9]).all()
    assert torch.isnan(rlmba.uncertainty_scores(z[1], from_logits=True, backend="cpp")[:, 7]).all()
    p = make_probs(40, 6, generator=gen)
    p[5, 1] = NAN
    assert torch.isnan(rlmba.uncertainty_scores(p, backend="cpp")[:, 5]).all()


@pytest.mark.parametrize("isa", PATHS)
def test_tied_and_masked_logits(monkeypatch, isa):
    monkeypatch.setenv("RLMBA_CPU_ISA", isa)
    x = torch.tensor([[2.0, 2.0, 0.0, -INF], [5.0, -INF, -INF, -INF], [1.0, 3.0, 3.0, 3.0]])
    s = rlmba.uncertainty_scores(x, from_logits=True, backend="cpp")
    torch.testing.assert_close(s[1], torch.tensor([0.0, 1.0, 0.0]), rtol=0, atol=0)  # ties: margin exactly 0
    torch.testing.assert_close(s[:, 1], torch.tensor([0.0, 1.0, 0.0]), rtol=0, atol=0)  # one live class
    torch.testing.assert_close(s, rlmba.uncertainty_scores(x.double(), from_logits=True, backend="torch").float())


def test_half_inputs_compute_in_float32(gen):
    z = make_logits(2, 300, 10, dtype=torch.bfloat16, generator=gen)
    u, u_m = rlmba.efda_scores(z, backend="cpp")
    assert u.dtype == u_m.dtype == torch.float32
    torch.testing.assert_close(u, rlmba.efda_scores(z.float(), backend="cpp")[0], rtol=0, atol=0)
