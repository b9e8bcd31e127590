"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings.

g(x) = (p(x) - onehot(argmax p(x))) (x) f(x): the gradient of the cross-entropy at the predicted
label with respect to the fused head's weights, p the fused head's probabilities alpha / S and f
the fused features (the head's input). :func:`rlmba.ops.seeding.badge_select` never builds the
``[U, C h]`` embeddings: distances come from the factored form in float64.

Note: the fused head here is evidential (trained with the EDL loss), so q = p - onehot is the
cross-entropy gradient BADGE defines, evaluated at the head's expected probabilities, not the
gradient of the EDL loss.
"""
from __future__ import annotations

import torch

from ...ops.seeding import badge_select
from ..strategies import RoundState, Strategy, register_strategy


@register_strategy("badge")
class BadgeStrategy(Strategy):
    """First pick: the largest gradient norm; then D^2 sampling with one uniform per pick drawn
    from the round's generator (same seed, same picks on every backend and thread count)."""

    def __init__(self, **_):
        pass

    def select(self, state: RoundState) -> torch.Tensor:
        return badge_select(state.probs, state.embeddings, state.budget, generator=state.generator)
