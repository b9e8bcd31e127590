"""The policy's state s_t = [g_t || phi_t || u_bar_t || d_bar_t || rho_t] and its running
standardisation (supplementary, "State construction")."""
from __future__ import annotations

import math

import torch


def state_dim(num_modalities: int) -> int:
    """3 (g) + M (phi) + 1 (u_bar) + 1 (d_bar) + 3 (rho)."""
    return num_modalities + 8


def policy_state(metrics: dict, num_classes: int, u_mean: float, d_mean: float, rho) -> torch.Tensor:
    """Raw (unstandardised) state, float64 ``[M + 8]``.

    g = [Top-1, min(NLL / ln C, 1), ECE] (each in [0, 1]; ln C is the NLL of a uniform guess);
    phi = the Top-1 gaps Delta_m; u_bar, d_bar = pool means of the fused uncertainty and the
    k-means distance; rho = [EMA loss, loss slope, EMA gradient norm] of the round's training.
    """
    g = [metrics["top1"], min(metrics["nll"] / math.log(num_classes), 1.0), metrics["ece"]]
    values = g + list(metrics["delta"]) + [u_mean, d_mean] + list(rho)
    return torch.tensor(values, dtype=torch.float64)


class RunningNorm:
    """Running mean and variance (Welford, float64) of state vectors across rounds and episodes;
    ``normalize`` gives (x - mean) / sqrt(var + eps). Frozen (no updates) at evaluation."""

    def __init__(self, dim: int, eps: float = 1e-8):
        self.count = 0
        self.mean = torch.zeros(dim, dtype=torch.float64)
        self.m2 = torch.zeros(dim, dtype=torch.float64)
        self.eps = eps

    def update(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @property
    def var(self) -> torch.Tensor:
        return self.m2 / self.count if self.count > 1 else torch.ones_like(self.m2)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.float64) - self.mean) / torch.sqrt(self.var + self.eps)

    def state_dict(self) -> dict:
        return {"count": self.count, "mean": self.mean.clone(), "m2": self.m2.clone()}

    def load_state_dict(self, d: dict) -> None:
        self.count = int(d["count"])
        self.mean = d["mean"].clone().to(torch.float64)
        self.m2 = d["m2"].clone().to(torch.float64)
