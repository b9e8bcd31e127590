"""The CUDA backend of the seeding ops (csrc/cuda/seeding.cu).

COMPILED, NOT RUN: no GPU was available when this was written; the kernels have never executed.
Everything runs on the input's device and the current torch stream, without host synchronisation;
the workspace comes from torch's caching allocator, so nothing is allocated or leaked in C++.
"""
import torch

from ... import _C
from ..._checks import NATIVE_DTYPES
from ..seeding import register_gradient_seeding
from .runtime import stream

BLOCK = 2048  # rlmba::seeding::kBlock


def kmeanspp_gradient(probs, hs, scales, u, b):
    dev = probs.device
    N, C = probs.shape
    hptr = torch.tensor([h.data_ptr() for h in hs], dtype=torch.int64, device=dev)
    dims = torch.tensor([h.shape[1] for h in hs], dtype=torch.int64, device=dev)
    out = torch.empty(b, dtype=torch.int64, device=dev)
    y = torch.empty(N, dtype=torch.int64, device=dev)
    fwork = torch.empty(2 * N + (N + BLOCK - 1) // BLOCK, dtype=torch.float64, device=dev)
    picked = torch.empty(N, dtype=torch.uint8, device=dev)
    _C.cuda_kmeanspp_gradient(probs.data_ptr(), probs.dtype == torch.float64, N, C, len(hs), hptr.data_ptr(),
                              dims.data_ptr(), scales.data_ptr(), scales.shape[0] > 1, u.data_ptr(), b,
                              out.data_ptr(), y.data_ptr(), fwork.data_ptr(), picked.data_ptr(), stream(probs))
    return out


register_gradient_seeding("cuda", kmeanspp_gradient, NATIVE_DTYPES)
