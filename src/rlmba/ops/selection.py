"""Selection of a batch from a scored or embedded pool: top-b and k-center greedy (Core-set).

Each op validates its inputs, picks a backend (:mod:`rlmba._dispatch`), and calls it; numpy in
gives numpy out. Tie rule everywhere: equal values -> the lower index first. No index is ever
returned twice.

Backend contract (inputs already validated and laid out here; every backend must return exactly
what the reference in :mod:`rlmba.reference.selection` returns, up to floating-point rounding of
distances, and the same result for any thread count):

=================  ===============================================  ================================
op                 arguments                                        returns
=================  ===============================================  ================================
topb_select        x [n] contiguous float32|float64; 1 <= b <= n;   int64 [min(b, #non-NaN in x)]
                   largest: bool                                    local indices, best first
k_center_greedy    a KCenter class (:mod:`rlmba.backends.kcenter`),     its primitives; :func:`greedy`
                   called as cls(pool [N, D] rows contiguous,       runs the set-up and the picks
                   metric)
=================  ===============================================  ================================

- topb_select: best = largest (or smallest) value, ties -> lower index, -0.0 == +0.0, NaN never
  selected. Called once per chunk of the scores; this module merges the chunks' candidates.
- k_center_greedy: compute dtype float32 (half and float32 pools) or float64. Centers start as
  the labeled rows and the excluded rows; each pick is the non-excluded row with the largest
  distance to its nearest center (ties: lowest index), which then becomes a center. Distances:
  euclidean |x - c|^2; cosine 1 - cos(x, c). With L = 0 and E = 0 the first pick is the row
  farthest (squared Euclidean, in the metric's space: x, or x / |x|) from the pool mean (the
  float64 mean, rounded to the compute dtype). The pool is finite, and for cosine no row (nor
  labeled row) has norm 0. Memory: O(N) beyond the inputs (never N x N, never N x L).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from .. import _checks as chk
from .._dispatch import declare_op, dispatch
from ..reference.selection import METRICS, pool_mean

__all__ = ["topb_select", "k_center_greedy"]

declare_op("topb_select")
declare_op("k_center_greedy", ("dtype", "metric"))

TOPB_CHUNK = 1 << 24  # scores per backend call: bounds what a memmap or the torch sort holds


# ================================================================ top-b
def _score_chunks(scores, chunk_size: int):
    """(offset, 1-D tensor) pairs from a tensor, a numpy array / memmap, or an iterable of pairs."""
    if isinstance(scores, (torch.Tensor, np.ndarray)):
        if scores.ndim != 1:
            raise ValueError(f"scores: expected a 1-D tensor [N], got shape {tuple(scores.shape)}")
        for i in range(0, scores.shape[0], chunk_size):  # a memmap is read one chunk at a time
            yield i, chk.as_tensor(scores[i:i + chunk_size], "scores")
        return
    if isinstance(scores, (str, bytes)) or not isinstance(scores, Iterable):
        raise TypeError("scores: expected a 1-D tensor, a numpy array (memmaps included) or an iterable "
                        f"of (offset, chunk) pairs, got {type(scores).__name__}")
    for item in scores:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"scores: an iterable must yield (offset, chunk) pairs, got {type(item).__name__}")
        offset, chunk = item
        offset = chk.check_count(offset, "scores (chunk offset)", 0)
        t = chk.as_tensor(chunk, "scores (chunk)")
        if t.ndim != 1:
            raise ValueError(f"scores: chunk at offset {offset} is not 1-D (shape {tuple(t.shape)})")
        for i in range(0, t.shape[0], chunk_size):
            yield offset + i, t[i:i + chunk_size]


def _merge(best, values: torch.Tensor, idx: torch.Tensor, b: int, largest: bool):
    """Best b of two candidate sets by (value, then lower index): sort by index, then stably by value."""
    if best is not None:
        values, idx = torch.cat([best[0], values]), torch.cat([best[1], idx])
    by_index = torch.argsort(idx)
    values, idx = values[by_index], idx[by_index]
    order = torch.sort(values, descending=largest, stable=True).indices[:b]
    return values[order], idx[order]


def topb_select(scores, b: int, largest: bool = True, *, chunk_size: int = TOPB_CHUNK, backend=None):
    """Indices of the ``b`` best scores, best first: int64 ``[b]``.

    ``scores``: a 1-D tensor or numpy array (a read-only ``numpy.memmap`` works: it is read
    chunk by chunk), or an iterable of ``(offset, chunk)`` pairs covering disjoint index ranges
    (pools of 10^9 scores that never sit in memory at once). Any floating dtype; float16 and
    bfloat16 compare as the float32 values they are.

    Best = largest (``largest=False``: smallest). Ties: equal scores -> lower index first, the
    first b of a stable sort (-0.0 equals +0.0). NaN is never selected.

    Returns a torch tensor on the scores' device (numpy for a numpy array or memmap).
    Raises ValueError if fewer than b scores are non-NaN, for overlapping chunks, or for b < 1.

    Example::

        picks = rlmba.topb_select(q, 1000)            # q: [N] acquisition scores
    """
    b = chk.check_count(b, "b", 1)
    chunk_size = chk.check_count(chunk_size, "chunk_size", 1)
    if not isinstance(largest, bool):
        raise TypeError(f"largest: expected a bool, got {type(largest).__name__}")
    best, spans, device, was_numpy = None, [], None, isinstance(scores, np.ndarray)
    for offset, t in _score_chunks(scores, chunk_size):
        chk.check_float(t, "scores")
        if device is not None and t.device != device:
            raise ValueError(f"scores: chunk at offset {offset} is on {t.device}, earlier chunks on {device}")
        device = t.device
        spans.append((offset, offset + t.shape[0]))
        if t.shape[0] == 0:
            continue
        t = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t.contiguous()
        fn = dispatch("topb_select", t.device.type, backend, dtype=t.dtype)
        local = fn(t, min(b, t.shape[0]), largest)
        values, idx = t[local].double() + 0.0, local + offset
        best = (values, idx) if best is None else _merge(best, values, idx, b, largest)
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError(f"scores: chunks overlap (one ends at {end}, the next starts at {start})")
    count = 0 if best is None else best[1].shape[0]
    if count < b:
        raise ValueError(f"scores: only {count} non-NaN scores, fewer than b = {b}")
    return best[1].numpy() if was_numpy else best[1]


# ================================================================ k-center greedy
def _labeled(labeled, x: torch.Tensor, metric: str):
    """(labeled rows [L, D] in the compute dtype, excluded pool indices [E] sorted unique)."""
    N, D = x.shape
    cdtype = chk.compute_dtype(x.dtype)
    none = torch.empty(0, dtype=torch.int64, device=x.device)
    if labeled is None:
        return torch.empty(0, D, dtype=cdtype, device=x.device), none
    if isinstance(labeled, (list, tuple, range)):
        arr = np.asarray(labeled)
        labeled = torch.as_tensor(arr if arr.size and arr.dtype == np.bool_ else arr.astype(np.int64).reshape(-1))
    t = chk.as_tensor(labeled, "labeled").to(x.device)
    if t.dtype == torch.bool:
        if t.shape != (N,):
            raise ValueError(f"labeled: a boolean mask must have shape [N] = [{N}], got {tuple(t.shape)}")
        t = torch.nonzero(t).squeeze(1)
    if t.ndim == 1 and not t.dtype.is_floating_point and not t.dtype.is_complex:
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= N):
            raise ValueError(f"labeled: indices must lie in [0, N) = [0, {N}), got min {int(t.min())}, "
                             f"max {int(t.max())}")
        exclude = torch.unique(t.to(torch.int64))
        if exclude.numel() == N:
            raise ValueError(f"labeled: covers all N = {N} pool rows; nothing is left to select")
        return chk.row_contiguous(x[exclude].to(cdtype)), exclude
    chk.check_float(t, "labeled")
    if t.ndim != 2 or t.shape[1] != D:
        raise ValueError(f"labeled: expected pool indices [L] or features [L, D] with D = {D}, got shape "
                         f"{tuple(t.shape)}")
    chk.check_finite(t, "labeled", nonzero_rows=metric == "cosine")
    return chk.row_contiguous(t.to(cdtype)), none


def k_center_greedy(pool, b: int, labeled=None, metric: str = "euclidean", *, backend=None):
    """Core-set k-center greedy (Sener & Savarese, ICLR 2018): ``b`` pool indices, pick order.

    Each pick is the pool row farthest from its nearest center, then becomes a center:
    ``argmax_i min_c d(x_i, c)`` over centers c = the labeled rows and the earlier picks.
    Ties: lowest index. With no labeled set, the first pick is the row farthest from the pool
    mean. ``metric``: ``"euclidean"`` or ``"cosine"`` (1 - cos).

    ``pool``: ``[N, D]``, float16 / bfloat16 (stored as is: half the bytes per pick, computed in
    float32) / float32 / float64. ``labeled``: None; pool indices ``[L]`` (ints, or a boolean
    mask ``[N]``): those rows are centers and are never picked; or features ``[L, D]`` of
    labeled points outside the pool: centers only. The covering radius of labeled + picks is the
    k-center objective (see :func:`rlmba.reference.selection.covering_radius`).

    Raises ValueError for NaN/inf in pool or labeled, a non-2-D pool, mismatched D, labeled
    indices out of range or covering the whole pool, b outside [1, N - #labeled pool rows],
    and (cosine) all-zero rows.

    Example::

        picks = rlmba.k_center_greedy(feats, 100, labeled=labeled_idx)
    """
    x = chk.float_matrix(pool, "pool")
    chk.check_choice(metric, METRICS, "metric")
    chk.check_finite(x, "pool", nonzero_rows=metric == "cosine")
    lab, exclude = _labeled(labeled, x, metric)
    free = x.shape[0] - exclude.numel()
    b = chk.check_count(b, "b", 1, free, "the unlabeled pool rows")
    primitives = dispatch("k_center_greedy", x.device.type, backend, dtype=x.dtype, metric=metric)
    out = greedy(primitives(chk.row_contiguous(x), metric), b, lab, exclude)
    return chk.numpy_out(out, isinstance(pool, np.ndarray))


def greedy(kc, b: int, labeled: torch.Tensor, exclude: torch.Tensor) -> torch.Tensor:
    """k-center greedy with one backend's primitives ``kc`` (:class:`rlmba.backends.kcenter.KCenter`):
    the set-up every backend shares, then ``b`` picks.

    ``mind`` (distance to the nearest centre) starts at +inf, or at the distance to the labeled
    rows ``[L, D]``; the excluded pool rows ``[E]`` (centres already) go to -inf. The first pick is
    the arg-max of ``mind`` (the lowest index among equals), or, with no centres at all, the row
    farthest from the pool mean (:func:`rlmba.reference.selection.pool_mean`).
    """
    mind = torch.full((kc.pool.shape[0],), float("inf"), dtype=kc.dtype, device=kc.pool.device)
    if labeled.shape[0]:
        kc.labeled_min(labeled, mind)
    mind[exclude] = float("-inf")
    if labeled.shape[0] or exclude.numel():
        first = int(torch.argmax(mind))  # first maximum: lowest index
    else:
        first = kc.farthest(pool_mean(kc.pool, kc.metric))
    return kc.picks(mind, first, b)
