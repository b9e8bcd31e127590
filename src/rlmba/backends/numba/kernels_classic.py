"""numba kernels of the classic class-probability scores: entropy, margin and least confidence
in one pass (``class_scores``), and BALD's mutual information (``bald``). Block machinery,
grid mapping and layout as in :mod:`.kernels`: R-row blocks gathered into class-major planes, so
per-row reductions are elementwise loops across the block's rows.

Bytes moved (times the item size): class_scores N C in, 3 N out; bald S N C in, N out.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .fastmath import OPTS, as_float, exp, log
from .kernels import PAR, _block_rows, _gather_columns, _view, _xlogx


@njit(**OPTS)
def _top2(X, R, rows, C, t1, t2):
    """Largest and second largest of each row of a class-major plane (a repeated maximum counts
    twice; NaN is skipped here and handled by the callers)."""
    t1[:rows] = -np.inf
    t2[:rows] = -np.inf
    for c in range(C):
        x = X[c * R:c * R + rows]
        for r in range(rows):
            v, a, b = x[r], t1[r], t2[r]
            t2[r] = a if v > a else (v if v > b else b)
            t1[r] = v if v > a else a


@njit(**OPTS)
def _softmax_scores(X, R, rows, C, t1, t2, S, acc, ent, mar, lc):
    """From logits: p = e / s, e_c = exp(d_c), d_c = x_c - max. Entropy = log s - sum_c p_c d_c
    (both terms >= 0, no cancellation); a masked class (e = 0, d = -inf) adds nothing. A NaN or
    +inf logit, or an all -inf row, makes d NaN and with it every score of the row."""
    zero = as_float(0.0, X)
    S[:rows] = 0.0
    acc[:rows] = zero
    for c in range(C):
        x = X[c * R:c * R + rows]
        for r in range(rows):
            d = x[r] - t1[r]
            e = exp(d)
            S[r] += e
            acc[r] += zero if e == zero else e * d
    for r in range(rows):
        s = S[r]
        ent[r] = log(s) - acc[r] / s
        mar[r] = (1.0 - exp(t2[r] - t1[r])) / s  # (e_(1) - e_(2)) / s with e_(1) = exp(0) = 1
        lc[r] = (s - 1.0) / s


@njit(**OPTS)
def _prob_scores(X, R, rows, C, t1, t2, flag, acc, ent, mar, lc):
    """From probabilities: entropy -sum xlogy(p, p); torch.topk ranks NaN above every number, so a
    NaN in the row makes margin and least confidence NaN (flag is 0 or NaN)."""
    zero = as_float(0.0, X)
    acc[:rows] = zero
    flag[:rows] = zero
    for c in range(C):
        x = X[c * R:c * R + rows]
        for r in range(rows):
            v = x[r]
            acc[r] -= _xlogx(v, zero)
            flag[r] = v if v != v else flag[r]
    for r in range(rows):
        ent[r] = acc[r]
        mar[r] = t1[r] - t2[r] + flag[r]
        lc[r] = 1.0 - t1[r] + flag[r]


@njit(**PAR)
def class_scores(x, n, C, from_logits, out, nparts):
    """out[3, n]: entropy, margin p_(1) - p_(2), least confidence 1 - p_(1) of the rows of x."""
    R = _block_rows(C, 1)
    nb = (n + R - 1) // R
    parts = min(nb, nparts)
    for p in prange(parts):
        X = np.empty(C * R, out.dtype)
        t1, t2 = np.empty(R, out.dtype), np.empty(R, out.dtype)
        acc, flag = np.empty(R, out.dtype), np.empty(R, out.dtype)
        S = np.empty(R, np.float64)
        for b in range(p * nb // parts, (p + 1) * nb // parts):
            r0 = b * R
            rows = min(R, n - r0)
            _gather_columns(x[r0 * C:(r0 + rows) * C], rows, C, X, R)
            _top2(X, R, rows, C, t1, t2)
            ent, mar, lc = out[0, r0:r0 + rows], out[1, r0:r0 + rows], out[2, r0:r0 + rows]
            if from_logits:
                _softmax_scores(X, R, rows, C, t1, t2, S, acc, ent, mar, lc)
            else:
                _prob_scores(X, R, rows, C, t1, t2, flag, acc, ent, mar, lc)


@njit(**OPTS)
def _bald_accumulate(p, msum, xl, zero):
    for i in range(p.size):
        v = p[i]
        msum[i] += v
        xl[i] += _xlogx(v, zero)


@njit(**PAR)
def bald(address, samples, stride, n, C, out, nparts):
    """out[n] = H(mean_s p_s) - mean_s H(p_s) = sum_c [mean_s xlogy(p_sc) - xlogy(pbar_c)], with
    p_s the rows of sample s at address + s * stride (elements), rows contiguous."""
    P = _view(address, (samples - 1) * stride + n * C, out)
    R = _block_rows(C, 2)
    nb = (n + R - 1) // R
    parts = min(nb, nparts)
    zero, Sf = as_float(0.0, out), as_float(samples, out)
    for p in prange(parts):
        msum = np.empty(C * R, out.dtype)
        xl = np.empty(C * R, out.dtype)
        acc = np.empty(R, out.dtype)
        for b in range(p * nb // parts, (p + 1) * nb // parts):
            r0 = b * R
            rows = min(R, n - r0)
            size = rows * C
            msum[:size] = zero
            xl[:size] = zero
            for s in range(samples):
                o = s * stride + r0 * C
                _bald_accumulate(P[o:o + size], msum, xl, zero)
            for i in range(size):
                xl[i] = xl[i] / Sf - _xlogx(msum[i] / Sf, zero)
            acc[:rows] = zero
            for c in range(C):
                col = xl[c:]
                for r in range(rows):
                    acc[r] += col[r * C]
            out[r0:r0 + rows] = acc[:rows]
