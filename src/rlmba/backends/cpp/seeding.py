"""The C++/OpenMP backend of the seeding ops (csrc/cpu/seeding.cpp): CPU, float32 and float64.

The extension reads the validated tensors through DLPack (no copies) and checks them again; the
GIL is released inside.
"""
import torch

from ... import _C
from ..._checks import NATIVE_DTYPES
from ..seeding import register_gradient_seeding


def kmeanspp_gradient(probs, hs, scales, u, b):
    """Shared by both ops; ``scales`` float64 ``[1 or N, M]`` contiguous."""
    out = torch.empty(b, dtype=torch.int64)
    _C.cpu_kmeanspp_gradient(probs, list(hs), scales, u, out, torch.get_num_threads())
    return out


register_gradient_seeding("cpp", kmeanspp_gradient, NATIVE_DTYPES)
