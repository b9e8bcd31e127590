"""RL-MBA's selection policy and its REINFORCE training (supplementary, "Policy network").

The policy scores each candidate x of the round's candidate set with a two-layer ReLU MLP over
[s_t || c(x)] (state and candidate features); b candidates are drawn without replacement by
Plackett-Luce on those logits while training, and the top-b logits are taken at evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..ops.sampling import plackett_luce_log_prob


class PolicyNet(nn.Module):
    """logit(x) = W2 relu(W1 [s || c(x)] + b1) + b2, one logit per candidate row."""

    def __init__(self, state_dim: int, cand_dim: int, hidden: int = 64):
        super().__init__()
        self.state_dim, self.cand_dim = state_dim, cand_dim
        self.net = nn.Sequential(nn.Linear(state_dim + cand_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, state: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """``state [S]``, ``cands [K, F]`` -> logits ``[K]``."""
        dtype = self.net[0].weight.dtype
        x = torch.cat([state.to(dtype).expand(cands.shape[0], -1), cands.to(dtype)], 1)
        return self.net(x).squeeze(-1)


@dataclass
class Step:
    """One round of an episode, enough to recompute log pi(a_t | s_t) after the episode."""

    state: torch.Tensor    # [S] standardised state
    cands: torch.Tensor    # [K, F] candidate features
    chosen: torch.Tensor   # [b] positions in the candidate set, in draw order
    hinge: torch.Tensor    # [K] [tau_u - U(x)]_+ of each candidate (difficulty loss)

    def to_dict(self) -> dict:
        return {"state": self.state, "cands": self.cands, "chosen": self.chosen, "hinge": self.hinge}


def discounted_returns(rewards, gamma: float) -> torch.Tensor:
    """G_t = sum_k gamma^k r_{t+k}, float64 ``[T]``."""
    g, out = 0.0, []
    for r in reversed(list(rewards)):
        g = float(r) + gamma * g
        out.append(g)
    return torch.tensor(out[::-1], dtype=torch.float64)


class Reinforce:
    """REINFORCE with a moving-average baseline, AdamW and global gradient clipping.

    loss = -(1/T) sum_t (G_t - b_bl) log pi(a_t | s_t) + lambda2 (1/T) sum_t L~_difficulty,t
    where log pi is the Plackett-Luce log-probability of the drawn batch and L~_difficulty,t =
    sum_k softmax(logits_t)_k [tau_u - U(x_k)]_+ is the expectation of the hinge under the
    policy's first draw: a differentiable stand-in for the batch mean of supplementary eq. 9.
    (L_modality depends on the action only through retraining, so it enters the reward as
    -lambda1 L_modality instead; see :class:`rlmba.learn.rlmba_strategy.RLMBAStrategy`.)
    b_bl starts at the first episode's mean return, then b_bl <- b_bl + s (mean G - b_bl).
    """

    def __init__(self, net: PolicyNet, gamma: float = 0.9, baseline_smoothing: float = 0.1, lr: float = 1e-3,
                 weight_decay: float = 1e-4, grad_clip: float = 1.0, lambda2: float = 0.5):
        self.net, self.gamma, self.smoothing = net, gamma, baseline_smoothing
        self.grad_clip, self.lambda2 = grad_clip, lambda2
        self.opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        self.baseline: float | None = None

    def loss(self, steps: list[Step], rewards, baseline: float) -> tuple[torch.Tensor, torch.Tensor]:
        adv = discounted_returns(rewards, self.gamma) - baseline
        pg, diff = 0.0, 0.0
        for a, step in zip(adv.tolist(), steps):
            logits = self.net(step.state, step.cands)
            pg = pg - a * plackett_luce_log_prob(logits, step.chosen)
            diff = diff + (torch.softmax(logits, 0) * step.hinge.to(logits.dtype)).sum()
        T = len(steps)
        return pg / T + self.lambda2 * diff / T, adv

    def update(self, steps: list[Step], rewards, updates: int = 1) -> dict:
        """``updates`` gradient steps on one episode; returns the episode's statistics."""
        if len(steps) != len(rewards) or not steps:
            raise ValueError(f"steps, rewards: need one reward per step, got {len(steps)} and {len(rewards)}")
        returns = discounted_returns(rewards, self.gamma)
        if self.baseline is None:
            self.baseline = returns.mean().item()
        stats = {"return": returns[0].item(), "mean_reward": sum(rewards) / len(rewards), "baseline": self.baseline}
        for _ in range(updates):
            loss, adv = self.loss(steps, rewards, self.baseline)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            stats["grad_norm"] = nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip).item()
            self.opt.step()
        stats["loss"] = loss.item()
        self.baseline += self.smoothing * (returns.mean().item() - self.baseline)
        return stats

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(), "baseline": self.baseline}

    def load_state_dict(self, d: dict) -> None:
        self.opt.load_state_dict(d["opt"])
        self.baseline = d["baseline"]
