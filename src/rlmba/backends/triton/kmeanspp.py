"""Triton implementation of kmeanspp (kernel in :mod:`rlmba.kernels.kmeanspp`).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written. The D^2 pick runs on the
host (one device->host copy of the N distances per pick); see the kernel module's docstring.
"""
from __future__ import annotations

import torch

from ..._dispatch import implements
from ...kernels import kmeanspp as kernels

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _supports(dtype=None, **_facts) -> list[str]:
    """Every float dtype computes (half in float32, float64 in float64)."""
    if dtype is not None and dtype not in _DTYPES:
        return [f"triton kmeanspp takes {', '.join(map(str, _DTYPES))}, got {dtype}"]
    return []


implements("kmeanspp", "triton", supports=_supports)(kernels.kmeanspp)
