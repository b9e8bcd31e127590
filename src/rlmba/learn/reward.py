"""RL-MBA's reward and the baseline-curves file it is measured against.

Baseline curves file (JSON), written by ``rlmba run`` as ``curves.json`` for every strategy it
ran and read with ``--baselines``::

    {"metric": "val_top1",
     "labels": [20, 40, 60],                        # labeled-set size at each evaluation
     "curves": {"badge": [0.61, 0.70, 0.74],        # one curve per strategy, or
                "gcnal": [[0.60, 0.69, 0.75], ...]}} # one curve per seed (averaged)

Relative reward (paper): r_t = Top1_t - mean_h curve_h(|L_t|), h over the file's strategies
(or the subset ``use``), Top-1 on the validation split after training on L_{t-1} + a_{t-1}.
"""
from __future__ import annotations

import json
import logging

import torch

from .checkpoint import atomic_write

log = logging.getLogger("rlmba")


class BaselineCurves:
    """Per-round Top-1 of a fixed set of baseline strategies, keyed by labeled-set size."""

    def __init__(self, labels: list[int], curves: dict[str, list], metric: str = "val_top1"):
        if not curves:
            raise ValueError("curves: no baseline strategies")
        self.labels, self.metric, self.curves = [int(n) for n in labels], metric, {}
        for name, c in curves.items():
            t = torch.as_tensor(c, dtype=torch.float64)
            t = t.mean(0) if t.ndim == 2 else t
            if t.ndim != 1 or len(t) != len(self.labels):
                raise ValueError(f"curves[{name!r}]: expected {len(self.labels)} values per curve "
                                 f"(one per entry of labels), got shape {tuple(torch.as_tensor(c).shape)}")
            self.curves[name] = t.tolist()

    @classmethod
    def load(cls, path: str, use: list[str] | None = None) -> "BaselineCurves":
        with open(path) as f:
            data = json.load(f)
        for key in ("labels", "curves"):
            if key not in data:
                raise ValueError(f"{path}: not a baseline curves file (no {key!r})")
        curves = data["curves"]
        if use:
            missing = [u for u in use if u not in curves]
            if missing:
                raise ValueError(f"{path}: no curves for {missing}; has {sorted(curves)}")
            curves = {u: curves[u] for u in use}
        return cls(data["labels"], curves, data.get("metric", "val_top1"))

    def save(self, path: str) -> None:
        data = {"metric": self.metric, "labels": self.labels, "curves": self.curves}
        atomic_write(path, json.dumps(data, indent=1).encode())

    def mean_at(self, num_labels: int) -> float:
        """mean_h Top1^(h) at the evaluation with ``num_labels`` labels."""
        if num_labels not in self.labels:
            raise ValueError(f"baseline curves have no evaluation at {num_labels} labels (they have "
                             f"{self.labels}): run the baselines with the same initial/budget/rounds")
        i = self.labels.index(num_labels)
        return sum(c[i] for c in self.curves.values()) / len(self.curves)


class Reward:
    """Per-round reward of RL-MBA's action a_{t-1}, seen at evaluation t.

    - ``relative``: Top1_t - mean_h Top1_t^(h) (needs ``curves``; without them ``fallback`` is
      used and logged once — default ``incremental``);
    - ``absolute``: Top1_t;
    - ``incremental``: Top1_t - Top1_{t-1} (the return then telescopes to the final gain);
    then EMA-smoothed, r~_t = s r~_{t-1} + (1 - s) r_t (``smoothing`` s = 0: off).
    """

    def __init__(self, mode: str = "relative", curves: BaselineCurves | None = None,
                 fallback: str = "incremental", smoothing: float = 0.0):
        if mode == "relative" and curves is None:
            log.info("rlmba: no baseline curves given, RL-MBA reward falls back to %r", fallback)
            mode = fallback
        self.mode, self.curves, self.smoothing = mode, curves, smoothing
        self.ema: float | None = None

    def reset(self) -> None:
        self.ema = None

    def __call__(self, top1: float, prev_top1: float, num_labels: int) -> float:
        if self.mode == "relative":
            r = top1 - self.curves.mean_at(num_labels)
        elif self.mode == "absolute":
            r = top1
        else:
            r = top1 - prev_top1
        self.ema = r if self.ema is None else self.smoothing * self.ema + (1 - self.smoothing) * r
        return self.ema


def modality_loss(phi) -> float:
    """L_modality = (1/M) sum_m (phi_m - phi_bar)^2 (supplementary eq. 8)."""
    p = torch.as_tensor(phi, dtype=torch.float64)
    return ((p - p.mean()) ** 2).mean().item()
