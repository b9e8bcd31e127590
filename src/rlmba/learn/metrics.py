"""Per-round evaluation: Top-1, NLL, ECE, modality gaps, imbalance and Shapley contributions."""
from __future__ import annotations

import math

import torch

from .evidential import expected_probs
from ..selectors.bmmal import shapley_values
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
    """``value(coalition)``: the fused head's probability of class y ``[N]`` with the features
    ``[M, N, h]`` of the modalities outside the coalition zeroed."""
    def value(coalition) -> torch.Tensor:
        mask = torch.zeros(features.shape[0], dtype=features.dtype, device=features.device)
        mask[list(coalition)] = 1
        _, logits = model.fuse(features, mask)
        return expected_probs(logits).gather(-1, y[:, None]).squeeze(-1)

    return value


@torch.no_grad()
def shapley_contributions(model, out: ModelOutput, y: torch.Tensor, permutations: int = 32,
                          generator: torch.Generator | None = None) -> list[float]:
    """Shapley-style contribution of each modality to the fused head's probability of the true
    label, averaged over rows; a dropped modality's features are zeroed (no renormalisation).

    v(S) = mean_x p(y | x, modalities S), each coalition's forward pass run once. Exact for M <= 2
    (M = 2: delta_1 = (p - p_drop1 + p_drop2 - p_drop12) / 2) and whenever M! <= ``permutations``;
    otherwise Monte Carlo over ``permutations`` random orders. For analysis only.
    """
    value = coalition_probs(model, out.features, y)
    return shapley_values(value, out.features.shape[0], permutations, generator).mean(0).tolist()


def aulc(labels, top1s) -> float:
    """Area under the learning curve, trapezoid rule, divided by the label range: the mean
    Top-1 over the labelling budget, in [0, 1]."""
    if len(labels) < 2:
        return float(top1s[0]) if top1s else math.nan
    area = sum((labels[i + 1] - labels[i]) * (top1s[i] + top1s[i + 1]) / 2 for i in range(len(labels) - 1))
    return area / (labels[-1] - labels[0])
