"""Triton implementations of k_center_greedy and topb_select (kernels in :mod:`rlmba.kernels.selection`).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from __future__ import annotations

import torch

from ..._dispatch import implements
from ...kernels import selection as kernels
from ...reference.selection import METRICS

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _supports(dtype=None, metric=None, **_facts) -> list[str]:
    """Every float dtype (half in float32, float64 in float64) and both metrics."""
    reasons = []
    if dtype is not None and dtype not in _DTYPES:
        reasons.append(f"triton kernels take {', '.join(map(str, _DTYPES))}, got {dtype}")
    if metric is not None and metric not in METRICS:
        reasons.append(f"triton k-center knows the metrics {METRICS}, got {metric!r}")
    return reasons


implements("k_center_greedy", "triton", supports=_supports)(kernels.k_center_greedy)


def _topb_supports(dtype=None, **_facts) -> list[str]:
    """float32 and float64 scores (the op's contract)."""
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        return [f"triton top-b takes float32 or float64, got {dtype}"]
    return []


implements("topb_select", "triton", supports=_topb_supports)(kernels.topb_select)
