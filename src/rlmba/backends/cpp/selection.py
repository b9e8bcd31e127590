"""The C++/OpenMP backend of the selection ops (csrc/cpu/topb.cpp, kcenter.cpp): CPU tensors.

The extension reads the tensors through DLPack (no copies), checks them, and releases the GIL.
k-center's labeled-set distances are the one GEMM-shaped step: torch's BLAS computes them for a
bounded tile of pool rows at a time (``TILE`` distances) and the C++ epilogue folds each tile's
row minima into the min-distance vector, so no N x L matrix exists.
"""
import torch

from ... import _C
from ..._dispatch import implements
from ...reference.selection import REFINE_RTOL
from ..kcenter import KCenter

# GEMM tile: 2^23 products (32 MiB in float32, about L3) for the epilogue to read back from
# cache. Smaller tiles run faster GEMMs on idle cores but pay one thread barrier per GEMM and
# epilogue call, which costs most when other work shares the cores.
TILE = 1 << 23


@implements("topb_select", "cpp")
def topb_select(x, b, largest):
    out = torch.empty(b, dtype=torch.int64)
    return out[:_C.cpu_topb_select(x, b, largest, out, torch.get_num_threads())]


@implements("k_center_greedy", "cpp")
class CppKCenter(KCenter):
    """One fused C++ pass per pick (direct-form distances, cosine rows scaled by 1 / |x|)."""

    def __init__(self, pool, metric):
        super().__init__(pool, metric)
        self.inv_norm = None
        if self.cosine:
            self.inv_norm = torch.empty(pool.shape[0], dtype=self.dtype)
            _C.cpu_kcenter_inv_norms(pool, self.inv_norm, torch.get_num_threads())

    def centre(self, i):
        row = self.pool[i].to(self.dtype)
        return row * self.inv_norm[i] if self.cosine else row

    def labeled_min(self, labeled, mind):
        lab = self.embed(labeled).contiguous()
        lab_sq = (lab * lab).sum(1)
        for i, xt, g in self.gemm_tiles(lab, TILE):
            inv = None if self.inv_norm is None else self.inv_norm[i:]
            _C.cpu_kcenter_labeled_min(g, xt, lab, lab_sq, inv, mind[i:], self.metric, REFINE_RTOL, torch.get_num_threads())

    def _pass(self, mind, c, update):
        return _C.cpu_kcenter_pass(self.pool, c.to(self.dtype).contiguous(), self.inv_norm, mind, self.metric, update,
                                   torch.get_num_threads())

    def farthest(self, point):
        scratch = torch.empty(self.pool.shape[0], dtype=self.dtype)
        return self._pass(scratch, point, False)[1]

    def update(self, mind, c):
        return self._pass(mind, c, True)

    def picks(self, mind, first, b):
        out = torch.empty(b, dtype=torch.int64)
        _C.cpu_kcenter_greedy(self.pool, self.inv_norm, mind, first, out, self.metric, torch.get_num_threads())
        return out
