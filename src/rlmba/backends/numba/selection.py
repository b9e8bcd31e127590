"""The numba backend of the selection ops (:mod:`rlmba.ops.selection`): top-b and k-center greedy.

Inputs follow the contract in :mod:`rlmba.ops.selection`: a validated, contiguous float32 or
float64 CPU tensor per chunk, viewed through ``Tensor.numpy()`` without a copy.

top-b is a selection, not a sort: a radix select on unsigned rank keys (the IEEE bits made
monotone, as in csrc/include/rlmba/select.h). One histogram pass of the keys' top 16 bits finds
the bin of the b-th best key (a pass over the next 16 bits of that bin's keys only when it is
crowded), one ordered pass keeps every key better than the bin and the bin's keys (the first,
lowest-index ones when the bin is a single key), and only those ~b are partitioned and sorted
(stable, so ties stay in index order). The scores are only read, typically twice; the extra
memory is 2 x 2^16 counters + O(b + 2^14) candidates, whatever n. The result is the first b of
the reference's stable sort exactly, for any thread count (the kernel is serial: each pass is
memory-bound and a chunk is at most 2^24 scores by default).
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ..._checks import NATIVE_DTYPES
from ..._dispatch import implements
from ...reference.selection import REFINE_RTOL, TILE_ELEMENTS, dist_to_set, embed
from ..kcenter import KCenter



# Digits of the radix select: 16 bits, so a histogram is 2 x 2^16 uint32 counters (512 KiB,
# L2-resident) and a float32 key has 2 levels, a float64 key 4.
DIGIT_BITS = 16
NBINS = 1 << DIGIT_BITS
# In-bin keys the ordered pass may buffer (besides b) rather than pay one more level's pass.
BIN_CAP = 1 << 14
# Keys per hit test of the ordered pass (one vectorised compare-and-count per block).
BLOCK = 64
# Above this many scores the counters are int64 (uint32 holds n / 2 per copy up to here).
KERNEL_MAX_N = 1 << 32

# Hot loops index with np.uintp: numba then emits no negative-index wraparound, which would
# otherwise turn the vectorised block loop into gathers (4x slower).


@njit(inline="always")
def _rank_key(w, top, inf, ones, flip):
    """Rank key of the IEEE bits w (uint32 / uint64, as the scores): smaller = better, as uint64.

    The bits are made monotone in the value (negative: flip all bits; non-negative: set the
    sign bit), then complemented for largest (flip = all ones), so the best score gets the
    smallest key. -0.0 (the sign bit alone) is read as +0.0 first: the zeros are one key. NaN
    (exponent all ones, mantissa non-zero) -> all ones, whose top 16 bits 0xffff no other score
    has (the infinities map to 0x007f... and 0xff80..., float64: 0x000f... and 0xfff0...), so
    the count of top digit 0xffff is the NaN count and NaN is never selected.
    Only ^ & | on operands of w's type: numba widens ~ of a uint32 to int64.
    """
    w = w ^ w if w == top else w
    k = (w ^ ones if w & top else w | top) ^ flip
    if (w & (top ^ ones)) > inf:
        k = ones
    return np.uint64(k)


@njit(inline="always")
def _block_hits(u, i0, top, inf, ones, flip, lo, span):
    """Keys in [lo, lo + span] among the BLOCK keys from i0: one vectorised count (unsigned
    wrap-around makes the range test one compare)."""
    hits = 0
    for j in range(BLOCK):
        hits += _rank_key(u[np.uintp(i0 + j)], top, inf, ones, flip) - lo <= span
    return hits


@njit(cache=True)
def _top_hist(u, top, inf, ones, flip, shift, count):
    """Level 1: histogram [2 * NBINS] of the top 16 bits (key >> shift) of every key, in two
    copies for even and odd i, so a run of equal digits (sorted input) alternates between two
    counters. Moves: one read of the scores (a scattered increment per score, L2-resident)."""
    h = np.zeros(2 * NBINS, dtype=count.dtype)
    n, nb = u.shape[0], np.uintp(NBINS)
    for i in range(0, n - 1, 2):
        k0 = _rank_key(u[np.uintp(i)], top, inf, ones, flip)
        k1 = _rank_key(u[np.uintp(i + 1)], top, inf, ones, flip)
        h[np.uintp(k0 >> shift)] += 1
        h[nb + np.uintp(k1 >> shift)] += 1
    if n & 1:
        h[np.uintp(_rank_key(u[np.uintp(n - 1)], top, inf, ones, flip) >> shift)] += 1
    return h


@njit(cache=True)
def _bin_hist(u, top, inf, ones, flip, lo, span, shift, count):
    """Next level: the same histogram of the digit (key >> shift) & 0xffff over the keys in the
    bin [lo, lo + span] only. Blocks without one are skipped after a vectorised hit test, so a
    small bin costs little more than one streaming read."""
    h = np.zeros(2 * NBINS, dtype=count.dtype)
    mask, n = np.uint64(NBINS - 1), u.shape[0]
    for i0 in range(0, n, BLOCK):
        if i0 + BLOCK <= n and _block_hits(u, i0, top, inf, ones, flip, lo, span) == 0:
            continue
        for i in range(i0, min(i0 + BLOCK, n)):
            k = _rank_key(u[np.uintp(i)], top, inf, ones, flip)
            if k - lo <= span:
                h[(np.uintp(i & 1) << np.uintp(DIGIT_BITS)) | np.uintp((k >> shift) & mask)] += 1
    return h


@njit(inline="always")
def _find_bin(h, need):
    """First digit d whose running count reaches need: (d, count below d, count of d)."""
    below = 0
    for d in range(NBINS):
        cd = np.int64(h[d]) + np.int64(h[NBINS + d])
        if below + cd >= need:
            return d, below, cd
        below += cd
    return NBINS - 1, below, 0  # not reached: need <= the total count


@njit(cache=True)
def _collect(u, top, inf, ones, flip, lo, hi, take, size):
    """Ordered pass: (keys, indices) of every key < lo and of the first `take` keys in [lo, hi],
    in index order, `size` in all (the caller's counts). Each block of BLOCK keys is first
    tested with a vectorised count of keys <= hi; only blocks with a hit are scanned. Stops
    once `size` are kept (all-equal scores: after the first b)."""
    ck = np.empty(size, dtype=np.uint64)
    ci = np.empty(size, dtype=np.int64)
    c = taken = 0
    n, zero = u.shape[0], np.uint64(0)
    for i0 in range(0, n, BLOCK):
        if i0 + BLOCK <= n and _block_hits(u, i0, top, inf, ones, flip, zero, hi) == 0:
            continue
        for i in range(i0, min(i0 + BLOCK, n)):
            k = _rank_key(u[np.uintp(i)], top, inf, ones, flip)
            if k <= hi and (k < lo or taken < take):
                taken += k >= lo
                ck[c], ci[c] = k, i
                c += 1
        if c == size:
            break
    return ck, ci


@njit(cache=True)
def _threshold_filter(ck, ci, lo, r):
    """Keep, in place and in index order, every key < lo (better than the bin) and the r best
    keys >= lo (in the bin): those < t, then the first keys == t, t being the r-th best in-bin
    key (np.partition of a copy of the in-bin keys). Returns the kept count."""
    bk = ck[ck >= lo]
    t = np.partition(bk, r - 1)[r - 1]
    ties = r - np.sum(bk < t)  # keys == t that fit, lowest index first
    keep = 0
    for q in range(ck.shape[0]):
        k = ck[q]
        if k < t or (k == t and ties > 0):
            ties -= k == t
            ck[keep], ci[keep] = k, ci[q]
            keep += 1
    return keep


@njit(cache=True)
def _topb_kernel(u, b, top, inf, ones, flip, kbits, count):
    """Local indices of the min(b, #non-NaN) best of the scores with IEEE bits u [n], best first.

    Radix select on rank keys (_rank_key; kbits = 32 or 64): a histogram of the top 16 bits
    gives the bin holding the need-th best key, with `better` keys below it and `inbin` in it.
    While the bin holds more than max(BIN_CAP, need) keys and key bits are left, one more pass
    histograms the next 16 bits of the keys in the bin. The ordered pass then keeps the keys
    below the bin and the in-bin keys (at full key width the bin is one key t: only its first
    need - better, lowest index first); if more were kept, the exact threshold among the in-bin
    keys is found by partition. The need kept keys are sorted stably by key (ties stay in index
    order): the first b of a stable sort of the non-NaN scores. count: an empty array whose
    dtype is the counters'.
    Moves (the scores are only read): 2 reads when the b-th best key's top-16-bit bin holds at
    most max(BIN_CAP, b) keys (random normal scores), one more per refined level otherwise
    (float32 at most 3, float64 at most 5; the ordered pass of all-equal scores reads a prefix).
    Extra memory: 2 x 2^16 counters (512 KiB) + at most 2b + BIN_CAP (key, index) pairs.
    """
    zero, one, digit = np.uint64(0), np.uint64(1), np.uint64(DIGIT_BITS)
    shift = np.uint64(kbits) - digit
    h = _top_hist(u, top, inf, ones, flip, shift, count)
    nan = np.int64(h[NBINS - 1]) + np.int64(h[2 * NBINS - 1])  # top digit 0xffff: NaN only
    need = min(b, u.shape[0] - nan)
    if need <= 0:
        return np.empty(0, dtype=np.int64)
    d, better, inbin = _find_bin(h, need)
    lo = np.uint64(d) << shift  # the bin: keys in [lo, lo + 2^shift)
    while inbin > max(BIN_CAP, need) and shift > zero:
        h = _bin_hist(u, top, inf, ones, flip, lo, (one << shift) - one, shift - digit, count)
        shift -= digit
        d, below, inbin = _find_bin(h, need - better)
        better += below
        lo |= np.uint64(d) << shift
    r = need - better  # in-bin keys wanted
    take = r if shift == zero else inbin
    ck, ci = _collect(u, top, inf, ones, flip, lo, lo | ((one << shift) - one), take, better + take)
    c = need if take == r else _threshold_filter(ck, ci, lo, r)
    order = np.argsort(ck[:c], kind="mergesort")  # stable: equal keys keep index order
    return ci[:c][order]


# (bits view, sign bit, +inf bits, all ones, key bits) per score dtype
_BITS = {np.dtype(np.float32): (np.uint32, np.uint32(1 << 31), np.uint32(0x7F800000),
                                np.uint32(0xFFFFFFFF), 32),
         np.dtype(np.float64): (np.uint64, np.uint64(1 << 63), np.uint64(0x7FF0000000000000),
                                np.uint64(0xFFFFFFFFFFFFFFFF), 64)}


def _topb_numpy(x: np.ndarray, b: int, largest: bool) -> np.ndarray:
    """The kernel on the bits of x (a view, no copy); largest: flip = all ones."""
    view, top, inf, ones, kbits = _BITS[x.dtype]
    count = np.empty(0, np.uint32 if x.shape[0] <= KERNEL_MAX_N else np.int64)
    return _topb_kernel(x.view(view), b, top, inf, ones, ones if largest else ones ^ ones, kbits, count)


@implements("topb_select", "numba", dtypes=NATIVE_DTYPES)
def topb_select(x, b, largest):
    return torch.from_numpy(_topb_numpy(x.numpy(), int(b), bool(largest)))


# ================================================================ k-center greedy
# Row blocks of the per-pick pass: a fixed count of fixed-size blocks (not one per thread), so
# the arg-max combine, and hence the pick, is the same for any thread count.
KC_BLOCK = 4096



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
def _kc_update(x, norm, sq, mind, c, c_sq, cosine, rtol, bmax, barg):
    """Fold the embedded centre c (|c|^2 = c_sq) into mind: every row block (one prange
    iteration) keeps its first arg-max, then a serial pass over the block maxima (strictly
    greater wins: lowest index). Returns (max of mind, its index). Moves: reads the pool [N, D]
    once, reads/writes mind [N]."""
    _kc_pass(x, norm, sq, mind, c, c_sq, cosine, rtol, bmax, barg)
    best, pick = bmax[0], barg[0]
    for blk in range(1, bmax.shape[0]):
        if bmax[blk] > best:
            best, pick = bmax[blk], barg[blk]
    return best, pick


@njit(cache=True)
def _kc_picks(x, norm, sq, mind, first, b, cosine, rtol, out):
    """b greedy picks starting at row ``first``; the centre of a pick is its embedded row."""
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
        best, pick = _kc_update(x, norm, sq, mind, c, sq[pick], cosine, rtol, bmax, barg)
        if best == -np.inf:
            return step + 1
    return b


@njit(cache=True)
def _sq_norm(c):
    """|c|^2, summed in order (as _kc_prepare sums a row)."""
    s = c[0] - c[0]
    for d in range(c.shape[0]):
        s += c[d] * c[d]
    return s


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
def _kc_far(x, norm, point):
    """The embedded row farthest (squared, direct form) from the embedded point; the arg-max is
    taken serially (lowest index)."""
    N, D = x.shape
    far = np.empty(N, dtype=norm.dtype)
    for i in prange(N):
        s = norm[i] - norm[i]
        for d in range(D):
            e = x[i, d] / norm[i] - point[d]
            s += e * e
        far[i] = s
    return np.argmax(far)  # first maximum


def _kc_labeled_min(pool, norm, lab, metric, mind):
    """mind = distance to the nearest labeled row: the reference's tiled GEMM + refine
    (torch BLAS), one tile of embedded pool rows at a time, so no N x L matrix and no N x D copy."""
    lab = embed(lab, metric)
    step = max(1, TILE_ELEMENTS // lab.shape[0])
    for i in range(0, pool.shape[0], step):
        xt = pool[i:i + step] / norm[i:i + step, None] if metric == "cosine" else pool[i:i + step]
        torch.minimum(mind[i:i + step], dist_to_set(xt, (xt * xt).sum(1), lab, metric), out=mind[i:i + step])


@implements("k_center_greedy", "numba", dtypes=NATIVE_DTYPES)
class NumbaKCenter(KCenter):
    """float32/float64 pools read in place (a half pool would need an N x D float32 copy, against
    the O(N) memory contract). Cosine rows are divided by the reference's norms: the same x / |x|."""

    def __init__(self, pool, metric):
        super().__init__(pool, metric)
        N = pool.shape[0]
        self.norm = torch.linalg.vector_norm(pool, dim=1) if self.cosine else torch.ones(N, dtype=pool.dtype)
        self.sq = torch.empty(N, dtype=pool.dtype)
        _kc_prepare(pool.numpy(), self.norm.numpy(), self.cosine, self.sq.numpy())
        nblk = (N + KC_BLOCK - 1) // KC_BLOCK
        self.bmax, self.barg = np.empty(nblk, dtype=self.sq.numpy().dtype), np.empty(nblk, dtype=np.int64)

    def centre(self, i):
        return self.pool[i] / self.norm[i]

    def labeled_min(self, labeled, mind):
        _kc_labeled_min(self.pool, self.norm, labeled, self.metric, mind)

    def farthest(self, point):
        return int(_kc_far(self.pool.numpy(), self.norm.numpy(), point.contiguous().numpy()))

    def update(self, mind, c):
        c = c.contiguous().numpy()
        best, pick = _kc_update(self.pool.numpy(), self.norm.numpy(), self.sq.numpy(), mind.numpy(), c, _sq_norm(c),
                                self.cosine, REFINE_RTOL, self.bmax, self.barg)
        return float(best), int(pick)

    def picks(self, mind, first, b):
        out = torch.empty(b, dtype=torch.int64)
        done = _kc_picks(self.pool.numpy(), self.norm.numpy(), self.sq.numpy(), mind.numpy(), first, int(b),
                         self.cosine, REFINE_RTOL, out.numpy())
        if done < b:
            raise ValueError(f"b: only {done} rows can be picked, b = {b}")
        return out
