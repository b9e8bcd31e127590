"""Training the multimodal evidential classifier on the labeled set, one round at a time."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .config import TrainConfig
from .evidential import fit_temperature, multimodal_edl_loss


@dataclass
class TrainLog:
    """Per-epoch mean training loss and mean global gradient norm of one round."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)

    def diagnostics(self, smoothing: float = 0.3, window: int = 5) -> list[float]:
        """rho: [EMA of the loss, least-squares slope of the last ``window`` epoch losses,
        EMA of the gradient norm] — the policy state's training diagnostics."""
        def ema(xs):
            m = xs[0] if xs else 0.0
            for x in xs[1:]:
                m = (1 - smoothing) * m + smoothing * x
            return m
        tail = self.loss[-window:]
        if len(tail) > 1:
            t = torch.arange(len(tail), dtype=torch.float64)
            y = torch.tensor(tail, dtype=torch.float64)
            slope = (((t - t.mean()) * (y - y.mean())).sum() / ((t - t.mean()) ** 2).sum()).item()
        else:
            slope = 0.0
        return [ema(self.loss), slope, ema(self.grad_norm)]


def build_model(factory, dims, num_classes: int, seed: int, device) -> torch.nn.Module:
    """The factory's model, initialised under ``seed`` without touching the global RNG stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory(dims, num_classes).to(device)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def train_model(model, optimizer, dataset, labeled: torch.Tensor, cfg: TrainConfig, seed: int,
                progress: bool = False, desc: str = "epochs", on_epoch=None) -> TrainLog:
    """E epochs of AdamW on the summed EDL losses (modality heads + fused head); more epochs
    when E would give fewer than ``cfg.min_steps`` gradient steps (small labeled sets).

    Mini-batch order comes from a generator seeded with ``seed``; dropout draws from the global
    RNG, which is forked and seeded with ``seed`` too, so a round is a pure function of
    (weights, labeled set, seed) on CPU and the caller's RNG stream is left untouched.
    ``on_epoch(epoch)`` is called after each epoch (progress hooks, fault injection in tests).
    """
    g = torch.Generator().manual_seed(seed)
    xs, y = dataset.inputs(labeled), dataset.labels[labeled]
    n = len(labeled)
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / math.ceil(n / cfg.batch_size)))
    log = TrainLog()
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in tqdm(range(epochs), desc=desc, leave=False, disable=not progress):
            kl = cfg.alpha * min(1.0, epoch / max(cfg.anneal_epochs, 1))
            order = torch.randperm(n, generator=g).to(y.device)
            tot, gn, steps = 0.0, 0.0, 0
            for i in range(0, n, cfg.batch_size):
                rows = order[i:i + cfg.batch_size]
                loss = multimodal_edl_loss(model([x[rows] for x in xs]), y[rows], kl)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                gn += torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")).item()  # norm only
                optimizer.step()
                tot, steps = tot + loss.item(), steps + 1
            log.loss.append(tot / steps)
            log.grad_norm.append(gn / steps)
            if on_epoch is not None:
                on_epoch(epoch)
    model.eval()
    return log


def fit_temperatures(val_out, y: torch.Tensor) -> list[float]:
    """One temperature per modality head, fitted on held-out (validation) logits."""
    return [fit_temperature(z, y) for z in val_out.modality_logits]
