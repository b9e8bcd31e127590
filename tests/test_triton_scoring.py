"""Triton-specific cases of the scoring kernels, run on CPU tensors under ``TRITON_INTERPRET=1``.

The general backend-vs-reference matrix lives in ``test_scoring.py``; this file pins what only
the Triton launch can get wrong: partial row blocks, class dims padded to a power of two,
1..3 modality pointers, offset views from chunking, float64 exactness of the weights, and
special values handled without a single floating-point exception (warnings are errors).
"""
from __future__ import annotations

import pytest
import torch

import rlmba
from rlmba._dispatch import backend_reasons
from rlmba.reference import scoring as ref
from tolerances import assert_matches_reference

_reasons = backend_reasons("triton", "cpu")
pytestmark = pytest.mark.skipif(bool(_reasons), reason="; ".join(_reasons))

if not _reasons:
    from rlmba.kernels import scoring as kernels

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
KINDS = ("variance", "vacuity", "entropy")
INF, NAN = float("inf"), float("nan")


@pytest.fixture(params=["one_block", "many_blocks"])
def tile(request, monkeypatch):
    """The launcher's own blocks (one program at these sizes), or at most 32 rows per program:
    several programs, the last one partial (n = 67, 100, 130 are not multiples of 32)."""
    if request.param == "many_blocks":
        launch_config = kernels._launch_config

        def small_blocks(*args):
            config = launch_config(*args)
            return {**config, "BLOCK_N": min(config["BLOCK_N"], 32)}

        monkeypatch.setattr(kernels, "_launch_config", small_blocks)
    return request.param


def _logits(M, n, C, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(3 * torch.randn(n, C, generator=g, dtype=torch.float64)).to(dtype) for _ in range(M)]


def _weights(M):
    w = torch.arange(1, M + 1, dtype=torch.float64)
    return tuple((w / w.sum()).tolist())


def _check(out, fn, *inputs, **kw):
    """The suite's tolerance rule (tests/tolerances.py) against ``fn``, the reference op.

    ``inputs``: tensors (or lists of tensors) in the test dtype; the float64 reference sees the same
    values upcast, the same-dtype reference sees them as they are.
    """
    up = [[z.double() for z in x] if isinstance(x, list) else x.double() for x in inputs]
    want, same = fn(*up, **kw), fn(*inputs, **kw)
    outs, wants, sames = (out, want, same) if isinstance(out, tuple) else ((out,), (want,), (same,))
    for o, w, s in zip(outs, wants, sames):
        assert o.dtype == s.dtype and o.shape == w.shape
        assert_matches_reference(o, w, s, what=f"triton {getattr(fn, '__name__', 'op')}")


