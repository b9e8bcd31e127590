"""Per-round evaluation: Top-1, NLL, ECE, modality gaps, imbalance and Shapley contributions."""
from __future__ import annotations

import itertools
import math

import torch

from .evidential import expected_probs
from .model import ModelOutput, predict


def top1(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose argmax (first index on ties) is the label."""
    return (logits.argmax(-1) == y).double().mean().item()


def nll(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Mean -log p_y, with p clamped at 1e-12 so one confident mistake stays finite."""
    return -torch.log(probs.gather(-1, y[:, None]).clamp_min(1e-12)).double().mean().item()


def ece(probs: torch.Tensor, y: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error: sum_b |B_b| / N |acc(B_b) - conf(B_b)| over ``bins``
    equal-width confidence bins (lo, hi]."""
    conf, pred = probs.max(-1)
    correct = (pred == y).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=conf.dtype, device=conf.device)
    which = torch.bucketize(conf, edges[1:-1], right=False)
    n = torch.zeros(bins, dtype=torch.float64, device=conf.device)
    n.index_add_(0, which, torch.ones_like(correct))
    gap = torch.zeros_like(n).index_add_(0, which, correct - conf.double())
    return (gap.abs().sum() / max(len(y), 1)).item()


def imbalance(phi: torch.Tensor) -> float:
    """D(phi): |phi_1 - phi_2| for M = 2, the (population) variance of phi for M > 2."""
    phi = torch.as_tensor(phi, dtype=torch.float64)
    if phi.numel() == 1:
        return 0.0
    if phi.numel() == 2:
        return (phi[0] - phi[1]).abs().item()
    return ((phi - phi.mean()) ** 2).mean().item()


def split_metrics(out: ModelOutput, y: torch.Tensor, bins: int = 15) -> dict:
    """Fused-head Top-1 / NLL / ECE, each modality head's Top-1, gaps Delta and D(Delta)."""
    probs = expected_probs(out.fused_logits)
    fused = top1(out.fused_logits, y)
    modal = [top1(z, y) for z in out.modality_logits]
    delta = [t - fused for t in modal]
    return {"top1": fused, "nll": nll(probs, y), "ece": ece(probs, y, bins), "top1_modality": modal,
            "delta": delta, "imbalance": imbalance(torch.tensor(delta))}


def evaluate(model, dataset, idx: torch.Tensor, bins: int = 15, batch: int = 8192):
    """(metrics dict, model outputs) of the rows ``idx`` of ``dataset``."""
    out = predict(model, dataset.inputs(idx), batch)
    return split_metrics(out, dataset.labels[idx], bins), out


def coalition_probs(model, features: torch.Tensor, y: torch.Tensor):
    """``value(coalition)``: the fused head's probability of class y ``[N]`` (float64) with the
    features ``[M, N, h]`` of the modalities outside the coalition zeroed; each coalition's
    forward pass runs once."""
    M = features.shape[0]
    cache: dict[tuple, torch.Tensor] = {}

    def value(coalition) -> torch.Tensor:
        key = tuple(sorted(coalition))
        if key not in cache:
            mask = torch.zeros(M, dtype=features.dtype, device=features.device)
            mask[list(key)] = 1
            _, logits = model.fuse(features, mask)
            cache[key] = expected_probs(logits).gather(-1, y[:, None]).squeeze(-1).double()
        return cache[key]

    return value


def shapley(value, M: int, orders) -> list:
    """Shapley values phi_m: the mean over ``orders`` (permutations of the M players) of
    value(the players before m, and m) - value(the players before m). Every order gives
    sum_m phi_m = value(all) - value(none) exactly."""
    phi = [0.0] * M
    for order in orders:
        prev = value(())
        for k, m in enumerate(order):
            cur = value(order[:k + 1])
            phi[m] = phi[m] + (cur - prev)  # marginal contribution of m joining the players before it
            prev = cur
    return [p / len(orders) for p in phi]


@torch.no_grad()
def shapley_contributions(model, out: ModelOutput, y: torch.Tensor, permutations: int = 32,
                          generator: torch.Generator | None = None) -> list[float]:
    """Shapley-style contribution of each modality to the fused head's probability of the true
    label, averaged over rows; a dropped modality's features are zeroed (no renormalisation).

    v(S) = mean_x p(y | x, modalities S). Exact for M <= 2 (M = 2: delta_1 = (p - p_drop1 +
    p_drop2 - p_drop12) / 2); for M > 2, Monte Carlo over ``permutations`` random orders (the
    coalitions along each order), each coalition's value computed once. For analysis only.
    """
    M = out.features.shape[0]
    probs = coalition_probs(model, out.features, y)
    if M <= 2:
        orders = list(itertools.permutations(range(M)))
    else:
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        orders = [torch.randperm(M, generator=g).tolist() for _ in range(permutations)]
    return shapley(lambda coalition: probs(coalition).mean().item(), M, orders)


def aulc(labels, top1s) -> float:
    """Area under the learning curve, trapezoid rule, divided by the label range: the mean
    Top-1 over the labelling budget, in [0, 1]."""
    if len(labels) < 2:
        return float(top1s[0]) if top1s else math.nan
    area = sum((labels[i + 1] - labels[i]) * (top1s[i] + top1s[i + 1]) / 2 for i in range(len(labels) - 1))
    return area / (labels[-1] - labels[0])
