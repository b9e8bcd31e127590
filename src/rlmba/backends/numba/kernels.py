"""numba kernels of the evidential scoring ops, and the block machinery all kernels share
(:mod:`.kernels_classic` has entropy/margin/confidence and BALD; the Python side is :mod:`.scoring`).

Grid mapping: rows are cut into blocks of R rows (R a multiple of 16, sized so a block's scratch
planes fit in L2), and the blocks into ``nparts`` contiguous parts (4 per thread); ``prange``
runs the parts, each with its own scratch allocated once.

Layout: a block is computed elementwise in the inputs' row-major order (contiguous: the
softplus/exp loops vectorise), then gathered into class-major planes ``E[c * R + r]``, so every
per-row reduction over the C classes is an elementwise loop across the R rows of the block. LLVM
vectorises those without reassociating floating-point sums (which it may not do without
fast-math); a reduction along a row would be a serial chain per row.

Accuracy: the row sums S = sum_c alpha_c and the variance's sum_c alpha_c (S - alpha_c)
accumulate in float64 (S - alpha_c is the sum of the other classes: in float32 a dominant class
would leave it to rounding); everything else computes in the inputs' dtype. The weighted fusion
sums w_m e_m in the reference's order (each term fused into the sum by an FMA: one rounding).

Bytes moved (each kernel reads its inputs once and writes its outputs once; times the item
size): efda M N C in, (M + 1) N out; fuse_* M N C in, N C out; dirichlet N C in, N out.

Modality logits arrive as an int64 array of buffer addresses (``Tensor.data_ptr``), each
viewed as a flat ``[N * C]`` array: one compiled kernel per dtype for any number of modalities
(a tuple of arrays would compile once per M). The caller keeps the tensors alive.

numba's on-disk cache checks only the file that defines a function: after editing
:mod:`.fastmath` (inlined here), delete this package's ``__pycache__/*.nbi``/``*.nbc``.
"""
from __future__ import annotations

import numpy as np
from numba import carray, njit, prange, types
from numba.extending import intrinsic

from ...reference.kmeanspp import BLOCK
from .fastmath import OPTS, as_float, log, softplus

PAR = {**OPTS, "parallel": True}
VARIANCE, VACUITY, ENTROPY = 0, 1, 2
BLOCK_ELEMENTS = 1 << 16


@intrinsic
def _pointer(typingctx, address, like):
    """An int64 buffer address as a pointer to ``like``'s dtype (for ``numba.carray``)."""
    if not (isinstance(address, types.Integer) and isinstance(like, types.Array)):
        return None

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(like.dtype)(address, like), codegen


@njit(**OPTS)
def _view(address, size, like):
    return carray(_pointer(address, like), size)


