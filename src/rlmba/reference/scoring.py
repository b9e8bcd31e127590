"""Pure-PyTorch reference of the scoring ops: the specification every backend is tested against.

Readable over fast, float64-capable, and the "pure-PyTorch scorer" rlmba replaces. Inputs are
already validated by :mod:`rlmba.ops.scoring`: ``zs`` is a list of M ``[n, C]`` logit tensors,
``weights`` and ``temperatures`` are tuples of M floats. Half inputs compute in float32.
"""
from __future__ import annotations

import torch

from .._checks import compute_dtype

KINDS = ("variance", "vacuity", "entropy")
RULES = ("weighted", "ds")



def evidence(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """e = softplus(z / T) = max(x, 0) + log1p(exp(-|x|)): exact for |x| large, 0 at x = -inf."""
    x = z.to(compute_dtype(z.dtype)) / temperature
    return x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))


def ds_combine(alpha1: torch.Tensor, alpha2: torch.Tensor) -> torch.Tensor:
    """TMC's reduced Dempster-Shafer combination of two Dirichlet opinions (Han et al. 2021)."""
    C = alpha1.shape[-1]
    S1, S2 = alpha1.sum(-1, keepdim=True), alpha2.sum(-1, keepdim=True)
    b1, b2 = (alpha1 - 1) / S1, (alpha2 - 1) / S2
    u1, u2 = C / S1, C / S2
    conflict = b1.sum(-1, keepdim=True) * b2.sum(-1, keepdim=True) - (b1 * b2).sum(-1, keepdim=True)
    b = (b1 * b2 + b1 * u2 + b2 * u1) / (1 - conflict)
    u = u1 * u2 / (1 - conflict)
    return b * (C / u) + 1


def fuse_evidence(zs, weights, temperatures, rule: str = "weighted") -> torch.Tensor:
    """alpha_f [n, C]. weighted: 1 + sum_m w_m e_m; ds: TMC combination folded left."""
    if rule == "weighted":
        return 1 + sum(w * evidence(z, t) for z, w, t in zip(zs, weights, temperatures))
    alpha = evidence(zs[0], temperatures[0]) + 1
    for z, t in zip(zs[1:], temperatures[1:]):
        alpha = ds_combine(alpha, evidence(z, t) + 1)
    return alpha


def dirichlet_uncertainty(alpha: torch.Tensor, kind: str = "variance") -> torch.Tensor:
    """Per-row uncertainty of Dir(alpha), alpha [n, C] > 0.

    variance: (1/C) sum_c alpha_c (S - alpha_c) / (S^2 (S + 1)); vacuity: C / S;
    entropy: -sum_c p_c log p_c with p = alpha / S.
    """
    alpha = alpha.to(compute_dtype(alpha.dtype))
    C = alpha.shape[-1]
    S = alpha.sum(-1, keepdim=True)
    if kind == "variance":
        return (alpha * (S - alpha)).sum(-1) / (S.squeeze(-1) ** 2 * (S.squeeze(-1) + 1)) / C
    if kind == "vacuity":
        return C / S.squeeze(-1)
    p = alpha / S
    return -torch.special.xlogy(p, p).sum(-1)


def efda_scores(zs, weights, temperatures, kind: str = "variance"):
    """(u_fused [n], u_modal [M, n]) of the weighted evidential fusion."""
    e = [evidence(z, t) for z, t in zip(zs, temperatures)]
    u_fused = dirichlet_uncertainty(1 + sum(w * e_m for w, e_m in zip(weights, e)), kind)
    u_modal = torch.stack([dirichlet_uncertainty(e_m + 1, kind) for e_m in e])
    return u_fused, u_modal


def uncertainty_scores(x: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    """[3, n]: entropy (nats), margin p1 - p2, least confidence 1 - p_max of the rows of x.

    -inf logits (masked classes) get probability 0 and add nothing to the entropy.
    """
    x = x.to(compute_dtype(x.dtype))
    p = torch.softmax(x, dim=-1) if from_logits else x
    entropy = -torch.special.xlogy(p, p).sum(-1)
    top2 = p.topk(2, dim=-1).values
    return torch.stack([entropy, top2[:, 0] - top2[:, 1], 1 - top2[:, 0]])


def bald(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information of MC samples probs [S, n, C]: H(mean_s p) - mean_s H(p_s), in nats."""
    probs = probs.to(compute_dtype(probs.dtype))
    mean = probs.mean(0)
    return -torch.special.xlogy(mean, mean).sum(-1) + torch.special.xlogy(probs, probs).sum(-1).mean(0)
