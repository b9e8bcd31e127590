"""Pure-PyTorch reference of Plackett-Luce sampling without replacement: the specification.

RL-MBA's policy draws b of K candidates by Plackett-Luce: softmax over the remaining items, draw
one, remove it, repeat. The log-probability of an ordered pick i_1..i_b is

    log P = sum_t [ z_{i_t} - log sum_{j not in {i_1..i_{t-1}}} exp(z_j) ].

Gumbel-top-b (Yellott 1977; Kool et al., ICML 2019) draws the same distribution in one pass: the
b largest keys z_j + G_j, G_j = -log(-log U_j) i.i.d. Gumbel, in decreasing key order.
"""
from __future__ import annotations

import torch

from .._checks import compute_dtype



def gumbel(u: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise from uniforms in [0, 1); u is clamped to the smallest normal float64 so
    that u = 0 gives a finite key (-log(-log(2.2e-308)) = -6.56) instead of -inf."""
    u = u.to(torch.float64).clamp_min(torch.finfo(torch.float64).tiny)
    return -torch.log(-torch.log(u))


def gumbel_keys(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Perturbed keys z + G in float64 (-inf logits stay -inf: masked items come last)."""
    return logits.detach().to(torch.float64) + gumbel(u).to(logits.device)


def gumbel_top_b(logits: torch.Tensor, u: torch.Tensor, b: int) -> torch.Tensor:
    """The b largest keys, best first; ties -> lower index (a stable descending sort)."""
    return torch.sort(gumbel_keys(logits, u), descending=True, stable=True).indices[:b]


def plackett_luce_log_prob(logits: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """log P(indices in this order) ``[]``, O(K), differentiable w.r.t. ``logits``.

    With v = (z_{i_1}, ..., z_{i_b}, LSE of the unpicked finite logits), the normaliser of step t
    is the reverse cumulative logsumexp L_t = log sum_{s >= t} exp(v_s) (one flip-logcumsumexp-flip;
    logcumsumexp is max-shifted, so no exp overflows). Unpicked -inf logits contribute nothing
    and are left out of the LSE so that no -inf enters the autograd graph.
    """
    z = logits.to(compute_dtype(logits.dtype))
    picked = z[indices]
    rest = torch.ones_like(z, dtype=torch.bool)
    rest[indices] = False
    rest &= torch.isfinite(z)
    v = picked
    if bool(rest.any()):
        v = torch.cat([picked, torch.logsumexp(z[rest], 0)[None]])
    norm = torch.logcumsumexp(v.flip(0), 0).flip(0)[: picked.shape[0]]
    return (picked - norm).sum()


def plackett_luce_log_prob_naive(logits: torch.Tensor, indices) -> torch.Tensor:
    """The definition, step by step (test oracle): log softmax over the remaining items."""
    z = logits.to(torch.float64)
    remaining = torch.ones_like(z, dtype=torch.bool)
    total = z.new_zeros(())
    for i in [int(i) for i in indices]:
        total = total + z[i] - torch.logsumexp(z[remaining.clone()], 0)
        remaining[i] = False
    return total
