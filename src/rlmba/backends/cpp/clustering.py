"""The C++/OpenMP backend of the clustering ops (csrc/cpu/clustering.cpp): CPU tensors.

Nearest centroid is GEMM-shaped: torch's BLAS computes x @ C^T for a bounded tile of rows
(``TILE`` products) and the C++ epilogue takes each row's arg-min and recomputes its
distance directly; no N x k matrix exists. Seeding and cluster sums are C++ throughout.
"""
import torch

from ... import _C
from ..._checks import compute_dtype
from ..._dispatch import implements
from .selection import TILE


@implements("nearest_centroid", "cpp")
def nearest_centroid(x, centroids):
    n, k = x.shape[0], centroids.shape[0]
    c_sq = (centroids * centroids).sum(1)
    dist = torch.empty(n, dtype=centroids.dtype)
    idx = torch.empty(n, dtype=torch.int64)
    step = max(1, TILE // k)
    for i in range(0, n, step):
        xt = x[i:i + step].to(centroids.dtype).contiguous()
        _C.cpu_nearest_centroid(xt @ centroids.T, xt, centroids, c_sq, dist[i:i + step], idx[i:i + step],
                                torch.get_num_threads())
    return dist, idx


@implements("kmeans_plusplus", "cpp")
def kmeanspp(x, k, u, half_bound=-1):
    n = x.shape[0]
    seeds = torch.empty(k, dtype=torch.int64)
    w = torch.empty(n, dtype=compute_dtype(x.dtype))
    nearest = torch.empty(n, dtype=torch.int64)
    _C.cpu_kmeans_plusplus(x, u.to(torch.float64).contiguous(), seeds, w, nearest, half_bound, torch.get_num_threads())
    return seeds, nearest, w.sqrt_()


@implements("cluster_sums", "cpp")
def cluster_sums(x, idx, k):
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64)
    counts = torch.zeros(k, dtype=torch.int64)
    _C.cpu_cluster_sums(x, idx.contiguous(), sums, counts, torch.get_num_threads())
    return sums, counts