@njit(**OPTS)
def _block_rows(C, planes):
    """R: ``planes`` [C, R] scratch planes of 2^16 elements in all (256 KiB of float32, in L2),
    R a multiple of 16 in [16, 1024]."""
    return max(16, min(1024, (BLOCK_ELEMENTS // (C * planes)) // 16 * 16))


@njit(**OPTS)
def _xlogx(p, zero):
    """torch.special.xlogy(p, p): 0 at p = 0, NaN stays NaN."""
    return zero if p == zero else p * log(p)


# Helpers take array views and index them with range() counters: numba wraps negative indices
# (x[i] with i < 0 reads x[n + i]), and an index LLVM cannot prove non-negative (an offset
# passed as an argument) turns a contiguous load into a gather.
@njit(**OPTS)
def _gather_columns(src, rows, C, dst, R):
    """Row-major block src[r C + c] -> class-major plane dst[c R + r], r < rows."""
    for c in range(C):
        d, s = dst[c * R:c * R + rows], src[c:]
        for r in range(rows):
            d[r] = s[r * C]


@njit(**OPTS)
def _evidence_rows(z, T, tmp):
    """tmp[i] = softplus(z[i] / T): the reference's e = softplus(z / T), row-major."""
    for i in range(z.size):
        tmp[i] = softplus(z[i] / T)


@njit(**OPTS)
def _dirichlet_block(E, R, rows, C, shift, kind, S, acc, acc64, out):
    """out[r] = uncertainty of alpha_c = shift + E[c R + r] (a class-major plane), r < rows."""
    zero = as_float(0.0, E)
    for r in range(rows):
        S[r] = 0.0
    for c in range(C):
        e = E[c * R:c * R + rows]
        for r in range(rows):
            S[r] += shift + e[r]  # alpha rounded as the reference rounds it
    if kind == VACUITY:
        for r in range(rows):
            out[r] = C / S[r]
    elif kind == VARIANCE:  # per-term form (S^2 - sum a^2 would cancel), in float64: S - a_c
        for r in range(rows):  # is the sum of the other classes, small beside a dominant a_c
            acc64[r] = 0.0
        for c in range(C):
            e = E[c * R:c * R + rows]
            for r in range(rows):
                a = shift + e[r]
                acc64[r] += a * (S[r] - a)
        for r in range(rows):
            s = S[r]
            out[r] = acc64[r] / (s * s * (s + 1.0)) / C
    else:  # entropy of p = alpha / S
        for r in range(rows):
            acc[r] = zero
        for c in range(C):
            e = E[c * R:c * R + rows]
            for r in range(rows):
                acc[r] -= _xlogx(as_float((shift + e[r]) / S[r], E), zero)
        for r in range(rows):
            out[r] = acc[r]


@njit(**PAR)
def efda(addresses, n, C, w, t, kind, u_fused, u_modal, nparts):
    """u_fused[n], u_modal[M, n]: Dirichlet uncertainty of 1 + sum_m w_m e_m and of each 1 + e_m.

    Per block: each modality's evidence (row-major, then class-major plane m), the fused
    evidence plane accumulated as the reference sums it, then M + 1 row reductions. Alpha is
    never stored beyond the block."""
    M = addresses.shape[0]
    R = _block_rows(C, M + 2)
    plane = C * R
    nb = (n + R - 1) // R
    parts = min(nb, nparts)
    zero, one = as_float(0.0, u_fused), as_float(1.0, u_fused)
    for p in prange(parts):
        E = np.empty((M + 1) * plane, u_fused.dtype)
        tmp = np.empty(plane, u_fused.dtype)
        S, S2 = np.empty(R, np.float64), np.empty(R, np.float64)
        acc = np.empty(R, u_fused.dtype)
        Ef = E[M * plane:]
        for b in range(p * nb // parts, (p + 1) * nb // parts):
            r0 = b * R
            rows = min(R, n - r0)
            Ef[:] = zero
            for m in range(M):
                z = _view(addresses[m], n * C, u_fused)
                _evidence_rows(z[r0 * C:(r0 + rows) * C], t[m], tmp)
                Em = E[m * plane:(m + 1) * plane]
                _gather_columns(tmp, rows, C, Em, R)
                _axpy(w[m], Em, Ef)
            for m in range(M):
                _dirichlet_block(E[m * plane:], R, rows, C, one, kind, S, acc, S2, u_modal[m, r0:r0 + rows])
            _dirichlet_block(Ef, R, rows, C, one, kind, S, acc, S2, u_fused[r0:r0 + rows])


@njit(**OPTS)
def _axpy(a, x, y):
    """y += a x (the reference's running sum of w_m e_m)."""
    for i in range(y.size):
        y[i] += a * x[i]


@njit(**PAR)
def dirichlet(alpha, n, C, kind, out, nparts):
    """out[n]: uncertainty of the rows of alpha (flat [n * C])."""
    R = _block_rows(C, 1)
    nb = (n + R - 1) // R
    parts = min(nb, nparts)
    zero = as_float(0.0, out)
    for p in prange(parts):
        E = np.empty(C * R, out.dtype)
        S, S2 = np.empty(R, np.float64), np.empty(R, np.float64)
        acc = np.empty(R, out.dtype)
        for b in range(p * nb // parts, (p + 1) * nb // parts):
            r0 = b * R
            rows = min(R, n - r0)
            _gather_columns(alpha[r0 * C:(r0 + rows) * C], rows, C, E, R)
            _dirichlet_block(E, R, rows, C, zero, kind, S, acc, S2, out[r0:r0 + rows])


@njit(**PAR)
def fuse_weighted(addresses, n, C, w, t, out, nparts):
    """out[i] = 1 + sum_m w_m softplus(z_m[i] / T_m), elementwise over the flat [n * C]."""
    M = addresses.shape[0]
    size = n * C
    step = 4096
    nb = (size + step - 1) // step
    parts = min(nb, nparts)
    zero, one = as_float(0.0, out), as_float(1.0, out)
    for p in prange(parts):
        tmp = np.empty(step, out.dtype)
        for b in range(p * nb // parts, (p + 1) * nb // parts):
            lo, hi = b * step, min(size, (b + 1) * step)
            o = out[lo:hi]
            o[:] = zero
            for m in range(M):
                z = _view(addresses[m], size, out)
                _evidence_rows(z[lo:hi], t[m], tmp)
                _axpy(w[m], tmp[:hi - lo], o)
            for i in range(hi - lo):
                o[i] = one + o[i]



@njit(**OPTS)
def _flag_bad_rows(v, rows, C, one, S, bad):
    """bad[r] |= the opinion sum S = sum_c (1 + v[r C + c]) is not finite, summed in v's dtype as
    the reference's ds_combine sums it (there an inf or NaN S makes the whole row NaN)."""
    S[:rows] = 0.0
    for c in range(C):
        col = v[c:]
        for r in range(rows):
            S[r] += one + col[r * C]
    for r in range(rows):
        bad[r] = bad[r] or not (S[r] - S[r] == 0.0)


@njit(**OPTS)
def _ds_fold(acc, e, C):
    """acc <- acc + e + acc e / C: the DS combination of two evidences, 1 + e/C multiplying."""
    for i in range(e.size):
        acc[i] = acc[i] + e[i] + acc[i] * e[i] / C


@njit(**PAR)
def fuse_ds(addresses, n, C, t, out, nparts):
    """TMC's reduced Dempster-Shafer combination folded left, in closed form per class:
    1 + e/C = prod_m (1 + e_m/C), accumulated by _ds_fold (no cancellation); alpha = 1 + e.
    Rows whose combined opinions have a non-finite S are NaN, as in the reference."""
    M = addresses.shape[0]
    R = _block_rows(C, 2)
    nb = (n + R - 1) // R
    parts = min(nb, nparts)
    one, nan, Cf = as_float(1.0, out), as_float(np.nan, out), as_float(C, out)
    for p in prange(parts):
        acc = np.empty(C * R, out.dtype)
        tmp = np.empty(C * R, out.dtype)
        S = np.empty(R, out.dtype)
        bad = np.empty(R, np.bool_)
        for b in range(p * nb // parts, (p + 1) * nb // parts):
            r0 = b * R
            rows = min(R, n - r0)
            size = rows * C
            bad[:rows] = False
            for m in range(M):
                z = _view(addresses[m], n * C, out)
                _evidence_rows(z[r0 * C:r0 * C + size], t[m], tmp[:size])
                if M > 1:  # every opinion the reference combines
                    _flag_bad_rows(tmp, rows, C, one, S, bad)
                if m == 0:
                    acc[:size] = tmp[:size]
                    continue
                _ds_fold(acc, tmp[:size], Cf)
                if m < M - 1:  # the running opinion is combined again
                    _flag_bad_rows(acc, rows, C, one, S, bad)
            o = out[r0 * C:r0 * C + size]
            for i in range(size):
                o[i] = one + acc[i]
            for r in range(rows):
                if bad[r]:
                    o[r * C:(r + 1) * C] = nan


# ---------------------------------------------------------------- the serial D^2 step
@njit(cache=True)
def d2_pick(D, block_sum, picked, u):
    """The D^2 pick of :mod:`rlmba.reference.kmeanspp` from the block sums of D (= w): the first i
    whose prefix sum exceeds u * total, the prefix at point i of block k being (block sums
    0..k-1, added in order) + (D sum of block k up to i), the very sums whose last terms make the
    total. Used by k-means++ and by BADGE/BMMAL. Returns -1 only for an inconsistent state."""
    N = D.shape[0]
    total = 0.0
    for k in range(block_sum.shape[0]):
        total += block_sum[k]
    if not total > 0.0:  # only duplicates of picks remain: the lowest-index unpicked point
        for i in range(N):
            if not picked[i]:
                return i
        return -1
    target = u * total
    offset = 0.0
    for k in range(block_sum.shape[0]):
        if offset + block_sum[k] > target:
            w = 0.0
            for i in range(k * BLOCK, min(N, k * BLOCK + BLOCK)):
                w += D[i]
                if offset + w > target:
                    return i
        offset += block_sum[k]
    for i in range(N - 1, -1, -1):  # rounding left u * total past every prefix
        if D[i] > 0.0:
            return i
    return -1
