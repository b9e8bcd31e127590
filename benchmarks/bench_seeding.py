"""BADGE and BMMAL seeding on a 10^5 pool (C = 10, h = 64, b = 100): every usable CPU backend
against three pure-PyTorch versions:

- ``torch-eager``: materialised embeddings g [N, C h] (float32) and one GEMV per step,
  |g_i - g_c|^2 = |g_i|^2 + |g_c|^2 - 2 g_i.g_c: what a plain PyTorch BADGE does. (The exact
  ``baselines.kmeanspp_materialised`` forms g - g_c each step and is ~10x slower still.)
- ``torch-factored``: the torch backend, factored, float64 distances (picks identical to the
  compiled backends);
- ``torch-factored-f32``: the same factored algorithm with float32 GEMVs, the fastest plain PyTorch
  version (its picks can differ from the float64 contract after rounding near a boundary).

torch.compile is not a provider: the seeding loop is data-dependent Python control flow.
Each provider's picks are checked against the float64 reference once before timing; a second
run measures the peak extra resident memory (see bench_selection.py).
"""
import pytest
import torch

from rlmba.ops.seeding import badge_select, bmmal_select
from bench_selection import peak_extra_bytes
from common import backends, record, size
import baselines
from rlmba.reference import seeding as ref
from rlmba.testing import make_probs

N, C, H, B = size(100_000, 5_000), 10, 64, 100
EXTRA = ["torch-factored", "torch-factored-f32", "torch-eager"]


def factored_f32(probs, hs, scales, u, b):
    """Factored seeding with float32 dot products (plain PyTorch, as fast as eager gets)."""
    q = ref.gradient_factor(probs, torch.float32)
    s = torch.ones(1, len(hs)) if scales is None else scales.float()
    a = ((q * q).sum(1) * (s * s * torch.stack([(h * h).sum(1) for h in hs], 1)).sum(1)).double()

    def dist_to(c):
        cross = torch.stack([h @ h[c] for h in hs], 1)
        d = a + a[c] - 2 * ((q @ q[c]) * (s * s[c if s.shape[0] > 1 else 0] * cross).sum(1)).double()
        return ref.threshold(d, a, c)

    return ref.kmeanspp(dist_to, a, u, b)


def materialised_gemv(probs, hs, scales, u, b):
    """Plain PyTorch BADGE/BMMAL on the materialised float32 gradient embeddings."""
    g = baselines.gradient_embeddings(probs, hs, scales)
    a = (g * g).sum(1).double()
    return ref.kmeanspp(lambda c: ref.threshold(a + a[c] - 2 * (g @ g[c]).double(), a, c), a, u, b)


def inputs(M, seed):
    gen = torch.Generator().manual_seed(seed)
    p = make_probs(N, C, generator=gen)
    hs = [torch.randn(N, H, generator=gen) for _ in range(M)]
    c = torch.rand(N, M, generator=gen, dtype=torch.float64)
    return p, hs, c


def _run(benchmark, op, provider, p, hs, c):
    M = len(hs)
    scales = None if op == "badge_select" else ref.modality_scales(c)
    u = torch.rand(B - 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    if provider == "torch-eager":
        fn = lambda: materialised_gemv(p, hs, scales, u, B)  # noqa: E731
    elif provider == "torch-factored-f32":
        fn = lambda: factored_f32(p, hs, scales, u, B)  # noqa: E731
    else:
        backend = "torch" if provider == "torch-factored" else provider
        if op == "badge_select":
            fn = lambda: badge_select(p, hs[0], B, torch.Generator().manual_seed(0), backend=backend)  # noqa: E731
        else:
            fn = lambda: bmmal_select(p, hs, c, B, torch.Generator().manual_seed(0), backend=backend)  # noqa: E731
    s64 = None if scales is None else scales.reshape(-1, M)
    want = ref.kmeanspp_factored(p.double(), [h.double() for h in hs], s64, u, B)
    torch.testing.assert_close(fn(), want, rtol=0, atol=0, msg=lambda m: f"{op}[{provider}] picks: {m}")
    _, extra = peak_extra_bytes(fn)  # after the first call: JIT compilation is not the op's memory
    record(benchmark, op=op, provider=provider, case=f"M={M} N={N} C={C} h={H} b={B} float32",
           bytes_moved=(B - 1) * N * (C + M * H) * 4, M=M, N=N, C=C, h=H, b=B, peak_extra_bytes=extra,
           input_bytes=p.nbytes + sum(h.nbytes for h in hs))
    slow = provider in ("torch-eager", "torch-factored")
    benchmark.pedantic(fn, rounds=3 if slow else 7, warmup_rounds=0 if slow else 1, iterations=1)


@pytest.mark.parametrize("provider", backends("badge_select", dtype=torch.float32) + EXTRA)
def test_badge_select(benchmark, provider):
    p, hs, c = inputs(1, 0)
    _run(benchmark, "badge_select", provider, p, hs, c)


@pytest.mark.parametrize("provider", backends("bmmal_select", dtype=torch.float32) + EXTRA)
def test_bmmal_select(benchmark, provider):
    p, hs, c = inputs(2, 1)
    _run(benchmark, "bmmal_select", provider, p, hs, c)
