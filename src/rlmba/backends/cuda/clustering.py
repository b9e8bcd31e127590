"""CUDA backend of the clustering ops: wrappers over ``rlmba._C.cuda_*`` (``csrc/cuda/clustering.cu``).

COMPILED, NOT RUN: no GPU was available when this was written; the kernels have never executed.
Everything runs on the current torch stream of the input's device, without host synchronisation.

- nearest_centroid: cuBLAS GEMM tiles (torch) and a warp-per-row arg-min + direct-distance epilogue.
- kmeanspp: four small kernels per step, the pick made on the device (same fixed-order float64
  prefix sums as the CPU backends, so the same seeds for the same uniforms).
- cluster_sums: float64 atomics (order varies run to run in the last bits of the float64 sums).
"""
from __future__ import annotations

import torch

from ... import _C
from ..._checks import compute_dtype
from ..._dispatch import implements
from .runtime import STORAGE, stream
from ...reference.clustering import BLOCK, TILE_ELEMENTS


@implements("nearest_centroid", "cuda")
def nearest_centroid(x, centroids):
    n, D = x.shape
    k = centroids.shape[0]
    cdt = centroids.dtype
    c_sq = (centroids * centroids).sum(1)
    dist = torch.empty(n, dtype=cdt, device=x.device)
    idx = torch.empty(n, dtype=torch.int64, device=x.device)
    step = max(1, TILE_ELEMENTS // k)
    for i in range(0, n, step):
        xt = x[i:i + step].to(cdt).contiguous()
        g = xt @ centroids.T
        _C.cuda_nearest_centroid(g.data_ptr(), xt.data_ptr(), centroids.data_ptr(), c_sq.data_ptr(), xt.shape[0], k,
                                 D, dist[i:].data_ptr(), idx[i:].data_ptr(), cdt == torch.float64, stream(x))
    return dist, idx


@implements("kmeans_plusplus", "cuda")
def kmeanspp(x, k, u):
    n, D = x.shape
    dev, cdt = x.device, compute_dtype(x.dtype)
    u = u.to(device=dev, dtype=torch.float64).contiguous()
    seeds = torch.empty(k, dtype=torch.int64, device=dev)
    w = torch.empty(n, dtype=cdt, device=dev)
    a = torch.empty(n, dtype=torch.int64, device=dev)
    picked = torch.empty(n, dtype=torch.uint8, device=dev)
    block_sum = torch.empty((n + BLOCK - 1) // BLOCK, dtype=torch.float64, device=dev)
    cc2 = torch.empty(max(k, 1), dtype=cdt, device=dev)
    center = torch.empty(D, dtype=cdt, device=dev)
    _C.cuda_kmeanspp(x.data_ptr(), STORAGE[x.dtype], n, D, k, u.data_ptr(), seeds.data_ptr(), w.data_ptr(),
                     a.data_ptr(), picked.data_ptr(), block_sum.data_ptr(), cc2.data_ptr(), center.data_ptr(),
                     stream(x))
    return seeds, a, w.sqrt_()


@implements("cluster_sums", "cuda")
def cluster_sums(x, idx, k):
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
    counts = torch.zeros(k, dtype=torch.int64, device=x.device)
    idx = idx.contiguous()
    _C.cuda_cluster_sums(x.data_ptr(), STORAGE[x.dtype], x.shape[0], x.shape[1], idx.data_ptr(), sums.data_ptr(),
                         counts.data_ptr(), stream(x))
    return sums, counts