# ---------------------------------------------------------------- shapes: block edges, padding, M
@pytest.mark.parametrize("rule", ["weighted", "ds"])
@pytest.mark.parametrize("M", [1, 2, 3])
@pytest.mark.parametrize("n,C", [(1, 1), (67, 2), (100, 101), (130, 16)])
def test_fuse_evidence_shapes(tile, rule, M, n, C):
    zs = _logits(M, n, C, torch.float32, seed=M * C)
    w = _weights(M) if rule == "weighted" else None
    t = tuple(0.5 + 0.4 * m for m in range(M))
    out = rlmba.fuse_evidence(zs, w, t, rule, backend="triton")
    _check(out, lambda z: ref.fuse_evidence(z, w, t, rule), zs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("M", [1, 2, 3])
@pytest.mark.parametrize("n,C", [(1, 1), (67, 2), (100, 101)])
def test_efda_scores_shapes(tile, kind, M, n, C):
    zs = _logits(M, n, C, torch.float32, seed=7 + M)
    w, t = _weights(M), tuple(1.5 - 0.3 * m for m in range(M))
    out = rlmba.efda_scores(zs, w, t, kind, backend="triton")
    _check(out, lambda z: ref.efda_scores(z, w, t, kind), zs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n,C", [(1, 1), (67, 2), (100, 101), (5, 33)])
def test_dirichlet_uncertainty_shapes(tile, kind, n, C):
    alpha = 1 + torch.rand(n, C, generator=torch.Generator().manual_seed(C)) * 20
    _check(rlmba.dirichlet_uncertainty(alpha, kind, backend="triton"), ref.dirichlet_uncertainty, alpha, kind=kind)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("n,C", [(1, 2), (67, 3), (100, 101)])
def test_uncertainty_scores_shapes(tile, from_logits, n, C):
    x = 2 * torch.randn(n, C, generator=torch.Generator().manual_seed(n))
    x = x if from_logits else torch.softmax(x, -1)
    out = rlmba.uncertainty_scores(x, from_logits=from_logits, backend="triton")
    _check(out, ref.uncertainty_scores, x, from_logits=from_logits)


@pytest.mark.parametrize("S", [1, 4])
@pytest.mark.parametrize("n,C", [(1, 1), (67, 2), (100, 101)])
def test_bald_shapes(tile, S, n, C):
    probs = torch.softmax(torch.randn(S, n, C, generator=torch.Generator().manual_seed(S + C)), -1)
    _check(rlmba.bald(probs, backend="triton"), ref.bald, probs)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_efda_and_fusion(dtype):
    zs = _logits(2, 200, 10, dtype, seed=3)
    w, t = (1 / 3, 2 / 3), (0.9, 1.7)
    _check(rlmba.efda_scores(zs, w, t, backend="triton"), lambda z: ref.efda_scores(z, w, t), zs)
    for rule, wr in (("weighted", w), ("ds", None)):
        _check(rlmba.fuse_evidence(zs, wr, t, rule, backend="triton"), lambda z, wr=wr, rule=rule: ref.fuse_evidence(z, wr, t, rule), zs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_probability_ops(dtype):
    g = torch.Generator().manual_seed(11)
    p = torch.softmax(torch.randn(3, 150, 12, generator=g, dtype=torch.float64), -1).to(dtype)
    _check(rlmba.bald(p, backend="triton"), ref.bald, p)
    _check(rlmba.uncertainty_scores(p[0], backend="triton"), ref.uncertainty_scores, p[0])
    alpha = (1 + 10 * p[1]).to(dtype)
    for kind in KINDS:
        _check(rlmba.dirichlet_uncertainty(alpha, kind, backend="triton"), ref.dirichlet_uncertainty, alpha, kind=kind)


def test_float64_is_float64_exact():
    """Weights 1/3, 2/3 and temperature 0.7 reach the kernel as float64: a float32 copy of them
    would leave ~1e-8 relative error, far above the 1e-13 checked here."""
    zs = _logits(2, 100, 5, torch.float64, seed=5)
    w, t = (1 / 3, 2 / 3), (0.7, 1.3)
    got = rlmba.fuse_evidence(zs, w, t, backend="triton")
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref.fuse_evidence(zs, w, t), rtol=1e-13, atol=0)


# ---------------------------------------------------------------- layouts handed to the kernels
def test_modalities_from_one_tensor_and_chunks():
    """[M, N, C] input (unbound views), chunked calls (offset views): same result as separate tensors."""
    zs = _logits(3, 250, 9, torch.float32, seed=9)
    w, t = _weights(3), (1.0, 0.8, 1.2)
    whole = rlmba.efda_scores(zs, w, t, backend="triton")
    stacked = rlmba.efda_scores(torch.stack(zs), w, t, chunk_size=97, backend="triton")
    for a, b in zip(whole, stacked):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    _check(whole, lambda z: ref.efda_scores(z, w, t), zs)


def test_bald_sample_stride():
    """probs [S, n, C] with stride(0) != n*C (every other sample of a bigger buffer)."""
    big = torch.softmax(torch.randn(6, 40, 7, generator=torch.Generator().manual_seed(2)), -1)
    probs = big[::2]
    assert probs.stride(0) == 2 * 40 * 7
    _check(rlmba.bald(probs, chunk_size=16, backend="triton"), ref.bald, probs)


# ---------------------------------------------------------------- special values
def _special_logits():
    z1 = torch.randn(6, 5, generator=torch.Generator().manual_seed(4))
    z2 = torch.randn(6, 5, generator=torch.Generator().manual_seed(8))
    z1[0, 1] = NAN
    z1[1, 2] = INF
    z1[2, 0] = -INF                # masked class: zero evidence
    z2[2, 3] = -INF
    z1[3, :] = -INF                # modality 1 has no evidence at all in row 3
    z2[4, 4] = INF
    z1[5, 0], z2[5, 0] = INF, -INF
    return [z1, z2]


@pytest.mark.parametrize("w", [(0.5, 0.5), (1.0, 0.0)])  # (1, 0): 0 * inf must be NaN as in torch
def test_special_logits_match_reference(w):
    zs, t = _special_logits(), (1.0, 2.0)
    for rule, wr in (("weighted", w), ("ds", None)):
        torch.testing.assert_close(rlmba.fuse_evidence(zs, wr, t, rule, backend="triton"),
                                   ref.fuse_evidence(zs, wr, t, rule), equal_nan=True)
    for kind in KINDS:
        got, want = rlmba.efda_scores(zs, w, t, kind, backend="triton"), ref.efda_scores(zs, w, t, kind)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, equal_nan=True)
    u = rlmba.efda_scores(zs, w, t, backend="triton")[0]
    assert torch.isnan(u[0]) and torch.isnan(u[1]) and torch.isfinite(u[2:4]).all()


def test_special_alpha_match_reference():
    alpha = 1 + torch.rand(6, 4, generator=torch.Generator().manual_seed(1))
    alpha[0, 0], alpha[1, 1], alpha[2, 2] = NAN, INF, -INF
    alpha[3] = 0.0                           # invalid (alpha > 0), but must not trap either
    alpha[4, 0], alpha[4, 1] = INF, -INF
    for kind in KINDS:
        torch.testing.assert_close(rlmba.dirichlet_uncertainty(alpha, kind, backend="triton"),
                                   ref.dirichlet_uncertainty(alpha, kind), equal_nan=True)


def test_special_probs_and_logits_match_reference():
    x = torch.softmax(torch.randn(9, 4, generator=torch.Generator().manual_seed(6)), -1)
    x[0, 0] = NAN
    x[1, 1] = INF
    x[2, 1], x[2, 3] = INF, INF              # inf - inf margin
    x[3, 2] = -INF
    x[4, 0] = -0.25                          # negative probability: NaN entropy
    x[5] = -INF
    x[6] = torch.tensor([0.4, 0.4, 0.1, 0.1])  # tied maximum: margin exactly 0
    x[7] = torch.tensor([-INF, 0.0, -INF, -INF])
    for from_logits in (False, True):
        torch.testing.assert_close(rlmba.uncertainty_scores(x, from_logits=from_logits, backend="triton"),
                                   ref.uncertainty_scores(x, from_logits=from_logits), equal_nan=True)
    assert rlmba.margin(x[6:7], backend="triton").item() == 0.0
    probs = torch.softmax(torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(3)), -1)
    probs[0, 0, 0], probs[1, 1, 1], probs[2, 2, 2] = NAN, INF, -0.5
    torch.testing.assert_close(rlmba.bald(probs, backend="triton"), ref.bald(probs), equal_nan=True)


