"""The C++/OpenMP backend of the clustering ops (csrc/cpu/clustering.cpp): CPU tensors.

Nearest centroid is GEMM-shaped: torch's BLAS computes x @ C^T for a bounded tile of rows
(``TILE`` products) and the C++ epilogue takes each row's arg-min and recomputes its
distance directly; no N x k matrix exists. Seeding and cluster sums are C++ throughout.
"""
import torch

from ... import _C
from ..._dispatch import implements
from .selection import STORAGE, TILE


def _cdt(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


@implements("nearest_centroid", "cpp")
def nearest_centroid(x, centroids):
    n, D = x.shape
    k = centroids.shape[0]
    cdt = centroids.dtype
    c_sq = (centroids * centroids).sum(1)
    dist = torch.empty(n, dtype=cdt)
    idx = torch.empty(n, dtype=torch.int64)
    step = max(1, TILE // k)
    for i in range(0, n, step):
        xt = x[i:i + step].to(cdt).contiguous()
        g = xt @ centroids.T
        _C.nearest_centroid(g.data_ptr(), xt.data_ptr(), centroids.data_ptr(), c_sq.data_ptr(), xt.shape[0], k, D,
                            dist[i:].data_ptr(), idx[i:].data_ptr(), cdt == torch.float64)
    return dist, idx


@implements("kmeans_plusplus", "cpp")
def kmeanspp(x, k, u, half_bound=-1):
    n, D = x.shape
    u = u.to(torch.float64).contiguous()
    seeds = torch.empty(k, dtype=torch.int64)
    w = torch.empty(n, dtype=_cdt(x.dtype))
    a = torch.empty(n, dtype=torch.int64)
    _C.kmeanspp(x.data_ptr(), STORAGE[x.dtype], n, D, k, u.data_ptr(), seeds.data_ptr(), w.data_ptr(), a.data_ptr(),
                half_bound)
    return seeds, a, w.sqrt_()


@implements("cluster_sums", "cpp")
def cluster_sums(x, idx, k):
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64)
    counts = torch.zeros(k, dtype=torch.int64)
    idx = idx.contiguous()
    _C.cluster_sums(x.data_ptr(), STORAGE[x.dtype], x.shape[0], x.shape[1], idx.data_ptr(), sums.data_ptr(),
                    counts.data_ptr())
    return sums, counts
