"""Triton kernels of the clustering ops, with thin launchers that take and return torch tensors.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.

Implemented here: nearest centroid (``nearest_centroid``) and per-cluster sums (``cluster_sums``);
k-means++ seeding is in :mod:`rlmba.kernels.kmeanspp`.

Layout: one program owns ``BLOCK_N`` consecutive rows of x; offsets are int64
(``tl.program_id(0).to(tl.int64)``). Half inputs compute in float32, float64 in float64 (the
element type of the centroids, which the op already converted). Every ``tl.dot`` tile is at least
16 x 16 x 16 and uses ``input_precision="ieee"``: no TF32, so float32 scores are true float32
products (a GPU would otherwise round the inputs to 10-bit mantissas and break near-ties).
Padded lanes load 0 and are replaced with +inf scores by ``tl.where`` before any comparison.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

_INTERPRET_ROWS = 1024  # the interpreter costs ~10 ms per tl.dot tile: few, large programs
_GPU_ROWS = 64


@triton.jit
def _nearest_centroid_kernel(x, c, c_sq, dist, idx, n, k, D,
                             BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr):
    # Grid (cdiv(n, BLOCK_N),): program i assigns rows [i*BLOCK_N, (i+1)*BLOCK_N). For each
    # centroid tile of BLOCK_K it accumulates x.c over D in BLOCK_D steps with tl.dot, scores
    # |c|^2 - 2 x.c, and keeps a running (min, first argmin); then recomputes the distance to the
    # winner directly. Bytes moved: reads n*D x elements once per centroid tile (the tile loop is
    # inside; x stays in cache on a GPU for small D) plus k*D centroid elements per program, and
    # n*D again for the direct distance; writes n compute-dtype + n int64.
    CT: tl.constexpr = dist.dtype.element_ty
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n
    dcols = tl.arange(0, BLOCK_D)
    kcols = tl.arange(0, BLOCK_K).to(tl.int64)
    best = tl.full([BLOCK_N], float("inf"), CT)
    best_j = tl.zeros([BLOCK_N], tl.int64)
    for k0 in range(0, k, BLOCK_K):
        cj = k0 + kcols
        c_ok = cj < k
        acc = tl.zeros([BLOCK_N, BLOCK_K], CT)
        for d0 in range(0, D, BLOCK_D):
            dd = d0 + dcols
            d_ok = dd < D
            xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=row_ok[:, None] & d_ok[None, :],
                         other=0.0).to(CT)
            ct = tl.load(c + cj[None, :] * D + dd[:, None], mask=c_ok[None, :] & d_ok[:, None], other=0.0)
            acc = tl.dot(xt, ct, acc, input_precision="ieee")
        csq = tl.load(c_sq + cj, mask=c_ok, other=0.0)
        score = tl.where(c_ok[None, :], csq[None, :] - 2 * acc, float("inf"))
        m = tl.min(score, axis=1)
        # first minimum within the tile, explicitly (not relying on argmin's tie rule)
        j = tl.min(tl.where(score == m[:, None], cj[None, :], k), axis=1)
        closer = m < best  # strict: an earlier tile keeps a tie
        best_j = tl.where(closer, j, best_j)
        best = tl.where(closer, m, best)
    # direct distance to the winner: no cancellation, exactly 0 for a row equal to its centroid
    ss = tl.zeros([BLOCK_N], CT)
    for d0 in range(0, D, BLOCK_D):
        dd = d0 + dcols
        mask = row_ok[:, None] & (dd < D)[None, :]
        xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=mask, other=0.0).to(CT)
        cw = tl.load(c + best_j[:, None] * D + dd[None, :], mask=mask, other=0.0)
        diff = xt - cw
        ss += tl.sum(diff * diff, axis=1)
    tl.store(dist + rows, tl.sqrt(ss), mask=row_ok)
    tl.store(idx + rows, best_j, mask=row_ok)


def _tiles(n: int, k: int, D: int, device: torch.device) -> dict:
    """Tile sizes, all >= 16 (a GPU's tl.dot minimum): rows per program, centroids, features."""
    rows = _INTERPRET_ROWS if device.type == "cpu" else _GPU_ROWS
    return {"BLOCK_N": max(16, min(rows, triton.next_power_of_2(n))),
            "BLOCK_K": max(16, min(64, triton.next_power_of_2(k))),
            "BLOCK_D": max(16, min(64, triton.next_power_of_2(D)))}


def nearest_centroid(x: torch.Tensor, centroids: torch.Tensor):
    """``(dist [n], idx [n])``; see :func:`rlmba.reference.clustering.nearest_centroid`.

    ``x`` rows contiguous (any float dtype), ``centroids`` contiguous in the compute dtype."""
    n, D = x.shape
    k = centroids.shape[0]
    c = centroids.contiguous()
    c_sq = (c * c).sum(1)  # k values: the reference's |c|^2, same dtype
    dist = torch.empty(n, dtype=c.dtype, device=x.device)
    idx = torch.empty(n, dtype=torch.int64, device=x.device)
    if n == 0:
        return dist, idx
    t = _tiles(n, k, D, x.device)
    _nearest_centroid_kernel[(triton.cdiv(n, t["BLOCK_N"]),)](x, c, c_sq, dist, idx, n, k, D, **t)
    return dist, idx


@triton.jit
def _cluster_sums_kernel(x, idx, sums, counts, n, k, D,
                         BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr):
    # Grid (cdiv(k, BLOCK_K), cdiv(D, BLOCK_D)): program (a, b) owns sums[a-th cluster tile,
    # b-th feature tile] and walks all n rows in BLOCK_N steps, in row order: sums += onehot^T @ x
    # as a float64 tl.dot (products by 0/1 are exact; the summation order is fixed by the launch
    # configuration, never by timing: no atomics). Programs with b == 0 also count rows.
    # Bytes moved: reads n*D elements and n indices per cluster tile; writes k*D float64 + k int64.
    ka = tl.program_id(0).to(tl.int64) * BLOCK_K + tl.arange(0, BLOCK_K)
    dd = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    d_ok = dd < D
    acc = tl.zeros([BLOCK_K, BLOCK_D], tl.float64)
    cnt = tl.zeros([BLOCK_K], tl.int64)
    for r0 in range(0, n, BLOCK_N):
        rows = r0 + tl.arange(0, BLOCK_N).to(tl.int64)
        ok = rows < n
        j = tl.load(idx + rows, mask=ok, other=-1)  # padding belongs to no cluster
        hit = ka[:, None] == j[None, :]
        xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=ok[:, None] & d_ok[None, :], other=0.0)
        acc = tl.dot(tl.where(hit, 1.0, 0.0).to(tl.float64), xt.to(tl.float64), acc, input_precision="ieee")
        cnt += tl.sum(tl.where(hit, 1, 0).to(tl.int64), axis=1)
    k_ok = ka < k
    tl.store(sums + ka[:, None] * D + dd[None, :], acc, mask=k_ok[:, None] & d_ok[None, :])
    if tl.program_id(1) == 0:
        tl.store(counts + ka, cnt, mask=k_ok)


def cluster_sums(x: torch.Tensor, idx: torch.Tensor, k: int):
    """``(sums [k, D] float64, counts [k] int64)``; see :func:`rlmba.reference.clustering.cluster_sums`."""
    n, D = x.shape
    sums = torch.zeros(k, D, dtype=torch.float64, device=x.device)
    counts = torch.zeros(k, dtype=torch.int64, device=x.device)
    if n == 0:
        return sums, counts
    t = {"BLOCK_N": max(16, min(_INTERPRET_ROWS if x.device.type == "cpu" else _GPU_ROWS, triton.next_power_of_2(n))),
         "BLOCK_K": max(16, min(64, triton.next_power_of_2(k))),
         "BLOCK_D": max(16, min(64, triton.next_power_of_2(D)))}
    grid = (triton.cdiv(k, t["BLOCK_K"]), triton.cdiv(D, t["BLOCK_D"]))
    _cluster_sums_kernel[grid](x, idx.contiguous(), sums, counts, n, k, D, **t)
    return sums, counts
