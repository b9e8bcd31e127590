"""RL-MBA and its two ablations on plain pool outputs: AMCB weights -> EFDA score q -> picks.

Inputs: ``modality_logits [M, N, C]`` (each modality head's logits, read as evidence
softplus(z / T_m), the evidential reading RL-MBA's heads are trained for; the logits of ordinary
softmax heads work too: their evidence grows with the logit), ``modality_embeddings`` (M
``[N, D_m]`` features), optional ``temperatures [M]`` (default 1), and the modality weights w:
either ``weights [M]`` directly or, as RL-MBA computes them (AMCB), from the validation Top-1 of
each modality head and of the fused head: w = softmax((Top1_m - Top1_fused) / tau), floored at
eps and renormalised (:func:`rlmba.learn.amcb.amcb_weights`).

q = sum_m w_m minmax(u_m) + beta minmax(d) (:func:`rlmba.learn.amcb.efda_round_scores`), u_m
the evidential uncertainty of modality m, d the distance to the nearest of b k-means centroids
of the fused features: sum_m w_m f_m when the widths D_m agree, else the concatenation
[w_1 f_1, ..., w_M f_M]. Candidates: the top kappa b rows by q.

==========  ===========================  ========================================  ==============
strategy    modality weights             per-modality uncertainty u_m              picks
==========  ===========================  ========================================  ==============
rlmba       AMCB w                       evidential (``uncertainty``, variance)    policy / greedy
amcb_only   AMCB w                       entropy of alpha_m / S_m                  top b of q
efda_only   uniform 1 / M                evidential                                top b of q
==========  ===========================  ========================================  ==============

RL-MBA's ``policy`` chooses b of the candidates: None (the greedy rule: the b largest q, i.e. the
first b candidates), a saved policy file (``rlmba run`` writes ``policy.pt``; its state also
needs ``modality_val_top1``, ``fused_val_top1``, ``val_nll``, ``val_ece``, ``train_losses`` and
``train_grad_norms``), or a callable ``policy(scores, budget, generator) -> positions`` in the
candidate set (:class:`rlmba.learn.amcb.RoundScores`; the loop passes its policy this way).
Every pick's score is its q.
"""
from __future__ import annotations

import dataclasses
import os

import torch

from ..learn.amcb import amcb_weights, efda_round_scores
from ..learn.config import RLMBAConfig
from .base import PoolOutputs, Selection, Selector, register_selector

POLICY_STATE = ("modality_val_top1", "fused_val_top1", "val_nll", "val_ece", "train_losses", "train_grad_norms")


class _Score(Selector):
    """Options: an :class:`~rlmba.learn.config.RLMBAConfig` (``config``) and/or its fields
    ``beta``, ``kappa``, ``kmeans_iters``, ``uncertainty``, ``tau``, ``eps`` (these win)."""

    needs = ("modality_logits", "modality_embeddings")
    optional = ("temperatures", "weights", "modality_val_top1", "fused_val_top1")

    def __init__(self, config: RLMBAConfig | None = None, *, beta: float | None = None, kappa: int | None = None,
                 kmeans_iters: int | None = None, uncertainty: str | None = None, tau: float | None = None,
                 eps: float | None = None):
        given = dict(beta=beta, kappa=kappa, kmeans_iters=kmeans_iters, uncertainty=uncertainty, tau=tau, eps=eps)
        self.cfg = dataclasses.replace(config or RLMBAConfig(), **{k: v for k, v in given.items() if v is not None})

    def weights(self, pool: PoolOutputs, M: int) -> torch.Tensor:
        if "weights" in pool:
            w = pool["weights"].to(torch.float64).flatten()
        elif "modality_val_top1" in pool and "fused_val_top1" in pool:
            delta = pool["modality_val_top1"].double().flatten() - float(pool["fused_val_top1"])
            w = amcb_weights(delta, self.cfg.tau, self.cfg.eps)
        else:
            raise ValueError(f"{self.name}: missing input weights ([M] modality weights), or modality_val_top1 "
                             "([M] validation Top-1 of each modality head) and fused_val_top1 (of the fused head)")
        if w.numel() != M:
            raise ValueError(f"{self.name}: {w.numel()} modality weights for M = {M} modality heads")
        return w

    def scores(self, pool: PoolOutputs, w: torch.Tensor, budget: int, kind: str, kappa: int, generator):
        z = pool["modality_logits"]
        M = z.shape[0]
        feats = pool.modality_embeddings
        if len(feats) != M:
            raise ValueError(f"{self.name}: {len(feats)} modality_embeddings for M = {M} modality_logits")
        temps = pool.get("temperatures")
        temps = [1.0] * M if temps is None else torch.as_tensor(temps, dtype=torch.float64).flatten().tolist()
        return efda_round_scores(z, feats, w, temps, budget, beta=self.cfg.beta, kappa=kappa,
                                 kmeans_iters=self.cfg.kmeans_iters, kind=kind, generator=generator)


