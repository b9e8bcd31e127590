"""k-means++ D^2 sampling (Arthur & Vassilvitskii, SODA 2007): the one rule behind
``kmeans_plusplus``, ``badge_select`` and ``bmmal_select``, and the vocabulary every backend uses.

- **w**: per row, the squared distance to its nearest pick (0 at picks and their duplicates).
- **u**: the float64 uniforms in [0, 1) the op drew from the caller's generator, one per pick.
- **first pick**: ``kmeans_plusplus`` takes row floor(u[0] N) (:func:`uniform_pick`); BADGE and BMMAL
  take the largest gradient norm.
- **D^2 pick** (:func:`d2_pick`): the first row whose prefix sum of w exceeds u * total.

The float64 prefix sums have one order, followed bit for bit by every backend and thread count:
sequential within blocks of ``BLOCK`` rows (Q), block ends O_b = O_{b-1} + Q_last(b) summed
sequentially, P_i = O_{b-1} + Q_i (O_{-1} = 0). P never decreases and P_i > P_{i-1} only when
w_i > 0, so the pick has w > 0. Rounding can leave u * total >= every P (u close to 1): then the
last row with w > 0. total == 0 (every row duplicates a pick): the lowest unpicked row.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 2048  # rows per block of the fixed-order float64 prefix sums


def uniform_pick(u: float, n: int) -> int:
    """The first pick of k-means++: row floor(u n), clamped to the last row."""
    return min(n - 1, int(u * n))


def d2_pick(w: torch.Tensor, u: float, picked: torch.Tensor) -> int:
    """One D^2-sampling step over w [N] (any float dtype, summed in float64) with the uniform u;
    ``picked`` [N] bool marks the earlier picks (for the total == 0 fallback)."""
    n = w.shape[0]
    q = F.pad(w.to(torch.float64), (0, (-n) % BLOCK)).view(-1, BLOCK).cumsum(1)  # sequential per row
    ends = q[:, -1].cumsum(0)
    total = ends[-1]
    if not total > 0:
        return int(torch.nonzero(~picked)[0])
    prefix = (q + F.pad(ends[:-1], (1, 0))[:, None]).view(-1)[:n]
    i = int(torch.searchsorted(prefix, u * total, right=True))
    return i if i < n else int(torch.nonzero(w > 0)[-1])
