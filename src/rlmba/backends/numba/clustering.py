"""The numba backend of the clustering ops (:mod:`rlmba.ops.clustering`): nearest centroid,
k-means++ seeding and cluster sums.

Nearest centroid is GEMM-shaped: torch's BLAS computes g = x @ C^T for a bounded tile of rows
(``TILE_ELEMENTS`` products, the reference's tiling, so g and hence every arg-min equal the
reference's), and the numba epilogue takes each row's first arg-min of |c|^2 - 2 g and
recomputes the winner's distance directly (exact 0 for a row equal to its centroid).
No N x k matrix exists.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ..._checks import FLOAT_DTYPES, compute_dtype
from ..._dispatch import implements
from ...reference.clustering import TILE_ELEMENTS
from ...reference.kmeanspp import BLOCK
from .kernels import d2_pick




@njit(cache=True, parallel=True)
def _nearest_epilogue(g, x, c, c_sq, dist, idx):
    """Row i (one prange iteration each): j = first arg-min_j c_sq[j] - 2 g[i, j], in the
    compute dtype as the reference rounds it (g + g is exact); dist = sqrt(sum (x - c_j)^2).
    Moves: reads g [n, k] and x [n, D] once, writes n distances and n indices."""
    n, k = g.shape
    D = x.shape[1]
    for i in prange(n):
        best = c_sq[0] - (g[i, 0] + g[i, 0])
        j = 0
        for t in range(1, k):
            v = c_sq[t] - (g[i, t] + g[i, t])
            if v < best:  # strict: the first minimum wins ties
                best = v
                j = t
        s = x[i, 0] - x[i, 0]  # zero in the compute dtype
        for d in range(D):
            e = x[i, d] - c[j, d]
            s += e * e
        dist[i] = np.sqrt(s)
        idx[i] = j


@implements("nearest_centroid", "numba", dtypes=FLOAT_DTYPES)
def nearest_centroid(x, centroids):
    n, _ = x.shape
    k = centroids.shape[0]
    cdt = centroids.dtype
    c = centroids.contiguous()
    c_sq = (c * c).sum(1)
    dist = torch.empty(n, dtype=cdt)
    idx = torch.empty(n, dtype=torch.int64)
    step = max(1, TILE_ELEMENTS // k)
    for i in range(0, n, step):
        xt = x[i:i + step].to(cdt).contiguous()
        g = (xt @ c.T).contiguous()
        _nearest_epilogue(g.numpy(), xt.numpy(), c.numpy(), c_sq.numpy(), dist[i:i + step].numpy(),
                          idx[i:i + step].numpy())
    return dist, idx


SUM_COLS = 8  # columns per prange iteration of the cluster sums


@njit(cache=True, parallel=True)
def _cluster_sums_kernel(x, idx, sums, counts):
    """sums[idx[i], d] += x[i, d] in float64. Each prange iteration owns SUM_COLS columns and
    adds the rows in index order, so the summation order (hence every bit) is fixed, whatever
    the thread count. Moves: reads x [n, D] and idx [n], writes sums [k, D] and counts [k]."""
    n, D = x.shape
    for blk in prange((D + SUM_COLS - 1) // SUM_COLS):
        lo = blk * SUM_COLS
        hi = min(lo + SUM_COLS, D)
        for i in range(n):
            j = idx[i]
            for d in range(lo, hi):
                sums[j, d] += np.float64(x[i, d])
    for i in range(n):
        counts[idx[i]] += 1


@implements("cluster_sums", "numba", dtypes=FLOAT_DTYPES)
def cluster_sums(x, idx, k):
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64)
    counts = torch.zeros(k, dtype=torch.int64)
    xc = x.to(compute_dtype(x.dtype)).contiguous()  # half: a float32 copy of this row chunk only
    _cluster_sums_kernel(xc.numpy(), idx.contiguous().numpy(), sums.numpy(), counts.numpy())
    return sums, counts


# ---------------------------------------------------------------- k-means++ seeding
# reassoc + contract on this function only (x is finite): the compiler fixes the order of the
# D-term sum at compile time and vectorises it; identical for every thread count, and exact for
# integer-valued data. The D^2 block sums stay strictly sequential (in _seed_block).
@njit(cache=True, fastmath={"reassoc", "contract"})
def _sq_dist(x, i, c):
    """|x_i - x_c|^2 in the compute dtype, direct form: exactly 0 for a copy of row c."""
    t = x[i, 0] - x[i, 0]  # zero in the compute dtype (D >= 1, x finite)
    for d in range(x.shape[1]):
        e = x[i, d] - x[c, d]
        t += e * e
    return t


@njit(cache=True)
def _seed_block(x, c, s, w, a, blk):
    """Rows of D^2 block blk: fold seed s (row c) into w (squared distance, direct form, so a
    copy of a seed is at exactly 0; ties keep the earlier seed) and return the block's
    sequential float64 sum of w (the Q_last of d2_pick)."""
    n = x.shape[0]
    q = 0.0
    for i in range(blk * BLOCK, min(blk * BLOCK + BLOCK, n)):
        t = _sq_dist(x, i, c)
        if t < w[i]:
            w[i] = t
            a[i] = s
        q += np.float64(w[i])
    return q


@njit(cache=True, parallel=True)
def _seed_pass(x, c, s, w, a, qlast):
    """One seed: every BLOCK-row block is one prange iteration (fixed blocks: thread-count free).
    Moves: reads x [N, D] once, reads/writes w and a [N]."""
    for blk in prange(qlast.shape[0]):
        qlast[blk] = _seed_block(x, c, s, w, a, blk)


@njit(cache=True)
def _kmeanspp_kernel(x, k, u, seeds, w, a):
    n = x.shape[0]
    qlast = np.empty((n + BLOCK - 1) // BLOCK)
    picked = np.zeros(n, dtype=np.bool_)
    pick = min(n - 1, int(u[0] * n))
    for s in range(k):
        seeds[s] = pick
        picked[pick] = True
        _seed_pass(x, pick, s, w, a, qlast)
        if s + 1 < k:
            pick = d2_pick(w, qlast, picked, u[s + 1])


@implements("kmeans_plusplus", "numba", dtypes=FLOAT_DTYPES)
def kmeanspp(x, k, u):
    n = x.shape[0]
    xc = x.to(compute_dtype(x.dtype)).contiguous()  # half: a float32 copy (seeding reads x k times)
    seeds = torch.empty(k, dtype=torch.int64)
    w = torch.full((n,), float("inf"), dtype=xc.dtype)
    a = torch.zeros(n, dtype=torch.int64)
    _kmeanspp_kernel(xc.numpy(), int(k), u.to(torch.float64).contiguous().numpy(), seeds.numpy(), w.numpy(),
                     a.numpy())
    return seeds, a, w.sqrt_()
