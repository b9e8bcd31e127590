"""BMMAL, balanced multimodal active learning (Shen et al., ACM MM 2023).

1. Per-sample modality contributions phi ``[N, M]``: Shapley values of the coalition game
   v_x(S) = p(y^ | x, modalities S), the fused head's probability of the predicted class y^ (the
   full-model argmax: pool labels are unknown) with the features of the modalities outside S
   zeroed. M = 2: the exact two-player value phi_1 = (v(12) - v(2) + v(1) - v(0)) / 2. M > 2:
   Monte Carlo over ``permutations`` random orders of the modalities (exact enumeration when M!
   is not larger), each coalition evaluated once. Every order satisfies
   sum_m phi_m = v(all) - v(none) exactly.
2. Per-modality gradient blocks g_m(x) = s_m(x) q(x) (x) f_m(x), q = p - onehot(y^), f_m the
   ``modality_embeddings`` as the fused head sees them (a head on the concatenation
   [f_1, ..., f_M] has exactly these gradient blocks; rlmba's loop passes w_m f_m, its head on
   sum_m w_m f_m being such a head with tied blocks). The scale s_m = max(0, 1 - (max_k phi_k -
   phi_m)) shrinks the weaker modalities' blocks.
3. BADGE-style k-means++ on the concatenated blocks, factored (never materialised):
   :func:`rlmba.ops.seeding.bmmal_select`.

From plain pool outputs the contributions come either ready-made (``modality_contributions``,
``[N, M]`` per sample or ``[M]``) or from ``fuse``, a function of the modality features (the
dropped ones zeroed) returning the fused class probabilities, which step 1 evaluates per coalition.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import torch

from ..ops.seeding import bmmal_select
from .base import PoolOutputs, Selection, Selector, register_selector, scored


def _orders(M: int, permutations: int, generator: torch.Generator | None) -> list[tuple[int, ...]]:
    if M <= 2 or math.factorial(M) <= permutations:
        return list(itertools.permutations(range(M)))
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    return [tuple(torch.randperm(M, generator=g).tolist()) for _ in range(permutations)]


def check_permutations(permutations) -> int:
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise ValueError(f"permutations: expected an int >= 1, got {permutations!r}")
    return permutations


def shapley_values(value: Callable[[tuple[int, ...]], torch.Tensor], M: int, permutations: int = 16,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """float64 ``[N, M]`` Shapley values of the per-row game ``value(coalition) -> [N]``
    (``coalition``: a sorted tuple of modality indices), each coalition evaluated once, over the
    orders of :func:`_orders` (all M! when not more than ``permutations``)."""
    cache: dict[tuple[int, ...], torch.Tensor] = {}

    def v(coalition) -> torch.Tensor:
        key = tuple(sorted(coalition))
        if key not in cache:
            cache[key] = value(key).double()
        return cache[key]

    orders = _orders(M, check_permutations(permutations), generator)
    phi = None
    for order in orders:
        prev = v(())
        phi = torch.zeros(prev.shape[0], M, dtype=torch.float64, device=prev.device) if phi is None else phi
        for k, m in enumerate(order):
            cur = v(order[:k + 1])
            phi[:, m] += cur - prev  # marginal contribution of m joining the modalities before it
            prev = cur
    return phi / len(orders)


def fuse_contributions(fuse, features: list[torch.Tensor], permutations: int = 16,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """``[N, M]`` contributions of the M modality ``features`` to ``fuse``'s probability of its
    predicted class, ``fuse(features with the dropped modalities zeroed) -> probs [N, C]``."""
    with torch.no_grad():
        y_hat = torch.as_tensor(fuse(list(features))).argmax(1, keepdim=True)

        def value(coalition) -> torch.Tensor:
            kept = [f if m in coalition else torch.zeros_like(f) for m, f in enumerate(features)]
            return torch.as_tensor(fuse(kept)).gather(1, y_hat).squeeze(1)

        return shapley_values(value, len(features), permutations, generator)


@register_selector("bmmal")
class BMMAL(Selector):
    """``permutations``: Monte Carlo orders for the Shapley values when M > 2 (default 16).
    Randomness (the orders, then one uniform per k-means++ pick) comes from the generator."""

    needs = ("probs", "modality_embeddings")
    optional = ("modality_contributions", "fuse")

    def __init__(self, permutations: int = 16):
        self.permutations = check_permutations(permutations)

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        feats = pool["modality_embeddings"]
        phi = pool.get("modality_contributions")
        if phi is None:
            if "fuse" not in pool:
                raise ValueError("bmmal: missing input modality_contributions ([N, M] or [M]) or fuse "
                                 "(fused class probabilities of the modality features, to compute them)")
            phi = fuse_contributions(pool["fuse"], feats, self.permutations, generator)
        return scored(bmmal_select(pool["probs"], feats, phi, budget, generator=generator))
