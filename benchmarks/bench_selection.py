"""topb_select and k_center_greedy at the issue's sizes: every usable CPU backend against the
pure-PyTorch reference and the usual plain-PyTorch baselines.

- topb_select, N = 10^6 and 10^7, b = 1000, random and sorted scores. Baselines: ``torch-topk``
  (torch.topk: its values are checked, its tie order is not the spec's) and ``torch-eager`` (the
  reference: a stable sort, exact).
- k_center_greedy, N = 10^6, D = 128, b = 100, 1,000 labeled pool rows, float32 (and a float16
  pool for the compiled backends). Baselines: ``torch-eager`` (the reference: incremental
  min-distance vector, one GEMV per pick, GEMM tiles for the labeled set) and ``torch-cdist``.
  Each run also records the time per pick (medians of b = 21 and b = 1 with one labeled row,
  their difference over 20) and one read of the pool (torch's sum) as the bandwidth floor a pick
  is measured against.

Every provider's output is checked against the reference once before timing; that run also
measures the peak extra resident memory (Linux VmHWM after resetting it through
/proc/self/clear_refs; torch's CPU allocator returns large blocks to the OS, so RSS sees them).
``RLMBA_BENCH_QUICK=1`` shrinks every size for a smoke run. torch.compile is not a provider:
both references are data-dependent Python loops (k-center) or a single library call (sort).
"""
import functools
import time

import numpy as np
import pytest
import torch

import baselines
from common import backends, record, size
from rlmba.ops.selection import k_center_greedy, topb_select
from rlmba.reference import selection as ref

B_TOPB = 1000
N_POOL, D, B_KC, L = size(1_000_000, 50_000), 128, size(100, 20), size(1000, 100)


# ---------------------------------------------------------------- shared pieces
def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))


def peak_extra_bytes(fn):
    """(result, peak resident bytes above the level before the call)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return fn(), -1
    before = _status("VmRSS:")
    out = fn()
    return out, _status("VmHWM:") - before


def median_ms(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


@functools.lru_cache(maxsize=None)
def scores(n: int, order: str) -> torch.Tensor:
    x = torch.randn(n, generator=torch.Generator().manual_seed(n))
    return x.sort().values if order == "sorted" else x


@functools.lru_cache(maxsize=None)
def pool(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(N_POOL, D, generator=gen).to(dtype)
    return x, torch.randperm(N_POOL, generator=gen)[:L]


# ---------------------------------------------------------------- top-b
@pytest.mark.parametrize("order", ["random", "sorted"])
@pytest.mark.parametrize("n", [size(1_000_000, 100_000), size(10_000_000, 1_000_000)])
@pytest.mark.parametrize("provider", backends("topb_select", dtype=torch.float32) + ["torch-topk", "torch-eager"])
def test_topb_select(benchmark, provider, n, order):
    x = scores(n, order)
    expected = ref.topb_select(x, B_TOPB)
    if provider == "torch-topk":
        fn = lambda: torch.topk(x, B_TOPB).indices  # noqa: E731
    elif provider == "torch-eager":
        fn = lambda: ref.topb_select(x, B_TOPB)  # noqa: E731
    else:
        fn = lambda: topb_select(x, B_TOPB, backend=provider)  # noqa: E731
    fn()  # first call: JIT compilation (numba) is not the op's memory
    out, extra = peak_extra_bytes(fn)
    torch.testing.assert_close(x[out], x[expected], rtol=0, atol=0)  # same values, best first
    if provider != "torch-topk":
        torch.testing.assert_close(out, expected, rtol=0, atol=0)  # and the spec's tie order
    record(benchmark, op="topb_select", provider=provider, case=f"N={n} b={B_TOPB} {order} float32",
           bytes_moved=x.nbytes, N=n, b=B_TOPB, peak_extra_bytes=extra, input_bytes=x.nbytes)
    benchmark.pedantic(fn, rounds=3 if provider == "torch-eager" else 9, warmup_rounds=1, iterations=1)


# ---------------------------------------------------------------- k-center greedy
def _kcenter_fn(provider, x, labeled):
    if provider == "torch-eager":
        return lambda b: ref.k_center_greedy(x, b, x[labeled].float(), labeled.sort().values)
    if provider == "torch-cdist":
        return lambda b: baselines.k_center_greedy_cdist(x, b, x[labeled].float(), labeled.sort().values)
    return lambda b: k_center_greedy(x, b, labeled=labeled, backend=provider)


KC_PROVIDERS = [(p, torch.float32) for p in backends("k_center_greedy", dtype=torch.float32, metric="euclidean")]
KC_PROVIDERS += [(p, torch.float16) for p in backends("k_center_greedy", dtype=torch.float16, metric="euclidean")]
KC_PROVIDERS += [("torch-eager", torch.float32), ("torch-cdist", torch.float32)]


@pytest.mark.parametrize("provider,dtype", KC_PROVIDERS, ids=[f"{p}-{str(d)[6:]}" for p, d in KC_PROVIDERS])
def test_k_center_greedy(benchmark, provider, dtype):
    x, labeled = pool(dtype)
    fn = _kcenter_fn(provider, x, labeled)
    out, extra = peak_extra_bytes(lambda: fn(B_KC))
    expected = ref.k_center_greedy(x, B_KC, x[labeled].float(), labeled.sort().values)
    radius = ref.covering_radius(x, torch.cat([out, labeled]))
    radius_ref = ref.covering_radius(x, torch.cat([expected, labeled]))
    torch.testing.assert_close(radius, radius_ref, rtol=1e-5, atol=0)
    # per pick: (b = 21) - (b = 1) over 20, with one labeled row, so that the labeled-set pass
    # (seconds, and noisy) does not swamp the difference
    slow, picks, one = provider.startswith("torch"), 20, _kcenter_fn(provider, x, labeled[:1])
    per_pick = (median_ms(lambda: one(1 + picks), 1 if slow else 3) - median_ms(lambda: one(1), 1 if slow else 3)) / picks
    record(benchmark, op="k_center_greedy", provider=provider,
           case=f"N={N_POOL} D={D} b={B_KC} L={L} {str(dtype)[6:]}", bytes_moved=B_KC * x.nbytes,
           N=N_POOL, D=D, b=B_KC, L=L, per_pick_ms=per_pick, pool_read_ms=median_ms(lambda: x.sum()),
           peak_extra_bytes=extra, input_bytes=x.nbytes)
    benchmark.pedantic(lambda: fn(B_KC), rounds=1 if provider == "torch-cdist" else 3, warmup_rounds=0,
                       iterations=1)
