"""Settles' classic uncertainty baselines on the fused head's probabilities alpha / S: margin and
least confidence (``entropy`` and ``random`` are in :mod:`rlmba.learn.strategies`).

Both are one fused pass of :func:`rlmba.ops.scoring.uncertainty_scores` plus one top-b; ties go to
the lower pool position.
"""
from __future__ import annotations

import torch

from ...ops.scoring import least_confidence, margin
from ...ops.selection import topb_select
from ..strategies import RoundState, Strategy, register_strategy


@register_strategy("margin")
class MarginStrategy(Strategy):
    """The b smallest margins p_(1) - p_(2) between the two most probable classes (Scheffer et
    al. 2001; Settles 2011): the samples closest to a two-class tie."""

    def __init__(self, **_):
        pass

    def select(self, state: RoundState) -> torch.Tensor:
        return topb_select(margin(state.probs), state.budget, largest=False)


@register_strategy("least_confidence")
class LeastConfidenceStrategy(Strategy):
    """The b largest 1 - p_(1): the samples whose top class is least probable (Settles 2011)."""

    def __init__(self, **_):
        pass

    def select(self, state: RoundState) -> torch.Tensor:
        return topb_select(least_confidence(state.probs), state.budget)
