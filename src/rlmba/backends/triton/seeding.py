"""Triton implementations of badge_select and bmmal_select (kernels in :mod:`rlmba.kernels.seeding`).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written. The D^2 pick runs on the
host (one device->host copy of the N float64 distances per pick); see the kernel module's docstring.
"""
from __future__ import annotations

import torch

from ..._dispatch import implements
from ...kernels import seeding as kernels


def _supports(dtype=None, **_facts) -> list[str]:
    """float32 and float64 inputs (the op casts halves to float32); distances are float64."""
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        return [f"triton seeding takes float32 or float64, got {dtype}"]
    return []


implements("badge_select", "triton", supports=_supports)(kernels.badge_select)
implements("bmmal_select", "triton", supports=_supports)(kernels.bmmal_select)
