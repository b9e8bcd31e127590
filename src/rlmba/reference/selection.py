"""Pure-PyTorch reference of the selection ops: the specification every backend is tested against.

Readable over fast, float64-capable, any device; also the plain-PyTorch baselines of the
benchmarks. Inputs are already validated by :mod:`rlmba.ops.selection` (see its docstring for the
backend contract these functions follow).

Tie rule of every selection: equal values -> the lower index first.

Distances (k-center). The pool computes in float32 (half storage) or float64. ``euclidean``:
squared Euclidean distance |x - c|^2; ``cosine``: 1 - cos(x, c) = |x^ - c^|^2 / 2 with x^ = x / |x|.
The per-pick update takes the GEMV form |x|^2 - 2 x.c + |c|^2 (one read of the pool); where the
result is below ``REFINE_RTOL`` times its scale (|x|^2 + |c|^2, or 1 for cosine) cancellation may
dominate it, and the distance is recomputed directly, so a duplicate of a center is at exactly 0.
"""
from __future__ import annotations

import torch

METRICS = ("euclidean", "cosine")
REFINE_RTOL = 1e-3
TILE_ELEMENTS = 1 << 24  # bound on every [rows, L] matrix this module builds (64 MiB in float32)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


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
def _embed(pool: torch.Tensor, metric: str) -> torch.Tensor:
    """Rows in the metric's space, compute dtype: x (euclidean) or x / |x| (cosine)."""
    x = pool.to(compute_dtype(pool.dtype))
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True) if metric == "cosine" else x


def row_sq_norms(x: torch.Tensor) -> torch.Tensor:
    """|x_i|^2 by row blocks (an [N, D] temporary would double the memory of the pool)."""
    return torch.cat([(t * t).sum(1) for t in x.split(1 << 16)]) if x.shape[0] else x.new_zeros(0)


def pool_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean row, accumulated in float64 over blocks of 4096 rows, rounded to x's dtype."""
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], 4096):
        total += x[i:i + 4096].sum(0).to(torch.float64)
    return (total / x.shape[0]).to(x.dtype)


def _dist_to(x: torch.Tensor, sq: torch.Tensor, c: torch.Tensor, metric: str) -> torch.Tensor:
    """Distance of every row of the embedded pool ``x`` (|x|^2 = sq) to one embedded center c."""
    dot = x @ c
    if metric == "cosine":
        d, scale = 1 - dot, torch.ones_like(dot)
    else:
        c_sq = c @ c
        d, scale = sq + c_sq - 2 * dot, sq + c_sq
    near = torch.nonzero(d < REFINE_RTOL * scale).squeeze(1)
    if near.numel():  # cancellation: recompute those few directly
        direct = ((x[near] - c) ** 2).sum(1)
        d[near] = direct / 2 if metric == "cosine" else direct
    return d.clamp_min_(0)


def _dist_to_set(x: torch.Tensor, sq: torch.Tensor, centers: torch.Tensor, metric: str) -> torch.Tensor:
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
        near = torch.nonzero(d < REFINE_RTOL * scale).squeeze(1)
        if near.numel():
            direct = ((xt[near] - centers[j[near]]) ** 2).sum(1)
            d[near] = direct / 2 if metric == "cosine" else direct
        out[i:i + step] = d.clamp_min_(0)
    return out


def k_center_greedy(pool: torch.Tensor, b: int, labeled: torch.Tensor, exclude: torch.Tensor,
                    metric: str = "euclidean") -> torch.Tensor:
    """Core-set greedy picks (Sener & Savarese 2018) ``[b]`` in pick order.

    ``labeled [L, D]``: centers given up front (L may be 0); ``exclude``: pool indices that are
    already centers (never picked). Each pick is the row farthest from its nearest center
    (ties: lowest index), then becomes a center. With no labeled rows and nothing excluded, the
    first pick is the row farthest from the pool mean (in the metric's space: x, or x / |x|).
    One GEMV per pick over an incremental min-distance vector: never an N x N matrix, and the
    labeled set is folded in by row tiles of at most ``TILE_ELEMENTS`` distances.
    """
    x = _embed(pool, metric)
    sq = row_sq_norms(x)
    mind = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    if labeled.shape[0]:
        mind = _dist_to_set(x, sq, _embed(labeled, metric), metric)
    mind[exclude] = float("-inf")
    if labeled.shape[0] or exclude.numel():
        pick = int(torch.argmax(mind))  # first maximum: lowest index
    else:
        mean = pool_mean(x)
        pick = int(torch.argmax(torch.cat([((t - mean) ** 2).sum(1) for t in x.split(1 << 16)])))
    picks = []
    for step in range(b):
        picks.append(pick)
        mind[pick] = float("-inf")
        if step + 1 < b:
            torch.minimum(mind, _dist_to(x, sq, x[pick], metric), out=mind)
            pick = int(torch.argmax(mind))
    return torch.tensor(picks, dtype=torch.int64, device=pool.device)


def k_center_greedy_cdist(pool: torch.Tensor, b: int, labeled: torch.Tensor, exclude: torch.Tensor,
                          metric: str = "euclidean") -> torch.Tensor:
    """The same picks the way a plain PyTorch Core-set is often written: ``torch.cdist`` to the
    labeled set and to each new center (a benchmark baseline; euclidean only)."""
    x = pool.to(compute_dtype(pool.dtype))
    mind = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    step = max(1, TILE_ELEMENTS // max(1, labeled.shape[0]))
    for i in range(0, x.shape[0], step):
        if labeled.shape[0]:
            mind[i:i + step] = torch.cdist(x[i:i + step], labeled.to(x.dtype)).min(1).values ** 2
    mind[exclude] = float("-inf")
    if labeled.shape[0] or exclude.numel():
        pick = int(torch.argmax(mind))
    else:
        pick = int(torch.argmax(torch.cdist(x, pool_mean(x)[None])[:, 0]))
    picks = []
    for s in range(b):
        picks.append(pick)
        mind[pick] = float("-inf")
        if s + 1 < b:
            torch.minimum(mind, torch.cdist(x, x[pick:pick + 1])[:, 0] ** 2, out=mind)
            pick = int(torch.argmax(mind))
    return torch.tensor(picks, dtype=torch.int64, device=pool.device)


def covering_radius(pool: torch.Tensor, centers_idx: torch.Tensor, labeled: torch.Tensor | None = None,
                    metric: str = "euclidean") -> float:
    """max over pool rows of the distance to the nearest center (labeled rows and picks): the
    k-center objective (squared Euclidean, or 1 - cos)."""
    x = _embed(pool, metric)
    centers = x[centers_idx]
    if labeled is not None and labeled.shape[0]:
        centers = torch.cat([centers, _embed(labeled, metric)])
    return float(_dist_to_set(x, row_sq_norms(x), centers, metric).max())
