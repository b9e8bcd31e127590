"""BALD with MC dropout (Houlsby et al. 2011; Gal, Islam and Ghahramani, ICML 2017).

S stochastic forward passes with the model's dropout layers on give p_s(y | x); the acquisition
is the mutual information between the label and the weights,
I(y; w | x) = H(mean_s p_s) - mean_s H(p_s), computed by :func:`rlmba.ops.scoring.bald`, and the
b largest are taken (ties: lower pool position). The passes are seeded from the round's
generator (:meth:`RoundState.mc_dropout_probs`), so a run is reproducible.
"""
from __future__ import annotations

import logging

import torch

from ...ops.scoring import bald
from ...ops.selection import topb_select
from ..strategies import RoundState, Strategy, register_strategy

log = logging.getLogger("rlmba")


@register_strategy("bald")
class BALDStrategy(Strategy):
    """``samples``: S, the number of MC-dropout passes (default 10, as in Gal et al. 2017).

    The model must have dropout that is active in ``train()`` mode (the default model's encoders
    do, ``TrainConfig.dropout``); without it every pass is the same, the mutual information is 0
    up to rounding, and a warning is logged (the picks are then rounding noise, not BALD).
    Memory: the S passes are held as ``[S, U, C]`` probabilities.
    """

    def __init__(self, samples: int = 10, **_):
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise ValueError(f"samples: BALD needs at least 2 MC-dropout passes, got {samples!r}")
        self.samples = samples

    def select(self, state: RoundState) -> torch.Tensor:
        probs = state.mc_dropout_probs(self.samples)
        if all(torch.equal(probs[0], p) for p in probs[1:]):
            log.warning("bald: the %d MC-dropout passes are identical (no active dropout in the model?); "
                        "the mutual information is 0 everywhere", self.samples)
        return topb_select(bald(probs), state.budget)
