"""Pure-PyTorch reference of the selection ops: the specification every backend is tested against.

Readable over fast, float64-capable, any device. Inputs are already validated by
:mod:`rlmba.ops.selection` (see its docstring for the backend contract these functions follow).

Tie rule of every selection: equal values -> the lower index first.

Distances (k-center). The pool computes in float32 (half storage) or float64. ``euclidean``:
squared Euclidean distance |x - c|^2; ``cosine``: 1 - cos(x, c) = |x^ - c^|^2 / 2 with x^ = x / |x|.
The per-pick update takes the GEMV form |x|^2 - 2 x.c + |c|^2 (one read of the pool); where the
result is below ``REFINE_RTOL`` times its scale (|x|^2 + |c|^2, or 1 for cosine) cancellation may
dominate it, and the distance is recomputed directly, so a duplicate of a center is at exactly 0.
"""
from __future__ import annotations

import torch

from .._checks import compute_dtype
from ..backends.kcenter import KCenter

METRICS = ("euclidean", "cosine")
REFINE_RTOL = 1e-3
TILE_ELEMENTS = 1 << 24  # bound on every [rows, L] matrix this module builds (64 MiB in float32)
MEAN_ROWS = 4096  # rows per float64 partial sum of the pool mean

# ================================================================ top-b
def topb_select(x: torch.Tensor, b: int, largest: bool = True) -> torch.Tensor:
    """Indices of the ``min(b, #non-NaN)`` best entries of ``x [n]``, best first.

    Best = largest (or smallest) value; equal values -> lower index first, i.e. the first b of a
    stable sort; -0.0 ties with +0.0; NaN is never selected.
    """
    valid = torch.nonzero(~torch.isnan(x)).squeeze(1)
    values = x[valid] + 0.0  # -0.0 + 0.0 = +0.0: both zeros compare (and sort) equal
    order = torch.sort(values, descending=largest, stable=True).indices[:b]
    return valid[order]


# ================================================================ k-center greedy
def embed(pool: torch.Tensor, metric: str) -> torch.Tensor:
    """Rows in the metric's space, compute dtype: x (euclidean) or x / |x| (cosine)."""
    x = pool.to(compute_dtype(pool.dtype))
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True) if metric == "cosine" else x


def row_sq_norms(x: torch.Tensor) -> torch.Tensor:
    """|x_i|^2 by row blocks (an [N, D] temporary would double the memory of the pool)."""
    return torch.cat([(t * t).sum(1) for t in x.split(1 << 16)]) if x.shape[0] else x.new_zeros(0)


