"""Triton implementations of the scoring ops (kernels in :mod:`rlmba.kernels.scoring`).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from __future__ import annotations

import torch

from ..._dispatch import implements
from ...kernels import scoring as kernels

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _supports(dtype=None, C=None, **_facts) -> list[str]:
    """Reasons the kernels cannot take a call: every float dtype computes (float64 in float64);
    C above one tile is refused when the caller passes the class count as a fact."""
    reasons = []
    if dtype is not None and dtype not in _DTYPES:
        reasons.append(f"triton kernels take {', '.join(map(str, _DTYPES))}, got {dtype}")
    if C is not None and C > kernels.MAX_CLASSES:
        reasons.append(f"triton kernels hold a row in one tile: C = {C} > {kernels.MAX_CLASSES}")
    return reasons


for _op in ("fuse_evidence", "dirichlet_uncertainty", "efda_scores", "uncertainty_scores", "bald"):
    implements(_op, "triton", supports=_supports)(getattr(kernels, _op))
