"""The numba backend of the seeding ops (:mod:`rlmba.ops.seeding`): BADGE and BMMAL k-means++ on
gradient embeddings that are never built. CPU, float32 and float64 inputs, float64 distances.

Follows the backend contract in :mod:`rlmba.ops.seeding` (spec: :mod:`rlmba.reference.seeding`):
g_i = concat_m s_im q_i (x) h_im, q_i = p_i - onehot(y_i), y_i = first argmax of p_i, and

    a_i = (q_i.q_i) sum_m s_im^2 (h_im.h_im),
    d(i, c) = a_i + a_c - 2 (q_i.q_c) sum_m s_im s_cm (h_im.h_cm)   (0 if <= DUPLICATE_RTOL (a_i + a_c)),

all in float64 (every input element is widened before it is multiplied); q_k is formed as
p_k - 1 at the label (exact for p_k >= 0.5), never by expanding the product.

Grid mapping: the pool is cut into fixed blocks of ``BLOCK`` = 2048 points; each parallel pass runs
one block per ``prange`` iteration. Per pick, every block folds the newest pick c into D
(D_i <- min(D_i, d(i, c))) and returns its D sum, summed sequentially inside the block. The D^2
pick is serial: the block sums are added in block order, and only the block holding the target
is rescanned point by point, continuing the same sequential sum. So the prefix sums, the total
and hence every pick are the same for any thread count (and equal to the C++ backend's order).
Pools of one block skip the parallel launch. Each pick is one ``prange`` launch, whose end is a
barrier: a descheduled thread delays every pick (the C++ kernel avoids this
with one parallel region and dynamic block claims, which numba's prange cannot express).

Bytes moved per pick: every point's probs row (C * itemsize) and feature rows
(sum_m h_m * itemsize), plus y, a and D (24 B), D written back; the pick's own
rows stay in cache. N = 1e5, C = 10, h = 64, float32: ~33 MB per pick.

Feature matrices arrive as an int64 array of buffer addresses (``Tensor.data_ptr``); row i of
modality m is viewed in place as ``[h_m]`` at address + i h_m itemsize (:func:`.kernels._view`),
so one compiled kernel per dtype serves any number of modalities and widths; the caller keeps the
tensors alive. numba's on-disk cache
checks only this file: after editing ``_view`` in :mod:`.kernels`, delete ``__pycache__/*.nb?``.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, prange

from ..._checks import NATIVE_DTYPES
from ..seeding import register_gradient_seeding
from ...reference.seeding import DUPLICATE_RTOL
from ...reference.kmeanspp import BLOCK
from .kernels import _view, d2_pick




# ---------------------------------------------------------------- per-point float64 math
# reassoc + contract on this function only (inputs are finite): LLVM fixes the order of the dot
# product at compile time and vectorises it (float32 elements widened to float64 first). The
# order depends only on the length, never on the thread count or on where the row sits.
@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot64(x, y):
    """x.y in float64 for two 1-D views of one length."""
    acc = 0.0
    for k in range(x.shape[0]):
        acc += np.float64(x[k]) * np.float64(y[k])
    return acc


@njit(cache=True)
def _label(p, i, C):
    """y_i: the first maximum of row i (lowest class on ties), as torch.argmax."""
    y = 0
    for k in range(1, C):
        if p[i * C + k] > p[i * C + y]:
            y = k
    return y


@njit(cache=True)
def _q_dot(p, i, y, qc, C):
    """q_i.q_c (label y of point i, qc = q_c) in float64, summed in class order.
    q_ik = p_ik - [k = y] is formed elementwise: p - 1 is exact for p >= 0.5. The hot loop of
    _update_block repeats this arithmetic inline (LLVM does not inline it there)."""
    s = 0.0
    for k in range(C):
        t = np.float64(p[i * C + k])
        if k == y:
            t -= 1.0
        s += t * qc[k]
    return s


@njit(cache=True)
def _q_row(p, i, y, C, q):
    for k in range(C):
        q[k] = np.float64(p[i * C + k]) - (1.0 if k == y else 0.0)


# ---------------------------------------------------------------- the parallel passes
@njit(cache=True, parallel=True)
def _prepare(p, C, addresses, dims, s, s_stride, y, a):
    """y and a = |g|^2 for every point, one block per prange iteration. a uses the same dot
    products as the distances, so a copy of a pick lands at d ~ 1e-16 (a_i + a_c) -> exactly 0."""
    N = y.shape[0]
    M = addresses.shape[0]
    for blk in prange((N + BLOCK - 1) // BLOCK):
        q = np.empty(C)
        for i in range(blk * BLOCK, min(N, blk * BLOCK + BLOCK)):
            yi = _label(p, i, C)
            y[i] = yi
            _q_row(p, i, yi, C, q)
            hh = 0.0
            for m in range(M):
                h = dims[m]
                x = _view(addresses[m] + i * h * p.itemsize, h, p)
                sm = s[i * s_stride + m]
                hh += (sm * sm) * _dot64(x, x)
            a[i] = _q_dot(p, i, yi, q, C) * hh


@njit(cache=True)
def _update_block(p, C, addresses, dims, s, s_stride, y, a, D, qc, c, lo, hi):
    """D_i <- min(D_i, d(i, c)) for points [lo, hi); returns the block's sequential D sum.
    Feature rows are views made from their addresses (no slicing: a row index LLVM cannot prove
    non-negative would turn the dot product's contiguous loads into gathers); probs are indexed,
    never sliced: a slice of a numpy-owned array costs an atomic reference count per point."""
    isz = p.itemsize
    ac = a[c]
    total = 0.0
    for i in range(lo, hi):
        hd = 0.0  # sum_m s_im s_cm (h_im.h_cm), in modality order
        for m in range(addresses.shape[0]):
            h = dims[m]
            hdot = _dot64(_view(addresses[m] + i * h * isz, h, p), _view(addresses[m] + c * h * isz, h, p))
            hd += (s[i * s_stride + m] * s[c * s_stride + m]) * hdot
        yi = y[i]
        qd = 0.0  # _q_dot(p, i, yi, qc, C), inline
        for k in range(C):
            t = np.float64(p[i * C + k])
            if k == yi:
                t -= 1.0
            qd += t * qc[k]
        d = a[i] + ac - 2.0 * qd * hd
        if not d > DUPLICATE_RTOL * (a[i] + ac):  # duplicates and cancellation negatives -> 0
            d = 0.0
        if d < D[i]:  # picks hold D = 0 and d >= 0: they stay at 0
            D[i] = d
        total += D[i]
    return total


@njit(cache=True, parallel=True)
def _update_pass(p, C, addresses, dims, s, s_stride, y, a, D, qc, c, block_sum):
    """Fold pick c into D: one block per prange iteration, each storing its sequential D sum."""
    N = y.shape[0]
    for blk in prange(block_sum.shape[0]):
        block_sum[blk] = _update_block(p, C, addresses, dims, s, s_stride, y, a, D, qc, c,
                                       blk * BLOCK, min(N, blk * BLOCK + BLOCK))


@njit(cache=True)
def _kmeanspp(p, C, addresses, dims, s, s_stride, u, out):
    """The whole selection: prepare, first pick = first argmax of a, then len(out) - 1 D^2 steps."""
    N = p.shape[0] // C
    nblk = (N + BLOCK - 1) // BLOCK
    y = np.empty(N, np.int64)
    a = np.empty(N)
    D = np.full(N, np.inf)
    block_sum = np.empty(nblk)
    picked = np.zeros(N, np.bool_)
    qc = np.empty(C)
    _prepare(p, C, addresses, dims, s, s_stride, y, a)
    c = np.argmax(a)  # first maximum: ties -> lowest index
    out[0] = c
    for t in range(1, out.shape[0]):
        picked[c] = True
        D[c] = 0.0
        _q_row(p, c, y[c], C, qc)
        if nblk == 1:  # one block: a parallel launch would cost more than the block itself
            block_sum[0] = _update_block(p, C, addresses, dims, s, s_stride, y, a, D, qc, c, 0, N)
        else:
            _update_pass(p, C, addresses, dims, s, s_stride, y, a, D, qc, c, block_sum)
        c = d2_pick(D, block_sum, picked, u[t - 1])
        if c < 0:
            return False
        out[t] = c
    return True


def kmeanspp_gradient(probs, hs, scales, u, b):
    """Shared by both ops; validated row-contiguous CPU inputs of one dtype, ``scales`` float64
    ``[1 or N, M]`` contiguous. Runs on min(torch.get_num_threads(), numba's pool) threads,
    like the C++ backend; the picks do not depend on it."""
    N, C = probs.shape
    out = torch.empty(b, dtype=torch.int64)
    addresses = np.array([h.data_ptr() for h in hs], dtype=np.int64)  # hs stay referenced here
    dims = np.array([h.shape[1] for h in hs], dtype=np.int64)
    s_stride = len(hs) if scales.shape[0] > 1 else 0
    threads = torch.get_num_threads()
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        ok = _kmeanspp(probs.numpy().reshape(-1), C, addresses, dims, scales.numpy().reshape(-1), s_stride,
                       u.numpy(), out.numpy())
    finally:
        numba.set_num_threads(previous)
        # numba's OpenMP layer shares torch's libgomp: each parallel launch sets the process-wide
        # OpenMP thread count to numba's, which torch.get_num_threads() then reports. Undo that.
        torch.set_num_threads(threads)
    if not ok:
        raise RuntimeError("numba seeding: no point left to pick (inconsistent state)")
    return out


register_gradient_seeding("numba", kmeanspp_gradient, NATIVE_DTYPES)
