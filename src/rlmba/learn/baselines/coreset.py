"""Core-set (Sener and Savarese, ICLR 2018): k-center greedy on the fused features.

The labeled set's fused features are the initial centers; each pick is the pool sample farthest
(squared Euclidean, or 1 - cos) from its nearest center, which then becomes a center. One call
of :func:`rlmba.ops.selection.k_center_greedy`: O(U) memory, never a U x L distance matrix.
"""
from __future__ import annotations

import torch

from ...ops.selection import k_center_greedy
from ..strategies import RoundState, Strategy, register_strategy


@register_strategy("coreset")
class CoresetStrategy(Strategy):
    """``metric``: ``"euclidean"`` (default, the paper's) or ``"cosine"``. Deterministic: ties go
    to the lower pool position, no random numbers are drawn."""

    def __init__(self, metric: str = "euclidean", **_):
        self.metric = metric

    def select(self, state: RoundState) -> torch.Tensor:
        centers = state.forward(state.labeled).fused if len(state.labeled) else None
        return k_center_greedy(state.embeddings, state.budget, labeled=centers, metric=self.metric)
