"""The single-head strategies: random, the uncertainty scores (Settles 2011), BALD, core-set, BADGE.

========================  ============================  =============================================
strategy                  inputs                        picks
========================  ============================  =============================================
random                    any pool output or pool_size  ``torch.randperm(N, generator)[:b]``
entropy                   probs (or logits)             the b largest entropies -sum p log p
margin                    probs (or logits)             the b smallest p_(1) - p_(2)
least_confidence          probs (or logits)             the b largest 1 - p_(1)
bald                      mc_probs                      the b largest MC-dropout mutual informations
coreset                   embeddings, labeled_embeddings  k-center greedy from the labeled rows
badge                     probs (or logits), embeddings  k-means++ on gradient embeddings
========================  ============================  =============================================

Top-b strategies break ties towards the lower row index and report each pick's score; random,
core-set and BADGE pick a set and report NaN scores. ``logits`` are turned into probabilities
with a softmax; pass ``probs`` for any other link (rlmba's evidential heads pass alpha / S).
"""
from __future__ import annotations

import logging

import torch

from ..ops.scoring import bald, entropy, least_confidence, margin
from ..ops.seeding import badge_select
from ..ops.selection import k_center_greedy, topb_select
from .base import PoolOutputs, Selection, Selector, register_selector, scored

log = logging.getLogger("rlmba")


@register_selector("random")
class Random(Selector):
    """b distinct rows uniformly at random (``torch.randperm`` with the generator)."""

    optional = ("pool_size",)

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        return scored(torch.randperm(pool.n, generator=generator)[:budget])


class _TopScore(Selector):
    needs = ("probs",)
    score = staticmethod(entropy)
    largest = True

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        s = self.score(pool["probs"])
        return scored(topb_select(s, budget, largest=self.largest), s)


@register_selector("entropy")
class Entropy(_TopScore):
    """The b highest predictive entropies."""


@register_selector("margin")
class Margin(_TopScore):
    """The b smallest margins p_(1) - p_(2) between the two most probable classes."""

    score = staticmethod(margin)
    largest = False


@register_selector("least_confidence")
class LeastConfidence(_TopScore):
    """The b largest 1 - p_(1)."""

    score = staticmethod(least_confidence)


@register_selector("bald")
class BALD(Selector):
    """The b largest mutual informations H(mean_s p_s) - mean_s H(p_s) of S MC-dropout passes
    (Gal et al. 2017). Identical passes (no active dropout) give 0 everywhere: a warning is logged."""

    needs = ("mc_probs",)

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        mc = pool["mc_probs"]
        if all(torch.equal(mc[0], p) for p in mc[1:]):
            log.warning("bald: the %d MC-dropout passes are identical (no active dropout in the model?); "
                        "the mutual information is 0 everywhere", len(mc))
        s = bald(mc)
        return scored(topb_select(s, budget), s)


@register_selector("coreset")
class Coreset(Selector):
    """k-center greedy (Sener and Savarese 2018): the labeled rows are the first centers; each
    pick is the pool row farthest from its nearest center. ``metric``: ``"euclidean"`` or
    ``"cosine"``. Deterministic (ties to the lower row)."""

    needs = ("embeddings",)
    optional = ("labeled_embeddings",)

    def __init__(self, metric: str = "euclidean"):
        self.metric = metric

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        labeled = pool.get("labeled_embeddings")
        labeled = labeled if labeled is not None and len(labeled) else None
        return scored(k_center_greedy(pool["embeddings"], budget, labeled=labeled, metric=self.metric))


@register_selector("badge")
class Badge(Selector):
    """BADGE (Ash et al. 2020): k-means++ on the gradient embeddings (p - onehot(argmax p)) x f,
    never materialised; first pick the largest gradient norm, then D^2 sampling from the generator."""

    needs = ("probs", "embeddings")

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        return scored(badge_select(pool["probs"], pool["embeddings"], budget, generator=generator))
