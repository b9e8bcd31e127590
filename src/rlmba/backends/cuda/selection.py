"""CUDA backend of the selection ops: wrappers over ``rlmba._C.cuda_*`` (``csrc/cuda/selection.cu``).

COMPILED, NOT RUN: no GPU was available when this was written; the kernels have never executed.
Their per-element helpers (``csrc/include/rlmba/select.h``) are the code the CPU kernels and tests
run. Everything runs on the current torch stream of the input's device.

- topb_select: radix select on device (host reads back small histograms between levels); the
  <= cap candidates are ordered here with torch (by index, then stably by value).
- k_center_greedy (:class:`CudaKCenter`): one fused kernel per pick (warp per row: distance, min
  update, block arg-max) plus a one-block pick kernel; the labeled-set distances come from cuBLAS
  GEMM tiles (torch) with a fused row-min epilogue kernel, never an N x L matrix.
"""
from __future__ import annotations

import torch

from ... import _C
from ..._dispatch import implements
from .runtime import METRIC, STORAGE, stream
from ...reference.selection import REFINE_RTOL, TILE_ELEMENTS
from ..kcenter import KCenter



@implements("topb_select", "cuda")
def topb_select(x, b, largest):
    cap = max(4 * b, 4096)
    out = torch.empty(cap, dtype=torch.int64, device=x.device)
    count, need = _C.cuda_topb_select(x.data_ptr(), x.shape[0], b, largest, out.data_ptr(), cap,
                                      x.dtype == torch.float64, stream(x))
    cand = out[:count].sort().values  # by index, then stably by value: ties -> lower index
    order = torch.sort(x[cand] + 0.0, descending=largest, stable=True).indices[:need]
    return cand[order]


@implements("k_center_greedy", "cuda")
class CudaKCenter(KCenter):
    """One fused kernel per pick and a one-block pick kernel, the picks made on the device; the
    labeled-set distances come from cuBLAS GEMM tiles (torch) with a fused row-min epilogue.
    ``update`` and ``farthest`` are the default chunked torch forms (one host sync each)."""

    def __init__(self, pool, metric):
        super().__init__(pool, metric)
        self.inv_norm = None
        if self.cosine:
            N, D = pool.shape
            self.inv_norm = torch.empty(N, dtype=self.dtype, device=pool.device)
            _C.cuda_inv_norms(pool.data_ptr(), STORAGE[pool.dtype], N, D, self.inv_norm.data_ptr(), stream(pool))

    def labeled_min(self, labeled, mind):
        lab = self.embed(labeled).contiguous()
        lab_sq = (lab * lab).sum(1)
        for i, xt, g in self.gemm_tiles(lab, TILE_ELEMENTS):
            _C.cuda_labeled_min(g.data_ptr(), xt.data_ptr(), lab.data_ptr(), lab_sq.data_ptr(),
                                self.inv_norm[i:].data_ptr() if self.cosine else 0, xt.shape[0], lab.shape[0],
                                self.pool.shape[1], METRIC[self.metric], REFINE_RTOL, mind[i:].data_ptr(),
                                self.dtype == torch.float64, stream(self.pool))

    def picks(self, mind, first, b):
        N, D = self.pool.shape
        out = torch.empty(b, dtype=torch.int64, device=self.pool.device)
        _C.cuda_kcenter_greedy(self.pool.data_ptr(), STORAGE[self.pool.dtype], N, D, first, b, METRIC[self.metric],
                               0 if self.inv_norm is None else self.inv_norm.data_ptr(), mind.data_ptr(),
                               out.data_ptr(), stream(self.pool))
        return out
