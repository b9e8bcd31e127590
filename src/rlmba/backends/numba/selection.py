"""The numba backend of the selection ops (:mod:`rlmba.ops.selection`): top-b and k-center greedy.

Inputs follow the contract in :mod:`rlmba.ops.selection`: a validated, contiguous float32 or
float64 CPU tensor per chunk, viewed through ``Tensor.numpy()`` without a copy.

top-b is a selection, not a sort: one O(n) partition finds the threshold key t (the b-th best),
one ordered pass keeps every key better than t and the first (lowest-index) keys equal to t
until b are kept, and only those b are sorted (stable, so ties stay in index order). The result
is the first b of the reference's stable sort exactly, for any thread count (the kernel is
serial: the pass is memory-bound and a chunk is at most 2^24 scores).
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ..._dispatch import implements
from ...reference.selection import REFINE_RTOL, TILE_ELEMENTS, _dist_to_set, _embed


def _supports(dtype=None, **_facts) -> list[str]:
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        return [f"numba top-b takes float32/float64 scores (half is widened by the op), got {dtype}"]
    return []


@njit(cache=True)
def _topb_kernel(x, b, largest):
    """Local indices of the min(b, #non-NaN) best of x [n], best first.

    Keys: -x (largest) or x, plus 0.0 so -0.0 and +0.0 are one key; smaller key = better.
    Moves: reads x twice (keys, ordered pass), writes n keys once, sorts b keys.
    """
    n = x.shape[0]
    keys = np.empty(n, dtype=x.dtype)
    pos = np.empty(n, dtype=np.int64)  # local index of each key (NaNs dropped, order kept)
    m = 0
    for i in range(n):
        v = x[i]
        if v == v:  # NaN is never selected
            keys[m] = (-v if largest else v) + 0.0
            pos[m] = i
            m += 1
    keys = keys[:m]
    b = min(b, m)
    if b == 0:
        return np.empty(0, dtype=np.int64)
    t = np.partition(keys, b - 1)[b - 1]  # partition copies: keys keep index order
    better = 0
    for j in range(m):
        if keys[j] < t:
            better += 1
    ties_left = b - better  # keys equal to t that fit, lowest index first
    chosen = np.empty(b, dtype=np.int64)
    ck = np.empty(b, dtype=x.dtype)
    c = 0
    for j in range(m):
        kj = keys[j]
        if kj < t or (kj == t and ties_left > 0):
            if kj == t:
                ties_left -= 1
            chosen[c] = pos[j]
            ck[c] = kj
            c += 1
    order = np.argsort(ck, kind="mergesort")  # stable: equal keys keep index order
    return chosen[order]


@implements("topb_select", "numba", supports=_supports)
def topb_select(x, b, largest):
    return torch.from_numpy(_topb_kernel(x.numpy(), int(b), bool(largest)))


# ================================================================ k-center greedy
# Row blocks of the per-pick pass: a fixed count of fixed-size blocks (not one per thread), so
# the arg-max combine, and hence the pick, is the same for any thread count.
KC_BLOCK = 4096


def _kc_supports(dtype=None, **_facts) -> list[str]:
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        return [f"numba k-center reads float32/float64 pools in place (half would need an N x D float32 "
                f"copy, against the O(N) memory contract), got {dtype}"]
    return []


# reassoc + contract on this function only (finite inputs; no global fastmath, which would let
# LLVM assume no inf/NaN): the compiler fixes the dot product's order at compile time, so it is
# vectorised and still the same for every thread count.
@njit(cache=True, fastmath={"reassoc", "contract"})
def _row_dist(x, i, norm_i, c, c_sq, sq_i, cosine, rtol):
    """Distance of pool row i (embedded: x_i, or x_i / |x_i|) to the embedded center c, in the
    reference's GEMV form |x|^2 + |c|^2 - 2 x.c (cosine: 1 - x.c), recomputed directly below
    rtol * scale (cancellation), clamped at 0."""
    D = x.shape[1]
    dot = c_sq - c_sq
    if cosine:  # the reference's embedded row x / |x|, the same division
        for d in range(D):
            dot += (x[i, d] / norm_i) * c[d]
    else:  # no division in the euclidean loop
        for d in range(D):
            dot += x[i, d] * c[d]
    if cosine:
        v, scale = 1 - dot, c_sq - c_sq + 1
    else:
        v, scale = sq_i + c_sq - 2 * dot, sq_i + c_sq
    if v < rtol * scale:
        s = c_sq - c_sq
        for d in range(D):
            e = x[i, d] / norm_i - c[d]
            s += e * e
        v = s / 2 if cosine else s
    return max(v, c_sq - c_sq)


@njit(cache=True)
def _kc_block(x, norm, sq, mind, c, c_sq, cosine, rtol, blk, bmax, barg):
    """Rows [blk * KC_BLOCK, ...): fold the center c into mind, store the block's first arg-max."""
    lo = blk * KC_BLOCK
    hi = min(lo + KC_BLOCK, x.shape[0])
    best = -np.inf
    arg = lo
    for i in range(lo, hi):
        m = mind[i]
        if m != -np.inf:
            m = min(m, _row_dist(x, i, norm[i], c, c_sq, sq[i], cosine, rtol))
            mind[i] = m
        if m > best:
            best = m
            arg = i
    bmax[blk] = best
    barg[blk] = arg


@njit(cache=True, parallel=True)
def _kc_pass(x, norm, sq, mind, c, c_sq, cosine, rtol, bmax, barg):
    """One pick's pass: the row blocks, one prange iteration each."""
    for blk in prange(bmax.shape[0]):
        _kc_block(x, norm, sq, mind, c, c_sq, cosine, rtol, blk, bmax, barg)


@njit(cache=True)
def _kc_picks(x, norm, sq, mind, first, b, cosine, rtol, out):
    """b greedy picks starting at row ``first``. Per pick: every row block (one prange
    iteration) folds the new center into mind and keeps its first arg-max; a serial pass over
    the block maxima (strictly greater wins: lowest index) gives the next pick.
    Moves per pick: reads the pool [N, D] once, reads/writes mind [N]."""
    N, D = x.shape
    nblk = (N + KC_BLOCK - 1) // KC_BLOCK
    bmax = np.empty(nblk, dtype=mind.dtype)
    barg = np.empty(nblk, dtype=np.int64)
    c = np.empty(D, dtype=mind.dtype)
    pick = first
    for step in range(b):
        out[step] = pick
        mind[pick] = -np.inf
        if step + 1 == b:
            break
        for d in range(D):
            c[d] = x[pick, d] / norm[pick]
        c_sq = sq[pick]
        _kc_pass(x, norm, sq, mind, c, c_sq, cosine, rtol, bmax, barg)
        best, pick = bmax[0], barg[0]
        for blk in range(1, nblk):
            if bmax[blk] > best:
                best, pick = bmax[blk], barg[blk]


@njit(cache=True, parallel=True)
def _kc_prepare(x, norm, cosine, sq):
    """|x_i|^2 of the embedded rows (cosine: of x_i / |x_i|), one row per prange iteration."""
    N, D = x.shape
    for i in prange(N):
        s = norm[i] - norm[i]  # zero in the compute dtype
        for d in range(D):
            e = x[i, d] / norm[i]
            s += e * e
        sq[i] = s


@njit(cache=True, parallel=True)
def _kc_farthest_from_mean(x, norm):
    """First pick without centers: the embedded row farthest (squared) from the embedded pool
    mean. The mean is summed in float64 over fixed 4096-row blocks (prange) combined serially,
    then rounded to the compute dtype; the arg-max is taken serially (lowest index)."""
    N, D = x.shape
    nblk = (N + 4095) // 4096
    part = np.zeros((nblk, D), dtype=np.float64)
    for blk in prange(nblk):
        for i in range(blk * 4096, min(blk * 4096 + 4096, N)):
            for d in range(D):
                part[blk, d] += x[i, d] / norm[i]
    mean = np.empty(D, dtype=norm.dtype)
    for d in range(D):
        t = 0.0
        for blk in range(nblk):
            t += part[blk, d]
        mean[d] = t / N
    far = np.empty(N, dtype=norm.dtype)
    for i in prange(N):
        s = norm[i] - norm[i]
        for d in range(D):
            e = x[i, d] / norm[i] - mean[d]
            s += e * e
        far[i] = s
    return np.argmax(far)  # first maximum


def _kc_labeled_min(pool, norm, lab, metric, mind):
    """mind = distance to the nearest labeled row: the reference's tiled GEMM + refine
    (torch BLAS), one tile of embedded pool rows at a time, so no N x L matrix and no N x D copy."""
    lab = _embed(lab, metric)
    step = max(1, TILE_ELEMENTS // lab.shape[0])
    for i in range(0, pool.shape[0], step):
        xt = pool[i:i + step] / norm[i:i + step, None] if metric == "cosine" else pool[i:i + step]
        mind[i:i + step] = _dist_to_set(xt, (xt * xt).sum(1), lab, metric)


@implements("k_center_greedy", "numba", supports=_kc_supports)
def k_center_greedy(pool, b, labeled, exclude, metric):
    N = pool.shape[0]
    cosine = metric == "cosine"
    norm = (torch.linalg.vector_norm(pool, dim=1) if cosine  # the reference's norms: same x / |x|
            else torch.ones(N, dtype=pool.dtype))
    sq = torch.empty(N, dtype=pool.dtype)
    _kc_prepare(pool.numpy(), norm.numpy(), cosine, sq.numpy())
    mind = torch.full((N,), float("inf"), dtype=pool.dtype)
    if labeled.shape[0]:
        _kc_labeled_min(pool, norm, labeled, metric, mind)
    mind[exclude] = float("-inf")
    if labeled.shape[0] or exclude.numel():
        first = int(torch.argmax(mind))
    else:
        first = int(_kc_farthest_from_mean(pool.numpy(), norm.numpy()))
    out = torch.empty(b, dtype=torch.int64)
    _kc_picks(pool.numpy(), norm.numpy(), sq.numpy(), mind.numpy(), first, int(b), cosine, REFINE_RTOL,
              out.numpy())
    return out
