"""The C++/OpenMP backend of the seeding ops (csrc/cpu/seeding.cpp): CPU, float32 and float64.

The extension reads the validated tensors through DLPack (no copies) and checks them again; the
GIL is released inside.
"""
import torch

from ... import _C
from ..._checks import NATIVE_DTYPES
from ..._dispatch import implements


def kmeanspp_gradient(probs, hs, scales, u, b):
    """Shared by both ops; ``scales`` float64 ``[1 or N, M]`` contiguous."""
    out = torch.empty(b, dtype=torch.int64)
    _C.cpu_kmeanspp_gradient(probs, list(hs), scales, u, out, torch.get_num_threads())
    return out


@implements("badge_select", "cpp", dtypes=NATIVE_DTYPES)
def badge_select(probs, embeddings, u, b):
    return kmeanspp_gradient(probs, [embeddings], torch.ones(1, 1, dtype=torch.float64), u, b)


@implements("bmmal_select", "cpp", dtypes=NATIVE_DTYPES)
def bmmal_select(probs, hs, scales, u, b):
    return kmeanspp_gradient(probs, hs, scales, u, b)
