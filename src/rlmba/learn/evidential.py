"""Evidential deep learning pieces: the EDL loss (Sensoy et al. 2018) and temperature scaling.

A head's logits z give evidence e = softplus(z / T) >= 0 and Dirichlet parameters
alpha = e + 1, S = sum_c alpha_c; the expected class probabilities are alpha / S.
"""
from __future__ import annotations

import math
import warnings

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


def _nll(z: torch.Tensor, y: torch.Tensor, log_t: float) -> float:
    """Held-out NLL -log(alpha_y / S) of alpha = softplus(z / T) + 1, T = exp(log_t)."""
    alpha = dirichlet_alpha(z, math.exp(log_t))
    return (torch.log(alpha.sum(-1)) - torch.log(alpha.gather(-1, y[:, None]).squeeze(-1))).mean().item()


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, lo: float = 0.05, hi: float = 20.0,
                    max_rows: int = 4096) -> float:
    """The T in [lo, hi] minimising the held-out NLL of alpha = softplus(z / T) + 1.

    A 17-point log-spaced grid brackets the minimum, then 20 golden-section steps on log T
    refine it inside the bracket (about 0.2 % of T): deterministic, derivative-free, cannot
    diverge. At most ``max_rows`` evenly spaced rows are used (a scalar needs no more).
    A result within 1 % of ``lo`` or ``hi`` warns (``UserWarning``): the NLL still falls past the
    bound, so T is the bound, not a fit (uninformative logits, or too few validation rows).
    """
    z = logits.detach().to(torch.float64)
    if z.shape[0] > max_rows:
        rows = torch.linspace(0, z.shape[0] - 1, max_rows, device=z.device).round().long()
        z, y = z[rows], y[rows]
    grid = torch.linspace(math.log(lo), math.log(hi), 17).tolist()
    vals = [_nll(z, y, g) for g in grid]
    i = min(range(len(grid)), key=lambda k: (vals[k], k))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = _nll(z, y, c), _nll(z, y, d)
    for _ in range(20):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = _nll(z, y, c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = _nll(z, y, d)
    best = min([(vals[i], grid[i]), (fc, c), (fd, d)])
    t = math.exp(best[1])
    for bound in (lo, hi):
        if abs(math.log(t / bound)) < 0.01:
            warnings.warn(f"fit_temperature: the fitted temperature sits at its bound {bound:g} (range "
                          f"[{lo:g}, {hi:g}]): the held-out NLL still falls beyond it, so it is not a fit; "
                          "check the logits or the number of validation rows, or widen the range", stacklevel=2)
    return t
