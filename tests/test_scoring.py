"""Every scoring backend against the float64 PyTorch reference, on fresh random data."""
import numpy as np
import pytest
import torch

import rlmba
from conftest import ALL_BACKENDS, NATIVE_CPU, backend_or_skip
from rlmba.testing import make_alpha, make_logits, make_probs
from tolerances import assert_matches_reference

HALF = (torch.float16, torch.bfloat16)
DTYPES = (torch.float32, torch.float64, *HALF)
BIG = 100_003  # a prime >= 10^5: compiled CPU backends only (the Triton interpreter is too slow)


def sizes_for(backend, sizes):
    return [n for n in sizes if n < BIG or backend in NATIVE_CPU]


def check(op, backend, inputs, **kw):
    """Run ``op`` on ``backend`` and compare with the reference in float64 and in the same dtype."""
    fn = getattr(rlmba, op)
    with rlmba.trace() as calls:
        out = fn(*inputs, backend=backend, **kw)
    assert calls and all(b == backend for _, b in calls), calls
    ref_same = fn(*inputs, backend="torch", **kw)
    ref64 = fn(*[x.double() for x in inputs], backend="torch", **kw)
    outs, r64, rs = (o if isinstance(o, tuple) else (o,) for o in (out, ref64, ref_same))
    for o, a, b in zip(outs, r64, rs):
        assert o.dtype == b.dtype and o.shape == b.shape
        assert_matches_reference(o, a, b, what=f"{op}[{backend}]")
    return out


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("M,C", [(1, 2), (2, 10), (3, 101), (2, 1), (3, 7)])
@pytest.mark.parametrize("kind", ["variance", "vacuity", "entropy"])
def test_efda_scores(backend, M, C, kind, gen):
    backend_or_skip("efda_scores", backend, dtype=torch.float32, kind=kind)
    w = torch.rand(M, generator=gen, dtype=torch.float64) + 0.1
    t = torch.rand(M, generator=gen, dtype=torch.float64) + 0.5
    for n in sizes_for(backend, [1, 1009, BIG]):
        z = make_logits(M, n, C, generator=gen)
        check("efda_scores", backend, [z], weights=w / w.sum(), temperatures=t, kind=kind)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("style", ["normal", "extreme", "masked"])
def test_efda_scores_dtypes_and_extremes(backend, dtype, style, gen):
    backend_or_skip("efda_scores", backend, dtype=dtype, kind="variance")
    z = make_logits(2, 997, 10, dtype=dtype, generator=gen, style=style)
    u, u_m = check("efda_scores", backend, [z], weights=[0.3, 0.7])
    assert torch.isfinite(u).all() and torch.isfinite(u_m).all()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_pos_inf_logits_give_nan_rows(backend, bad, gen):
    backend_or_skip("efda_scores", backend, dtype=torch.float32, kind="variance")
    z = make_logits(2, 64, 10, generator=gen)
    z[1, 5, 3] = bad
    u, u_m = rlmba.efda_scores(z, backend=backend)
    assert torch.isnan(u[5]) and torch.isnan(u_m[1, 5]) and not torch.isnan(u_m[0, 5])
    assert torch.isfinite(u[torch.arange(64) != 5]).all()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("rule", ["weighted", "ds"])
