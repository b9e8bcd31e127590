"""Pure-PyTorch reference of the clustering ops: the specification every backend is tested against.

EFDA's diversity term (RL-MBA, step 5 of docs/method.md) is d(x) = the Euclidean distance (not squared)
of x to its nearest centroid, after k-means++ seeding with k = b and at most 5 Lloyd iterations.
Inputs are already validated by :mod:`rlmba.ops.clustering` (its docstring holds the backend
contract these functions follow). Half inputs compute in float32, float64 in float64.

- Nearest centroid: arg-min of |c_j|^2 - 2 x.c_j (ties -> lowest j), then the distance to that
  centroid recomputed directly, sqrt(sum (x - c)^2): no cancellation, 0 for a row equal to it.
- k-means++ with the random numbers given: pick 0 = floor(u[0] n); pick s = the D^2 sample of
  :func:`rlmba.reference.kmeanspp.d2_pick` with u[s], w = squared distance to the nearest pick.
  Rows equal to a pick have w = 0 exactly, so no row is ever picked twice.
- Lloyd: a centroid becomes the float64 mean of its rows; an empty cluster keeps its centroid.
"""
from __future__ import annotations

import torch

from .._checks import compute_dtype
from .kmeanspp import d2_pick, uniform_pick
from .selection import row_sq_norms

REFINE_RTOL = 1e-3  # same rule as rlmba.reference.selection: direct distance below this scale
TILE_ELEMENTS = 1 << 24  # bound on every [rows, k] matrix this module builds (64 MiB in float32)


def rounded_sqrt(t: torch.Tensor) -> torch.Tensor:
    """sqrt correctly rounded to t's dtype, as C's sqrtf and numba's np.sqrt give: float32 through
    float64 (exact, then one rounding). torch's float32 sqrt can be 1 ulp off on some CPUs
    (sqrt(19) -> 4.3588986 instead of 4.3588991), which made backends that round correctly
    disagree with the reference."""
    return t.sqrt() if t.dtype == torch.float64 else t.double().sqrt().to(t.dtype)


def nearest_centroid(x: torch.Tensor, centroids: torch.Tensor):
    """``(dist [n], idx [n])``: Euclidean distance to the nearest centroid and its index."""
    x = x.to(compute_dtype(x.dtype))
    c = centroids.to(x.dtype)
    c_sq = (c * c).sum(1)
    dist = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    idx = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    step = max(1, TILE_ELEMENTS // c.shape[0])
    for i in range(0, x.shape[0], step):
        xt = x[i:i + step]
        j = torch.argmin(c_sq - 2 * (xt @ c.T), dim=1)  # first minimum: lowest index
        idx[i:i + step] = j
        dist[i:i + step] = rounded_sqrt(((xt - c[j]) ** 2).sum(1))
    return dist, idx


def kmeanspp(x: torch.Tensor, k: int, u: torch.Tensor):
    """``(seeds [k], idx [n], dist [n])``: k-means++ seeds (row indices, pick order), and the
    nearest seed (position in ``seeds``, ties -> earliest) and its Euclidean distance per row.

    ``u``: float64 [k] uniforms in [0, 1). One GEMV per pick (the plain-PyTorch form); near-zero
    distances are recomputed directly as in :mod:`rlmba.reference.selection`.
    """
    x = x.to(compute_dtype(x.dtype))
    n = x.shape[0]
    sq = row_sq_norms(x)
    w = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
    a = torch.zeros(n, dtype=torch.int64, device=x.device)
    picked = torch.zeros(n, dtype=torch.bool, device=x.device)
    seeds = []
    pick = uniform_pick(float(u[0]), n)
    for s in range(k):
        seeds.append(pick)
        picked[pick] = True
        c = x[pick]
        c_sq = c @ c
        d = sq + c_sq - 2 * (x @ c)
        near = torch.nonzero(d < REFINE_RTOL * (sq + c_sq)).squeeze(1)
        if near.numel():
            d[near] = ((x[near] - c) ** 2).sum(1)
        d.clamp_min_(0)
        closer = d < w  # ties keep the earlier pick
        w = torch.where(closer, d, w)
        a = torch.where(closer, s, a)
        if s + 1 < k:
            pick = d2_pick(w, float(u[s + 1]), picked)
    return torch.tensor(seeds, dtype=torch.int64, device=x.device), a, w.sqrt()


def cluster_sums(x: torch.Tensor, idx: torch.Tensor, k: int):
    """``(sums [k, D] float64, counts [k] int64)`` of the rows of x per cluster."""
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
    sums.index_add_(0, idx, x.to(torch.float64))
    return sums, torch.bincount(idx, minlength=k)


def lloyd_update(centroids: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """New centroids: float64 means, rounded once to the compute dtype; empty clusters stay."""
    mean = sums / counts.clamp_min(1)[:, None].to(torch.float64)
    return torch.where(counts[:, None] > 0, mean.to(centroids.dtype), centroids)


def kmeans(x: torch.Tensor, k: int, u: torch.Tensor | None, iters: int = 5, init: torch.Tensor | None = None):
    """``(centroids [k, D], idx [n], dist [n])`` after ``iters`` Lloyd iterations.

    Start: k-means++ seeds drawn with ``u`` (their assignment comes free from the seeding), or
    the given ``init`` centroids. Iteration: centroids = means of their clusters, then reassign.
    ``idx``/``dist`` always describe the returned centroids.
    """
    xc = x.to(compute_dtype(x.dtype))
    if init is None:
        seeds, idx, dist = kmeanspp(xc, k, u)
        centroids = xc[seeds]
    else:
        centroids = init.to(xc.dtype)
        dist, idx = nearest_centroid(xc, centroids)
    for _ in range(iters):
        centroids = lloyd_update(centroids, *cluster_sums(xc, idx, k))
        dist, idx = nearest_centroid(xc, centroids)
    return centroids, idx, dist
