"""RL-MBA's ablations: the score q top-b without the learned policy, one module switched off.

RL-MBA = AMCB (modality weights w) + EFDA (evidential, difficulty-aware uncertainty) + a policy
choosing among the top kappa b by q. The two ablations form a 2 x 2 design with it (our reading
of the paper's "AMCB only" and "EFDA only" rows; no public code exists):

================  ===========================  ==========================================  ======
strategy          modality weights in q        per-modality uncertainty u_m                policy
================  ===========================  ==========================================  ======
rlmba             AMCB w_t                     evidential (``RLMBAConfig.uncertainty``)    yes
amcb_only         AMCB w_t                     entropy of alpha_m / S_m (first order)      no
efda_only         uniform 1 / M                evidential (``RLMBAConfig.uncertainty``)    no
================  ===========================  ==========================================  ======

Both compute q = sum_m w_m minmax(u_m) + beta minmax(d) with the orchestrator's
:func:`rlmba.learn.amcb.efda_round_scores` (d: distance to the nearest of b k-means centroids of
the fused features sum_m w_m f_m, with the same w) and take its top b (ties: lower position).

- ``amcb_only``: AMCB-balanced, but without EFDA's evidential difficulty term: each modality's
  uncertainty is the entropy of its expected probabilities, which ignores the evidence mass S_m
  (the second-order "how much evidence" signal the Dirichlet variance and the policy's
  difficulty features carry).
- ``efda_only``: EFDA's evidential uncertainty, with every modality weighted 1 / M in the fused
  evidence, the fused features and q (no AMCB), and no policy.

Scope: these are selection-side ablations. The loop trains every strategy's classifier with
the AMCB fusion weights (``model.set_fusion_weights``); a strategy cannot switch that off.
"""
from __future__ import annotations

import torch

from ..amcb import efda_round_scores
from ..config import RLMBAConfig
from ..strategies import RoundState, Strategy, register_strategy


def _top_q(state: RoundState, w: torch.Tensor, kind: str, cfg: RLMBAConfig) -> torch.Tensor:
    out = state.outputs
    scores = efda_round_scores(out.modality_logits, out.features, w, state.temperatures, state.budget,
                               beta=cfg.beta, kappa=1, kmeans_iters=cfg.kmeans_iters, kind=kind,
                               generator=state.generator)
    return scores.candidates.cpu()  # kappa = 1: the top b of q, best first


@register_strategy("amcb_only")
class AMCBOnlyStrategy(Strategy):
    """Top b of q with the AMCB weights and entropy (not evidential) per-modality uncertainty."""

    def __init__(self, config: RLMBAConfig | None = None, **_):
        self.cfg = config or RLMBAConfig()

    def select(self, state: RoundState) -> torch.Tensor:
        return _top_q(state, torch.as_tensor(state.weights, dtype=torch.float64), "entropy", self.cfg)


@register_strategy("efda_only")
class EFDAOnlyStrategy(Strategy):
    """Top b of q with uniform modality weights and EFDA's evidential uncertainty."""

    def __init__(self, config: RLMBAConfig | None = None, **_):
        self.cfg = config or RLMBAConfig()

    def select(self, state: RoundState) -> torch.Tensor:
        M = state.outputs.modality_logits.shape[0]
        return _top_q(state, torch.full((M,), 1.0 / M, dtype=torch.float64), self.cfg.uncertainty, self.cfg)