@pytest.mark.parametrize("M,C", [(1, 3), (2, 10), (3, 101)])
def test_fuse_evidence(backend, rule, M, C, gen):
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        backend_or_skip("fuse_evidence", backend, dtype=dtype, rule=rule)
        z = make_logits(M, 513, C, dtype=dtype, generator=gen)
        w = torch.softmax(torch.randn(M, generator=gen), 0) if rule == "weighted" else None
        check("fuse_evidence", backend, [z], weights=w, temperatures=[0.5 + m for m in range(M)], rule=rule)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("kind", ["variance", "vacuity", "entropy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dirichlet_uncertainty(backend, kind, dtype, gen):
    backend_or_skip("dirichlet_uncertainty", backend, dtype=dtype, kind=kind)
    for n, C in [(1, 2), (1031, 10), (257, 101)]:
        check("dirichlet_uncertainty", backend, [make_alpha(n, C, dtype=dtype, generator=gen)], kind=kind)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_uncertainty_scores(backend, from_logits, dtype, gen):
    backend_or_skip("uncertainty_scores", backend, dtype=dtype)
    for n in sizes_for(backend, [1, 1009, BIG]):
        for C in (2, 10, 101):
            x = make_logits(1, n, C, generator=gen)[0] if from_logits else make_probs(n, C, generator=gen)
            check("uncertainty_scores", backend, [x.to(dtype)], from_logits=from_logits)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_uncertainty_scores_masked_and_extreme_logits(backend, gen):
    backend_or_skip("uncertainty_scores", backend, dtype=torch.float32)
    for style in ("masked", "extreme"):
        x = make_logits(1, 1009, 10, generator=gen, style=style)[0]
        scores = check("uncertainty_scores", backend, [x], from_logits=True)
        assert torch.isfinite(scores).all()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("S,C", [(1, 2), (8, 10), (5, 101)])
def test_bald(backend, S, C, gen):
    for dtype in (torch.float32, torch.float64, torch.float16):
        backend_or_skip("bald", backend, dtype=dtype)
        check("bald", backend, [make_probs(1009, C, dtype=dtype, generator=gen, samples=S)])


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_single_scorers_are_rows_of_uncertainty_scores(backend, gen):
    backend_or_skip("uncertainty_scores", backend, dtype=torch.float32)
    p = make_probs(301, 10, generator=gen)
    all3 = rlmba.uncertainty_scores(p, backend=backend)
    for row, fn in enumerate((rlmba.entropy, rlmba.margin, rlmba.least_confidence)):
        torch.testing.assert_close(fn(p, backend=backend), all3[row])


# ---------------------------------------------------------------- layout, chunking, numpy
@pytest.mark.parametrize("backend", NATIVE_CPU)
def test_chunking_noncontiguous_and_numpy_inputs_agree(backend, gen):
    backend_or_skip("efda_scores", backend, dtype=torch.float32, kind="variance")
    z = make_logits(3, 1000, 10, generator=gen)
    whole = rlmba.efda_scores(z, backend=backend)
    chunked = rlmba.efda_scores(z, backend=backend, chunk_size=77)
    strided = rlmba.efda_scores(z.permute(1, 0, 2).contiguous().permute(1, 0, 2), backend=backend)
    as_list = rlmba.efda_scores([m.numpy() for m in z], backend=backend)
    for other in (chunked, strided):
        torch.testing.assert_close(other, whole, rtol=0, atol=0)
    assert isinstance(as_list[0], np.ndarray)
    torch.testing.assert_close(torch.from_numpy(as_list[0]), whole[0], rtol=0, atol=0)


# ---------------------------------------------------------------- Dempster-Shafer properties
def _opinion(alpha):
    S = alpha.sum(-1, keepdim=True)
    return (alpha - 1) / S, alpha.shape[-1] / S.squeeze(-1)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_ds_rule_properties(backend, gen):
    backend_or_skip("fuse_evidence", backend, dtype=torch.float64, rule="ds")
    z = make_logits(3, 257, 10, dtype=torch.float64, generator=gen)
    fuse = lambda zs: rlmba.fuse_evidence(zs, rule="ds", backend=backend)  # noqa: E731
    alpha = fuse(z)
    b, u = _opinion(alpha)
    torch.testing.assert_close(b.sum(-1) + u, torch.ones_like(u))
    torch.testing.assert_close(fuse([z[1], z[0], z[2]]), alpha)  # commutative
    torch.testing.assert_close(fuse([z[2], z[0], z[1]]), alpha)  # associative (any fold order)
    u_each = torch.stack([_opinion(rlmba.fuse_evidence(z[m:m + 1], rule="ds"))[1] for m in range(3)])
    assert (u <= u_each.min(0).values + 1e-12).all()


def test_ds_reference_matches_closed_form(gen):
    """TMC's combination equals 1 + e_f / C = prod_m (1 + e_m / C), which the kernels use."""
    from rlmba.reference.scoring import evidence, fuse_evidence

    z = make_logits(3, 100, 7, dtype=torch.float64, generator=gen)
    closed = torch.stack([1 + evidence(m, 1.0) / 7 for m in z]).prod(0)
    torch.testing.assert_close(fuse_evidence(list(z), None, (1.0,) * 3, "ds"), 1 + 7 * (closed - 1))


def test_weighted_fusion_with_all_weight_on_one_modality_is_that_modality(gen):
    z = make_logits(3, 50, 5, dtype=torch.float64, generator=gen)
    alpha = rlmba.fuse_evidence(z, weights=[0, 1, 0])
    torch.testing.assert_close(alpha, torch.nn.functional.softplus(z[1]) + 1)
