"""Triton implementations of nearest_centroid and cluster_sums (kernels in :mod:`rlmba.kernels.clustering`)
and kmeanspp (:mod:`rlmba.kernels.kmeanspp`; its D^2 pick runs on the host, one copy of the N
distances per pick, see that module's docstring).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from __future__ import annotations

import torch

from ..._dispatch import implements
from ...kernels import clustering as kernels
from ...kernels import kmeanspp as kmeanspp_kernels

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _supports(dtype=None, **_facts) -> list[str]:
    """Every float dtype computes (half in float32, float64 in float64)."""
    if dtype is not None and dtype not in _DTYPES:
        return [f"triton kernels take {', '.join(map(str, _DTYPES))}, got {dtype}"]
    return []


implements("nearest_centroid", "triton", supports=_supports)(kernels.nearest_centroid)
implements("cluster_sums", "triton", supports=_supports)(kernels.cluster_sums)
implements("kmeanspp", "triton", supports=_supports)(kmeanspp_kernels.kmeanspp)
