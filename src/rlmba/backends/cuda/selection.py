"""CUDA backend of the selection ops: wrappers over ``rlmba._C.cuda_*`` (``csrc/cuda/selection.cu``).

COMPILED, NOT RUN: no GPU was available when this was written; the kernels have never executed.
Their per-element helpers (``csrc/include/rlmba/select.h``) are the code the CPU kernels and tests
run. Everything runs on the current torch stream of the input's device.

- topb_select: radix select on device (host reads back small histograms between levels); the
  <= cap candidates are ordered here with torch (by index, then stably by value).
- k_center_greedy: one fused kernel per pick (warp per row: distance, min update, block arg-max)
  plus a one-block pick kernel; the labeled-set distances come from cuBLAS GEMM tiles (torch)
  with a fused row-min epilogue kernel, never an N x L matrix.
"""
from __future__ import annotations

import torch

from ... import _C
from ..._dispatch import implements
from .runtime import stream
from ...reference.selection import REFINE_RTOL, TILE_ELEMENTS, pool_mean

STORAGE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
METRIC = {"euclidean": 0, "cosine": 1}


@implements("topb_select", "cuda")
def topb_select(x, b, largest):
    cap = max(4 * b, 4096)
    out = torch.empty(cap, dtype=torch.int64, device=x.device)
    count, need = _C.cuda_topb_select(x.data_ptr(), x.shape[0], b, largest, out.data_ptr(), cap,
                                      x.dtype == torch.float64, stream(x))
    cand = out[:count].sort().values  # by index, then stably by value: ties -> lower index
    order = torch.sort(x[cand] + 0.0, descending=largest, stable=True).indices[:need]
    return cand[order]


def _labeled_min(x, lab, inv_norm, metric, mind):
    cdt = mind.dtype
    cosine = metric == "cosine"
    if cosine:
        lab = lab / torch.linalg.vector_norm(lab, dim=1, keepdim=True)
    lab = lab.contiguous()
    lab_sq = (lab * lab).sum(1)
    step = max(1, TILE_ELEMENTS // lab.shape[0])
    for i in range(0, x.shape[0], step):
        xt = x[i:i + step].to(cdt).contiguous()
        g = xt @ lab.T
        _C.cuda_labeled_min(g.data_ptr(), xt.data_ptr(), lab.data_ptr(), lab_sq.data_ptr(),
                            inv_norm[i:].data_ptr() if cosine else 0, xt.shape[0], lab.shape[0], x.shape[1],
                            METRIC[metric], REFINE_RTOL, mind[i:].data_ptr(), cdt == torch.float64, stream(x))


@implements("k_center_greedy", "cuda")
def k_center_greedy(pool, b, labeled, exclude, metric):
    N, D = pool.shape
    cdt = torch.float64 if pool.dtype == torch.float64 else torch.float32
    inv_norm = None
    if metric == "cosine":
        inv_norm = torch.empty(N, dtype=cdt, device=pool.device)
        _C.cuda_inv_norms(pool.data_ptr(), STORAGE[pool.dtype], N, D, inv_norm.data_ptr(), stream(pool))
    mind = torch.full((N,), float("inf"), dtype=cdt, device=pool.device)
    if labeled.shape[0]:
        _labeled_min(pool, labeled, inv_norm, metric, mind)
    mind[exclude] = float("-inf")
    mean = None
    if not (labeled.shape[0] or exclude.numel()):
        x = pool.to(cdt)
        mean = pool_mean(x * inv_norm[:, None] if inv_norm is not None else x).contiguous()
    out = torch.empty(b, dtype=torch.int64, device=pool.device)
    _C.cuda_kcenter_greedy(pool.data_ptr(), STORAGE[pool.dtype], N, D, b, METRIC[metric],
                           0 if inv_norm is None else inv_norm.data_ptr(), 0 if mean is None else mean.data_ptr(),
                           mind.data_ptr(), out.data_ptr(), stream(pool))
    return out