# ---------------------------------------------------------------- limits and reasons
def test_too_many_classes_is_refused():
    with pytest.raises(ValueError, match="alpha: C = "):
        kernels.dirichlet_uncertainty(torch.ones(1, kernels.MAX_CLASSES + 1), "variance")
    reasons = rlmba.explain("efda_scores", "cpu", dtype=torch.float32, C=kernels.MAX_CLASSES + 1)["triton"]
    assert any(f"C <= {kernels.MAX_CLASSES}" in r for r in reasons)
    assert rlmba.explain("bald", "cpu", dtype=torch.int32)["triton"]
    assert rlmba.explain("bald", "cpu", dtype=torch.float64, C=kernels.MAX_CLASSES)["triton"] == []


# ---------------------------------------------------------------- compiled, not run: sm_90 build
_COMPILE_SCRIPT = r'''
import os, subprocess, sys, tempfile
import torch, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from rlmba.kernels import scoring as K

BIN = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
TY = {torch.float32: "fp32", torch.float64: "fp64", torch.bfloat16: "bf16"}

def build(kernel, args, constexprs, C, in_dtype):
    ct = torch.float64 if in_dtype == torch.float64 else torch.float32
    config = K._launch_config(100_000, C, torch.device("cuda"), ct, "x")
    num_warps = config.pop("num_warps")
    sig = {k: (v.replace("IN", TY[in_dtype]).replace("CT", TY[ct]) if isinstance(v, str)
               else tuple(x.replace("IN", TY[in_dtype]) for x in v)) for k, v in args.items()}
    sig.update({k: "constexpr" for k in (*constexprs, *config)})
    src = ASTSource(fn=kernel, signature=sig, constexprs={**constexprs, **config})
    cubin = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps}).asm["cubin"]
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin); f.flush()
        usage = subprocess.run([os.path.join(BIN, "cuobjdump"), "--dump-resource-usage", f.name],
                               capture_output=True, text=True, check=True).stdout
    line = next(l for l in usage.splitlines() if "REG:" in l)
    reg, stack = (int(field.split(":")[1]) for field in line.split()[:2])
    print(kernel.__name__, TY[in_dtype], C, constexprs, "registers", reg, "stack bytes", stack)
    # ptxas may park a word or two (bf16 bald: one register, 8 bytes); a tile too big for the
    # register file spills 70 - 2000 bytes (measured while sizing _GPU_TILE).
    assert stack <= 16, f"{kernel.__name__} spills registers: {line}"

rows = {"n": "i32", "C": "i32"}
for in_dtype in (torch.float32, torch.float64, torch.bfloat16):
    for C in (10, 101):
        zs = lambda M: {"zs": ("*IN",) * M, "params": "*CT"}
        for ds in (False, True):
            build(K._fuse_evidence_kernel, {**zs(2), "out": "*CT", **rows}, {"M": 2, "DS": ds}, C, in_dtype)
        for kind in range(3):
            build(K._efda_scores_kernel, {**zs(3), "out_fused": "*CT", "out_modal": "*CT", **rows},
                  {"M": 3, "KIND": kind}, C, in_dtype)
            build(K._dirichlet_uncertainty_kernel, {"alpha": "*IN", "out": "*CT", **rows}, {"KIND": kind}, C, in_dtype)
        for from_logits in (False, True):
            build(K._uncertainty_scores_kernel, {"x_ptr": "*IN", "out": "*CT", **rows},
                  {"FROM_LOGITS": from_logits}, C, in_dtype)
        build(K._bald_kernel, {"probs": "*IN", "out": "*CT", "S": "i32", **rows, "stride_s": "i32"}, {}, C, in_dtype)
print("ok")
'''


@pytest.mark.slow
def test_kernels_compile_for_sm90_without_spilling():
    """Every kernel variant (dtype x flags x C = 10, 101) lowers through ptxas for sm_90 with the
    launcher's GPU tile sizes, spilling at most two words. Compiled, not run: no GPU is needed, but
    the interpreter must be off, hence the subprocess."""
    import os
    import subprocess
    import sys

    ptxas = os.path.join(os.path.dirname(kernels.triton.__file__), "backends", "nvidia", "bin", "ptxas")
    if not os.path.exists(ptxas):
        pytest.skip("this triton wheel ships no NVIDIA backend (ptxas)")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    done = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.endswith("ok\n"), done.stdout[-3000:] + done.stderr[-3000:]