def pool_mean(pool: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """Mean embedded row (x, or x / |x|): float64 sums of blocks of ``MEAN_ROWS`` rows (each
    block summed in the compute dtype), rounded to the compute dtype. Never an N x D copy."""
    total = torch.zeros(pool.shape[1], dtype=torch.float64, device=pool.device)
    for i in range(0, pool.shape[0], MEAN_ROWS):
        total += embed(pool[i:i + MEAN_ROWS], metric).sum(0).to(torch.float64)
    return (total / pool.shape[0]).to(compute_dtype(pool.dtype))


def _refined(d: torch.Tensor, scale: torch.Tensor, x: torch.Tensor, c: torch.Tensor, metric: str,
             j: torch.Tensor | None = None) -> torch.Tensor:
    """d where it is at least ``REFINE_RTOL * scale``; below, cancellation may dominate the GEMV
    form, and the distance to the center (c, or row j[i] of c) is recomputed directly. Clamped at 0."""
    near = torch.nonzero(d < REFINE_RTOL * scale).squeeze(1)
    if near.numel():
        direct = ((x[near] - (c if j is None else c[j[near]])) ** 2).sum(1)
        d[near] = direct / 2 if metric == "cosine" else direct
    return d.clamp_min_(0)


def dist_to(x: torch.Tensor, sq: torch.Tensor, c: torch.Tensor, metric: str) -> torch.Tensor:
    """Distance of every row of the embedded pool ``x`` (|x|^2 = sq) to one embedded center c."""
    dot = x @ c
    if metric == "cosine":
        return _refined(1 - dot, torch.ones_like(dot), x, c, metric)
    c_sq = c @ c
    return _refined(sq + c_sq - 2 * dot, sq + c_sq, x, c, metric)


def dist_to_set(x: torch.Tensor, sq: torch.Tensor, centers: torch.Tensor, metric: str) -> torch.Tensor:
    """min over the rows of ``centers`` [L, D] of the distance, by row tiles of the pool."""
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    c_sq = (centers * centers).sum(1)
    step = max(1, TILE_ELEMENTS // max(1, centers.shape[0]))
    for i in range(0, x.shape[0], step):
        xt, st = x[i:i + step], sq[i:i + step]
        g = xt @ centers.T
        if metric == "cosine":
            m, j = (-g).min(1)
            d, scale = 1 + m, torch.ones_like(m)
        else:
            m, j = (c_sq - 2 * g).min(1)
            d, scale = st + m, st + c_sq[j]
        out[i:i + step] = _refined(d, scale, xt, centers, metric, j)
    return out


class TorchKCenter(KCenter):
    """The reference primitives: the embedded pool held whole, one GEMV per pick (|x|^2 - 2 x.c +
    |c|^2, refined below ``REFINE_RTOL``), the labeled set by GEMM tiles of at most
    ``TILE_ELEMENTS`` distances."""

    def __init__(self, pool: torch.Tensor, metric: str):
        super().__init__(pool, metric)
        self.x = embed(pool, metric)
        self.sq = row_sq_norms(self.x)

    def centre(self, i: int) -> torch.Tensor:
        return self.x[i]

    def labeled_min(self, labeled: torch.Tensor, mind: torch.Tensor) -> None:
        torch.minimum(mind, dist_to_set(self.x, self.sq, embed(labeled, self.metric), self.metric), out=mind)

    def farthest(self, point: torch.Tensor) -> int:
        return int(torch.argmax(torch.cat([((t - point) ** 2).sum(1) for t in self.x.split(1 << 16)])))

    def update(self, mind: torch.Tensor, c: torch.Tensor) -> tuple[float, int]:
        torch.minimum(mind, dist_to(self.x, self.sq, c, self.metric), out=mind)
        i = int(torch.argmax(mind))  # first maximum: lowest index
        return float(mind[i]), i


def k_center_greedy(pool: torch.Tensor, b: int, labeled: torch.Tensor, exclude: torch.Tensor,
                    metric: str = "euclidean") -> torch.Tensor:
    """Core-set greedy picks (Sener & Savarese 2018) ``[b]`` in pick order.

    ``labeled [L, D]``: centers given up front (L may be 0); ``exclude``: pool indices that are
    already centers (never picked). Each pick is the row farthest from its nearest center
    (ties: lowest index), then becomes a center. With no labeled rows and nothing excluded, the
    first pick is the row farthest from the pool mean (in the metric's space: x, or x / |x|).
    The set-up and the loop are :func:`rlmba.ops.selection.greedy`, the same for every backend;
    this module gives the plain-PyTorch primitives (:class:`TorchKCenter`).
    """
    from ..ops.selection import greedy  # the ops import this module: import at call time

    return greedy(TorchKCenter(pool, metric), b, labeled, exclude)


def covering_radius(pool: torch.Tensor, centers_idx: torch.Tensor, labeled: torch.Tensor | None = None,
                    metric: str = "euclidean") -> float:
    """max over pool rows of the distance to the nearest center (labeled rows and picks): the
    k-center objective (squared Euclidean, or 1 - cos)."""
    x = embed(pool, metric)
    centers = x[centers_idx]
    if labeled is not None and labeled.shape[0]:
        centers = torch.cat([centers, embed(labeled, metric)])
    return float(dist_to_set(x, row_sq_norms(x), centers, metric).max())
