"""The primitives a backend provides for k-center greedy (Core-set), and their default forms.

:func:`rlmba.ops.selection.greedy` runs the algorithm, the same for every backend: the
min-distance vector ``mind`` starts at +inf (or the distance to the labeled rows,
:meth:`KCenter.labeled_min`), excluded rows hold -inf, the first pick is the arg-max of ``mind``
(or, with no centres at all, :meth:`KCenter.farthest` from the pool mean), then :meth:`KCenter.picks`.
A backend registers a subclass of :class:`KCenter` as its ``k_center_greedy`` and overrides what it
runs faster; a sharded (multi-process) k-center needs only :meth:`centre` and :meth:`update`.

Distances, in the compute dtype (float32 for half and float32 pools, float64 for float64):
``euclidean`` |x - c|^2; ``cosine`` 1 - cos(x, c) = |x^ - c^|^2 / 2 with x^ = x / |x|. A row's
*embedded* form is x (euclidean) or x^ (cosine). Ties always go to the lowest row index, and rows at
-inf (excluded rows, earlier picks) stay at -inf.
"""
from __future__ import annotations

import torch

from .._checks import compute_dtype

ROWS = 1 << 16  # rows per step of the default chunked forms: bounded temporaries


class KCenter:
    """k-center primitives over one validated pool ``[N, D]`` (rows contiguous) and ``metric``."""

    def __init__(self, pool: torch.Tensor, metric: str):
        self.pool, self.metric = pool, metric
        self.cosine = metric == "cosine"
        self.dtype = compute_dtype(pool.dtype)

    def embed(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows ``[m, D]`` in the metric's space and the compute dtype."""
        r = rows.to(self.dtype)
        return r / torch.linalg.vector_norm(r, dim=1, keepdim=True) if self.cosine else r

    def centre(self, i: int) -> torch.Tensor:
        """Pool row ``i`` embedded ``[D]``: the centre :meth:`update` takes after picking ``i``."""
        return self.embed(self.pool[i:i + 1])[0]

    def distances(self, c: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Distance of rows [lo, hi) to the embedded centre ``c``, in the direct form."""
        d = ((self.embed(self.pool[lo:hi]) - c) ** 2).sum(1)
        return d / 2 if self.cosine else d

    def gemm_tiles(self, lab: torch.Tensor, elements: int):
        """``(start, rows, rows @ lab.T)`` for tiles of pool rows in the compute dtype, each
        product at most ``elements`` entries: the GEMM step of a labeled-set fold."""
        step = max(1, elements // lab.shape[0])
        for i in range(0, self.pool.shape[0], step):
            xt = self.pool[i:i + step].to(self.dtype).contiguous()
            yield i, xt, xt @ lab.T

    def labeled_min(self, labeled: torch.Tensor, mind: torch.Tensor) -> None:
        """``mind = min(mind, distance to the nearest row of labeled [L, D])`` (raw rows)."""
        for c in self.embed(labeled):
            self.update(mind, c)

    def farthest(self, point: torch.Tensor) -> int:
        """The row farthest from the embedded ``point [D]`` (the first pick without centres)."""
        scratch = torch.full((self.pool.shape[0],), float("inf"), dtype=self.dtype, device=self.pool.device)
        return self.update(scratch, point)[1]

    def update(self, mind: torch.Tensor, c: torch.Tensor) -> tuple[float, int]:
        """Fold the embedded centre ``c [D]`` into ``mind [N]`` (``mind = min(mind, d(., c))``) and
        return ``(max of mind, its first index)``; the value is -inf when every row is at -inf."""
        for lo in range(0, self.pool.shape[0], ROWS):
            hi = min(lo + ROWS, self.pool.shape[0])
            torch.minimum(mind[lo:hi], self.distances(c, lo, hi), out=mind[lo:hi])
        i = int(torch.argmax(mind))  # first maximum: lowest index
        return float(mind[i]), i

    def picks(self, mind: torch.Tensor, first: int, b: int) -> torch.Tensor:
        """``b`` greedy picks from ``first`` (int64 ``[b]``): each pick goes to -inf in ``mind``
        and becomes a centre; the next is the arg-max of ``mind``."""
        picks, pick = [first], first
        for _ in range(1, b):
            mind[pick] = float("-inf")
            value, pick = self.update(mind, self.centre(pick))
            if value == float("-inf"):
                raise ValueError(f"b: only {len(picks)} rows can be picked, b = {b}")
            picks.append(pick)
        return torch.tensor(picks, dtype=torch.int64, device=self.pool.device)