def _top_q(scores) -> Selection:
    c = scores.candidates.cpu()
    return Selection(c, scores.q[scores.candidates].double().cpu())


@register_selector("amcb_only")
class AMCBOnly(_Score):
    """The top b of q with the AMCB weights and entropy (not evidential) per-modality uncertainty."""

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        w = self.weights(pool, pool["modality_logits"].shape[0])
        return _top_q(self.scores(pool, w, budget, "entropy", 1, generator))


@register_selector("efda_only")
class EFDAOnly(_Score):
    """The top b of q with uniform modality weights and EFDA's evidential uncertainty."""

    optional = ("temperatures",)

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        M = pool["modality_logits"].shape[0]
        w = torch.full((M,), 1.0 / M, dtype=torch.float64)
        return _top_q(self.scores(pool, w, budget, self.cfg.uncertainty, 1, generator))


@register_selector("rlmba")
class RLMBA(_Score):
    """RL-MBA: candidates by q, then the ``policy`` (an input; see the module docstring) picks b."""

    optional = _Score.optional + ("policy",) + POLICY_STATE[2:]

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        w = self.weights(pool, pool["modality_logits"].shape[0])
        scores = self.scores(pool, w, budget, self.cfg.uncertainty, self.cfg.kappa, generator)
        policy = pool.get("policy")
        if policy is None:
            chosen = torch.arange(budget)  # the greedy rule: candidates are sorted by q
        elif isinstance(policy, (str, os.PathLike)):
            chosen = self._policy_file(os.fspath(policy), pool, scores, w, budget, generator)
        elif callable(policy):
            chosen = torch.as_tensor(policy(scores, budget, generator)).cpu()
        else:
            raise TypeError(f"policy: expected None, a policy file or a callable, got {type(policy).__name__}")
        idx = scores.candidates.cpu()[chosen]
        return Selection(idx, scores.q[idx.to(scores.q.device)].double().cpu())

    def _policy_file(self, path: str, pool: PoolOutputs, scores, w, budget: int, generator) -> torch.Tensor:
        from ..learn.rlmba_strategy import RLMBAStrategy
        from ..learn.train import TrainLog

        missing = [n for n in POLICY_STATE if n not in pool]
        if missing:
            raise ValueError(f"rlmba: a policy file reads the round's state; missing input(s) {missing}")
        top1 = float(pool["fused_val_top1"])
        val = {"top1": top1, "nll": float(pool["val_nll"]), "ece": float(pool["val_ece"]),
               "delta": (pool["modality_val_top1"].double().flatten() - top1).tolist()}
        rho = TrainLog([float(x) for x in pool["train_losses"]], [float(x) for x in pool["train_grad_norms"]])
        strategy = RLMBAStrategy(self.cfg, policy=path)
        C = pool["modality_logits"].shape[-1]
        return strategy.policy_pick(scores, w, val, C, rho.diagnostics(), budget, generator)
