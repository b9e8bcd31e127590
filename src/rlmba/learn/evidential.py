"""Evidential deep learning pieces: the EDL loss (Sensoy et al. 2018) and temperature scaling.

A head's logits z give evidence e = softplus(z / T) >= 0 and Dirichlet parameters
alpha = e + 1, S = sum_c alpha_c; the expected class probabilities are alpha / S.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def dirichlet_alpha(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return F.softplus(logits / temperature) + 1.0


def expected_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """alpha / S: the Dirichlet mean, the head's predictive distribution."""
    alpha = dirichlet_alpha(logits, temperature)
    return alpha / alpha.sum(-1, keepdim=True)


def kl_to_uniform(alpha: torch.Tensor) -> torch.Tensor:
    """KL(Dir(alpha) || Dir(1)) per row:
    lnG(S) - sum lnG(alpha_c) - lnG(C) + sum (alpha_c - 1)(psi(alpha_c) - psi(S))."""
    C = alpha.shape[-1]
    S = alpha.sum(-1, keepdim=True)
    return (torch.lgamma(S.squeeze(-1)) - torch.lgamma(alpha).sum(-1) - math.lgamma(C)
            + ((alpha - 1) * (torch.digamma(alpha) - torch.digamma(S))).sum(-1))


def edl_loss(logits: torch.Tensor, y: torch.Tensor, kl_weight: float) -> torch.Tensor:
    """Mean over rows of the Bayes-risk cross-entropy sum_c y_c (psi(S) - psi(alpha_c)) plus
    ``kl_weight`` KL(Dir(alpha~) || Dir(1)), alpha~ = y + (1 - y) alpha (the true class's
    evidence removed, so only misleading evidence is penalised)."""
    alpha = dirichlet_alpha(logits)
    S = alpha.sum(-1)
    risk = torch.digamma(S) - torch.digamma(alpha.gather(-1, y[:, None]).squeeze(-1))
    if kl_weight == 0:
        return risk.mean()
    onehot = F.one_hot(y, alpha.shape[-1]).to(alpha.dtype)
    alpha_tilde = onehot + (1 - onehot) * alpha
    return (risk + kl_weight * kl_to_uniform(alpha_tilde)).mean()


def multimodal_edl_loss(out, y: torch.Tensor, kl_weight: float) -> torch.Tensor:
    """EDL loss summed over the M modality heads and the fused head: one batched call on the
    ``[(M + 1) n, C]`` stacked logits (the mean over all rows times M + 1 = the sum of the
    per-head means), instead of M + 1 small ones."""
    heads = torch.cat([out.modality_logits, out.fused_logits[None]])
    return edl_loss(heads.flatten(0, 1), y.repeat(heads.shape[0]), kl_weight) * heads.shape[0]


# log-spaced temperature grid: 0.05 .. 20, ratio ~1.078 between neighbours
_GRID = torch.logspace(math.log10(0.05), math.log10(20.0), 81, dtype=torch.float64)


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The T on a fixed log grid (0.05 to 20, 81 points) minimising the held-out NLL
    -log(alpha_y / S) of alpha = softplus(z / T) + 1. A grid rather than gradient steps: the
    NLL is cheap on a validation split, the fit is deterministic and cannot diverge."""
    z = logits.detach().to(torch.float64)
    best_t, best = 1.0, math.inf
    for t in _GRID.tolist():
        p = expected_probs(z, t)
        nll = -torch.log(p.gather(-1, y[:, None])).mean().item()
        if nll < best - 1e-12:
            best_t, best = t, nll
    return best_t
