"""The C++/OpenMP backend of the selection ops (csrc/cpu/selection.cpp): CPU tensors.

The extension reads validated tensors through their data_ptr()s (no copies; the tensors stay
referenced here for the call) and releases the GIL. k-center's labeled-set distances are the one
GEMM-shaped step: torch's BLAS computes them for a bounded tile of pool rows at a time
(``TILE`` distances) and the C++ epilogue folds each tile's row minima into the
min-distance vector, so no N x L matrix exists.
"""
import torch

from ... import _C
from ..._dispatch import implements
from ...reference.selection import REFINE_RTOL

# GEMM tile: 2^23 products (32 MiB in float32, about L3) for the epilogue to read back from
# cache. Smaller tiles run faster GEMMs on idle cores but pay one thread barrier per GEMM and
# epilogue call, which costs most when other work shares the cores.
TILE = 1 << 23
STORAGE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
METRIC = {"euclidean": 0, "cosine": 1}


@implements("topb_select", "cpp")
def topb_select(x, b, largest):
    out = torch.empty(b, dtype=torch.int64)
    m = _C.topb_select(x.data_ptr(), x.shape[0], b, largest, out.data_ptr(), x.dtype == torch.float64)
    return out[:m]


def _labeled_min(x, lab, inv_norm, metric, mind):
    """mind = distance to the nearest labeled row, one tile of pool rows at a time."""
    cdt = mind.dtype
    cosine = metric == "cosine"
    if cosine:
        lab = lab / torch.linalg.vector_norm(lab, dim=1, keepdim=True)
    lab = lab.contiguous()
    lab_sq = (lab * lab).sum(1)
    step = max(1, TILE // lab.shape[0])
    for i in range(0, x.shape[0], step):
        xt = x[i:i + step].to(cdt).contiguous()
        g = xt @ lab.T
        _C.labeled_min(g.data_ptr(), xt.data_ptr(), lab.data_ptr(), lab_sq.data_ptr(),
                       inv_norm[i:].data_ptr() if cosine else 0, xt.shape[0], lab.shape[0], x.shape[1],
                       METRIC[metric], REFINE_RTOL, mind[i:].data_ptr(), cdt == torch.float64)


def _mean(x, inv_norm, cdt):
    """Pool mean in the metric's space (x, or x / |x|), float64 sums in C++."""
    mean = torch.empty(x.shape[1], dtype=cdt)
    _C.pool_mean(x.data_ptr(), STORAGE[x.dtype], x.shape[0], x.shape[1],
                 0 if inv_norm is None else inv_norm.data_ptr(), mean.data_ptr())
    return mean


@implements("k_center_greedy", "cpp")
def k_center_greedy(pool, b, labeled, exclude, metric):
    N, D = pool.shape
    cdt = torch.float64 if pool.dtype == torch.float64 else torch.float32
    inv_norm = None
    if metric == "cosine":
        inv_norm = torch.empty(N, dtype=cdt)
        _C.inv_norms(pool.data_ptr(), STORAGE[pool.dtype], N, D, inv_norm.data_ptr())
    mind = torch.full((N,), float("inf"), dtype=cdt)
    if labeled.shape[0]:
        _labeled_min(pool, labeled, inv_norm, metric, mind)
    mind[exclude] = float("-inf")
    mean = None if labeled.shape[0] or exclude.numel() else _mean(pool, inv_norm, cdt)
    out = torch.empty(b, dtype=torch.int64)
    _C.kcenter_greedy(pool.data_ptr(), STORAGE[pool.dtype], N, D, b, METRIC[metric],
                      0 if inv_norm is None else inv_norm.data_ptr(), 0 if mean is None else mean.data_ptr(),
                      mind.data_ptr(), out.data_ptr())
    return out
