"""BADGE and BMMAL share one kernel per backend: BADGE is BMMAL with one feature block at scale 1.
A backend registers both ops from its ``kmeanspp_gradient(probs, hs, scales, u, b)`` (the contract
of :mod:`rlmba.ops.seeding`)."""
from __future__ import annotations

import torch

from .._dispatch import implements


def register_gradient_seeding(backend: str, kmeanspp_gradient, dtypes=None) -> None:
    """Register ``badge_select`` and ``bmmal_select`` of ``backend`` on ``kmeanspp_gradient``."""

    def badge_select(probs, embeddings, u, b):
        ones = torch.ones(1, 1, dtype=torch.float64, device=probs.device)
        return kmeanspp_gradient(probs, [embeddings], ones, u, b)

    implements("badge_select", backend, dtypes=dtypes)(badge_select)
    implements("bmmal_select", backend, dtypes=dtypes)(kmeanspp_gradient)
