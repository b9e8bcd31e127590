"""BMMAL, balanced multimodal active learning (Shen et al., ACM MM 2023).

1. Per-sample modality contributions phi ``[U, M]``: Shapley values of the coalition game
   v_x(S) = p(y^ | x, modalities S), the fused head's probability of the predicted class y^ (the
   full-model argmax: pool labels are unknown) with the features of the modalities outside S
   zeroed (``model.fuse(features, mask)``: modality-dropped forward passes of the fused head).
   M = 2: the exact two-player value phi_1 = (v(12) - v(2) + v(1) - v(0)) / 2. M > 2: Monte Carlo
   over ``permutations`` random orders of the modalities (exact enumeration when M! is not larger),
   each coalition evaluated once. Every order satisfies sum_m phi_m = v(all) - v(none) exactly.
2. Per-modality gradient blocks g_m(x) = s_m(x) q(x) (x) w_m f_m(x), q = p - onehot(y^), w the
   model's fusion weights: the fused head on sum_m w_m f_m is a linear head on the concatenation
   [w_1 f_1, ..., w_M f_M] with tied blocks, and these are that head's gradient blocks. The scale
   s_m = max(0, 1 - (max_k phi_k - phi_m)) shrinks the weaker modalities' blocks.
3. BADGE-style k-means++ on the concatenated blocks, factored (never materialised):
   :func:`rlmba.ops.seeding.bmmal_select`.
"""
from __future__ import annotations

import itertools
import math

import torch

from ...ops.seeding import bmmal_select
from ..metrics import coalition_probs, shapley
from ..strategies import RoundState, Strategy, register_strategy


def _orders(M: int, permutations: int, generator: torch.Generator | None) -> list[tuple[int, ...]]:
    if M <= 2 or math.factorial(M) <= permutations:
        return list(itertools.permutations(range(M)))
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    return [tuple(torch.randperm(M, generator=g).tolist()) for _ in range(permutations)]


@torch.no_grad()
def sample_shapley(model, features: torch.Tensor, permutations: int = 16,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample Shapley contributions float64 ``[N, M]`` of each modality to the fused head's
    probability of its predicted class (see the module docstring).

    ``model``: has ``fuse(features, mask) -> (fused, fused_logits)``; ``features``: ``[M, N, h]``
    per-modality features f_m(x). ``permutations``: Monte Carlo orders for M > 2 (all M! orders
    when that is not more); ``generator`` draws them. Cost: one fused-head pass per distinct
    coalition (at most min(2^M, permutations * M + 1)), each an ``[N]`` float64 vector kept.
    """
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise ValueError(f"permutations: expected an int >= 1, got {permutations!r}")
    M = features.shape[0]
    _, logits = model.fuse(features)
    value = coalition_probs(model, features, logits.argmax(1))
    return torch.stack(shapley(value, M, _orders(M, permutations, generator)), 1)


@register_strategy("bmmal")
class BMMALStrategy(Strategy):
    """``permutations``: Monte Carlo orders for the Shapley values when M > 2 (default 16).
    Randomness (the orders, then one uniform per k-means++ pick) comes from the round's generator."""

    def __init__(self, permutations: int = 16, **_):
        self.permutations = permutations

    def select(self, state: RoundState) -> torch.Tensor:
        out = state.outputs
        phi = sample_shapley(state.model, out.features, self.permutations, state.generator)
        w = state.model.fusion_weights.to(out.features)
        blocks = [w[m] * out.features[m] for m in range(out.features.shape[0])]
        return bmmal_select(state.probs, blocks, phi, state.budget, generator=state.generator)
