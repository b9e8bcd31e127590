"""Triton k-means++ seeding (``kmeanspp``), with a launcher that takes and returns torch tensors.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.

Contract: the module docstring of :mod:`rlmba.ops.clustering`; spec:
:func:`rlmba.reference.clustering.kmeanspp`. Per pick s (row c), one launch of
``_kmeanspp_update_kernel`` folds c into every row's state: d = |x - c|^2 in the compute dtype,
taken in the direct form (sum of squared differences, never |x|^2 + |c|^2 - 2 x.c), so a row equal
to a pick gets exactly 0 and no cancellation negatives exist; then w <- d and idx <- s where
d < w (strict: ties keep the earlier pick, the contract's tie rule).

The D^2 pick runs on the host with the reference's own :func:`~rlmba.reference.kmeanspp.d2_pick`
over a CPU copy of w: its float64 prefix sums have the contract's fixed block order (sequential
within blocks of 2048 rows, then the block ends in order), the order of the C++ and CUDA backends,
so the picks agree to the bit whenever w does. Cost on a GPU: one device->host copy of N
compute-dtype values and a host synchronisation per pick (a device-side pick kernel, as in
csrc/cuda/seeding.cu, would remove both; not written).

Layout: one program owns ``BLOCK_N`` consecutive rows (int64 offsets) and walks the features in
``BLOCK_D`` steps. Half inputs compute in float32, float64 in float64 (the dtype of w).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._checks import compute_dtype
from ..reference.kmeanspp import d2_pick, uniform_pick

_INTERPRET_ROWS = 4096  # the interpreter costs ~1.5 ms per program instance: few, large ones
_GPU_ROWS = 128


@triton.jit(do_not_specialize=["c", "s"])
def _kmeanspp_update_kernel(x, w, near, c, s, N, D, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    # Grid (cdiv(N, BLOCK_N),): program i folds pick s (row c of x) into rows [i*BLOCK_N, (i+1)*BLOCK_N):
    # d = sum_j (x_rj - x_cj)^2 in the compute dtype CT, then w = d, near = s where d < w.
    # Bytes moved per launch: reads N*D x elements (+ D for row c per program), reads and writes
    # N CT values of w and N int64 of near (only rows that got closer are changed in value).
    CT: tl.constexpr = w.dtype.element_ty
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = rows < N
    crow = x + c.to(tl.int64) * D
    dcols = tl.arange(0, BLOCK_D)
    dist = tl.zeros([BLOCK_N], CT)
    for d0 in range(0, D, BLOCK_D):
        dd = d0 + dcols
        d_ok = dd < D
        xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=ok[:, None] & d_ok[None, :], other=0.0).to(CT)
        ct = tl.load(crow + dd, mask=d_ok, other=0.0).to(CT)
        diff = xt - ct[None, :]  # padded lanes: 0 - 0
        dist += tl.sum(diff * diff, axis=1)
    cur = tl.load(w + rows, mask=ok, other=0.0)
    closer = dist < cur  # strict: a tie keeps the earlier pick
    tl.store(w + rows, tl.where(closer, dist, cur), mask=ok)
    j = tl.load(near + rows, mask=ok, other=0)
    tl.store(near + rows, tl.where(closer, s.to(tl.int64), j), mask=ok)


def _config(n: int, D: int, device: torch.device) -> dict:
    rows = _INTERPRET_ROWS if device.type == "cpu" else _GPU_ROWS
    return {"BLOCK_N": max(16, min(rows, triton.next_power_of_2(n))),
            "BLOCK_D": max(16, min(64, triton.next_power_of_2(D)))}


def kmeanspp(x: torch.Tensor, k: int, u: torch.Tensor):
    """``(seeds [k], idx [N], dist [N])``; see :func:`rlmba.reference.clustering.kmeanspp`.

    ``x [N, D]`` rows contiguous (any float dtype), ``u`` float64 ``[k]`` on the CPU. ``dist`` is
    Euclidean (sqrt of w) in the compute dtype; ``idx`` is the position of the nearest seed.
    """
    n, D = x.shape
    cfg = _config(n, D, x.device)
    grid = (triton.cdiv(n, cfg["BLOCK_N"]),)
    w = torch.full((n,), float("inf"), dtype=compute_dtype(x.dtype), device=x.device)
    near = torch.zeros(n, dtype=torch.int64, device=x.device)
    picked = torch.zeros(n, dtype=torch.bool)  # host-side: d2_pick's "lowest unpicked" fallback
    u = u.to(device="cpu", dtype=torch.float64)
    seeds = []
    pick = uniform_pick(float(u[0]), n)
    for s in range(k):
        seeds.append(pick)
        picked[pick] = True
        _kmeanspp_update_kernel[grid](x, w, near, pick, s, n, D, **cfg)
        if s + 1 < k:
            pick = d2_pick(w.cpu(), float(u[s + 1]), picked)  # host sync: the fixed-order float64 sums
    return torch.tensor(seeds, dtype=torch.int64, device=x.device), near, w.sqrt()
