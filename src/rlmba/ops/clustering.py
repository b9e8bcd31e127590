"""Clustering of a feature pool: nearest centroid, k-means++ seeding and k-means (Lloyd).

EFDA's diversity term (RL-MBA) is ``d(x)``, the Euclidean distance (not squared) of x to its
nearest centroid after k-means++ seeding with k = b and at most 5 Lloyd iterations::

    centroids, idx, d = rlmba.kmeans(fused_features, k=b, iters=5, generator=g)

Each op validates its inputs, dispatches (:mod:`rlmba._dispatch`) and runs the backend over
row chunks where the op allows it (nearest centroid, cluster sums); numpy in gives numpy out.

Backend contract (inputs validated and laid out here; outputs must equal the reference in
:mod:`rlmba.reference.clustering` up to rounding of distances, for any thread count):

================  ==============================================  ==================================
op                arguments                                       returns
================  ==============================================  ==================================
nearest_centroid  x [n, D] rows contiguous, float16|bfloat16|     (dist [n] compute dtype, idx [n]
                  float32|float64; centroids [k, D] contiguous,   int64): Euclidean distance and
                  compute dtype                                   nearest centroid, ties -> lowest
kmeanspp          x [N, D] as above; k (1 <= k <= N); u float64   (seeds int64 [k] pick order,
                  [k] CPU tensor of uniforms in [0, 1)            idx int64 [N] position of the
                                                                  nearest seed, dist [N] Euclidean)
cluster_sums      x [n, D] as above; idx int64 [n] in [0, k); k   (sums float64 [k, D], counts
                                                                  int64 [k])
================  ==============================================  ==================================

- Compute dtype: float32 for half and float32 inputs, float64 for float64. Inputs are finite.
- kmeanspp: pick 0 = min(N - 1, floor(u[0] N)); pick s = ``rlmba.reference.clustering.d2_pick``
  of w (squared Euclidean distance to the nearest earlier pick) with u[s]: its float64 prefix
  sums have a fixed block order, so backends agree to the bit when their w do (integer-valued
  data, or float64 up to ~1e-16). Ties of the nearest seed: the earliest pick. w is exactly 0
  for rows equal to a pick (compute it in the direct form, or recompute near-zero values).
- cluster_sums: float64 sums whose order does not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import _checks as chk
from .._dispatch import declare_op, dispatch
from ..reference.clustering import lloyd_update

__all__ = ["nearest_centroid", "kmeans_plusplus", "kmeans"]

declare_op("nearest_centroid", public=("nearest_centroid", "kmeans"), differentiable=True)
declare_op("kmeans_plusplus", public=("kmeans_plusplus", "kmeans"))
declare_op("cluster_sums", public=("kmeans",))

CHUNK = 1 << 18  # rows per backend call of the chunked ops
INITS = ("k-means++", "random")


def _points(x, name: str = "x") -> torch.Tensor:
    t = chk.float_matrix(x, name)
    chk.check_finite(t, name)
    return chk.row_contiguous(t)


def _centroids(centroids, x: torch.Tensor, name: str = "centroids") -> torch.Tensor:
    c = chk.as_tensor(centroids, name)
    chk.check_float(c, name)
    chk.check_ndim(c, 2, name, "[k, D]")
    if c.shape[0] == 0:
        raise ValueError(f"{name}: no centroids (k = 0)")
    if c.shape[1] != x.shape[1]:
        raise ValueError(f"{name}: D = {c.shape[1]}, but x has D = {x.shape[1]}")
    if c.device != x.device:
        raise ValueError(f"{name}: on {c.device}, but x is on {x.device}")
    chk.check_finite(c, name)
    return c.to(chk.compute_dtype(x.dtype)).contiguous()


def _assign(x, c, chunk_size, backend):
    fn = dispatch("nearest_centroid", x.device.type, backend, dtype=x.dtype)
    dist = torch.empty(x.shape[0], dtype=c.dtype, device=x.device)
    idx = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    for i, j in chk.chunks(x.shape[0], chunk_size):
        dist[i:j], idx[i:j] = fn(x[i:j], c)
    return dist, idx


def nearest_centroid(x, centroids, *, chunk_size: int | None = CHUNK, backend=None):
    """``(dist [N], idx [N])``: the Euclidean distance (not squared) of each row of ``x [N, D]``
    to its nearest row of ``centroids [k, D]``, and that row's index (ties: lowest index).

    float16/bfloat16/float32 compute in float32, float64 in float64; ``dist`` has that dtype.
    The arg-min uses |c|^2 - 2 x.c (GEMM); the distance is then recomputed directly, so it is 0
    for a row equal to its centroid. Raises ValueError for NaN/inf, mismatched D, empty inputs.
    """
    t = _points(x)
    c = _centroids(centroids, t)
    return chk.numpy_out(_assign(t, c, chunk_size, backend), isinstance(x, np.ndarray))


def _seed(t: torch.Tensor, k: int, generator, backend):
    u = chk.uniforms(generator, k)
    fn = dispatch("kmeans_plusplus", t.device.type, backend, dtype=t.dtype)
    return fn(t, k, u)


def kmeans_plusplus(x, k: int, generator: torch.Generator | None = None, *, backend=None):
    """k-means++ seeding (Arthur & Vassilvitskii, SODA 2007): int64 row indices ``[k]``, pick order.

    The first pick is uniform; each next one is drawn with probability proportional to the
    squared distance to the nearest earlier pick (D^2 sampling). One float64 uniform per pick
    comes from ``generator`` (torch's default generator if None) and is passed to the backend,
    so the same generator state gives the same picks on every backend and thread count. Rows
    equal to a pick have probability 0; if only such rows are left, the lowest unpicked row is
    taken. No index repeats. Raises ValueError for k outside [1, N] and NaN/inf in x.
    """
    t = _points(x)
    k = chk.check_count(k, "k", 1, t.shape[0], "N")
    seeds = _seed(t, k, generator, backend)[0]
    return seeds.numpy() if isinstance(x, np.ndarray) else seeds


def kmeans(x, k: int, iters: int = 5, init="k-means++", generator: torch.Generator | None = None, *,
           chunk_size: int | None = CHUNK, backend=None):
    """k-means: ``(centroids [k, D], idx [N], dist [N])`` after ``iters`` Lloyd iterations.

    ``init``: ``"k-means++"`` (:func:`kmeans_plusplus`), ``"random"`` (k distinct rows drawn by
    ``torch.randperm`` with ``generator``), or initial centroids ``[k, D]``. One iteration moves
    every centroid to the float64 mean of its rows (an empty cluster keeps its centroid), then
    reassigns. ``idx`` (nearest centroid, ties -> lowest index) and ``dist`` (Euclidean, not
    squared: EFDA's d(x)) describe the returned centroids. Compute dtype: float32 (half and
    float32 input) or float64.

    Raises ValueError for k outside [1, N], iters < 0, an unknown init, NaN/inf in x.
    """
    t = _points(x)
    k = chk.check_count(k, "k", 1, t.shape[0], "N")
    iters = chk.check_count(iters, "iters", 0)
    if isinstance(init, str):
        chk.check_choice(init, INITS, "init")
        if init == "k-means++":
            seeds, idx, dist = _seed(t, k, generator, backend)
            centroids = t[seeds].to(chk.compute_dtype(t.dtype))
        else:
            perm = chk.permutation(generator, t.shape[0])
            centroids = t[perm[:k].to(t.device)].to(chk.compute_dtype(t.dtype))
            dist, idx = _assign(t, centroids, chunk_size, backend)
    else:
        centroids = _centroids(init, t, "init")
        if centroids.shape[0] != k:
            raise ValueError(f"init: has {centroids.shape[0]} centroids, but k = {k}")
        dist, idx = _assign(t, centroids, chunk_size, backend)
    sums_fn = dispatch("cluster_sums", t.device.type, backend, dtype=t.dtype)
    for _ in range(iters):
        sums = torch.zeros(k, t.shape[1], dtype=torch.float64, device=t.device)
        counts = torch.zeros(k, dtype=torch.int64, device=t.device)
        for i, j in chk.chunks(t.shape[0], chunk_size):  # chunk order: a fixed float64 summation order
            s, c = sums_fn(t[i:j], idx[i:j], k)
            sums += s
            counts += c
        centroids = lloyd_update(centroids, sums, counts)
        dist, idx = _assign(t, centroids, chunk_size, backend)
    return chk.numpy_out((centroids, idx, dist), isinstance(x, np.ndarray))
