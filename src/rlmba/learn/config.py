"""Configuration of a run: classifier training, RL-MBA selection and policy learning.

Field names follow ``docs/method.md``; defaults are the paper's where it gives one, ours (marked
"ours") where it does not. Everything is a plain dataclass, so a JSON/TOML file maps onto it
one section per class (``[train]``, ``[rlmba]``) — see :func:`from_dict`.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field

REWARD_MODES = ("relative", "absolute", "incremental")


@dataclass
class TrainConfig:
    """The multimodal evidential classifier and how it is trained each round."""

    hidden: int = 128             # encoder width (ours)
    embed_dim: int = 64           # per-modality feature size f_m(x), shared by all modalities (ours)
    dropout: float = 0.1          # encoder dropout; also what MC-dropout strategies sample (ours)
    epochs: int = 40              # E epochs per round (paper: 15 on pretrained backbones)
    batch_size: int = 64
    min_steps: int = 60           # extra epochs until at least this many gradient steps (ours:
                                  # 20 labels are one batch, and 40 single steps under-train)
    lr: float = 3e-3              # AdamW (ours; EDL heads from scratch on few labels need it)
    weight_decay: float = 1e-2    # AdamW (ours)
    alpha: float = 0.1            # weight of the annealed evidential KL term (METHOD: "alpha")
    anneal_epochs: int = 10       # lambda_t = min(1, epoch / anneal_epochs) (Sensoy et al. 2018)
    warm_start: bool = False      # False: re-initialise the model every round
    standardize: bool = True      # z-score features with pool statistics before training
    ece_bins: int = 15
    eval_batch: int = 8192        # rows per forward pass over the pool at scoring time

    def __post_init__(self):
        _at_least(self, epochs=1, batch_size=1, min_steps=0, anneal_epochs=0, ece_bins=1, eval_batch=1,
                  hidden=1, embed_dim=1)
        if not 0 <= self.dropout < 1 or self.lr <= 0 or self.weight_decay < 0 or self.alpha < 0:
            raise ValueError(f"train: need 0 <= dropout < 1, lr > 0, weight_decay >= 0, alpha >= 0; got "
                             f"{self.dropout}, {self.lr}, {self.weight_decay}, {self.alpha}")


@dataclass
class RLMBAConfig:
    """AMCB, EFDA, the score q, the policy and REINFORCE (docs/method.md names)."""

    tau: float = 0.1              # AMCB temperature: w = softmax(Delta / tau) (ours)
    eps: float = 0.01             # AMCB weight floor, then renormalise (ours)
    beta: float = 0.3             # diversity weight in q (ours: beat 0 and 1 on the embedded
                                  # dataset's validation AULC, 3 seeds; d~ alone favours outliers)
    kappa: int = 5                # candidate set size K = kappa * b (paper)
    kmeans_iters: int = 5         # Lloyd iterations after k-means++ seeding (paper)
    uncertainty: str = "variance"  # EFDA U(x): "variance" (paper), "vacuity" or "entropy"
    hidden: int = 64              # policy MLP width (ours)
    gamma: float = 0.9            # REINFORCE discount (paper)
    baseline_smoothing: float = 0.1  # moving-average baseline b_bl <- b_bl + 0.1 (G - b_bl) (paper)
    lr: float = 1e-3              # policy AdamW (ours)
    weight_decay: float = 1e-4    # policy AdamW (paper)
    grad_clip: float = 1.0        # global gradient-norm clipping (paper: "global clipping"; value ours)
    lambda1: float = 0.5          # L_modality weight (paper)
    lambda2: float = 0.5          # L_difficulty weight (paper)
    difficulty_quantile: float = 0.5  # tau_u = this quantile of U in the round (ours)
    reward_mode: str = "relative"  # relative to baseline curves | absolute | incremental
    no_baseline_mode: str = "incremental"  # reward mode used when no baseline curves are given
    reward_smoothing: float = 0.0  # EMA of rewards r~ = s r~ + (1 - s) r (paper: EMA, no value; 0 = off)
    train_episodes: int = 4       # AL runs used to train the policy before evaluation runs
    policy_updates: int = 1       # gradient steps per episode

    def __post_init__(self):
        if self.reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode: expected one of {REWARD_MODES}, got {self.reward_mode!r}")
        if self.no_baseline_mode not in ("absolute", "incremental"):
            raise ValueError(f"no_baseline_mode: expected 'absolute' or 'incremental', got {self.no_baseline_mode!r}")
        if self.kappa < 1 or self.tau <= 0 or not 0 <= self.eps < 1:
            raise ValueError(f"kappa >= 1, tau > 0 and 0 <= eps < 1 required; got {self.kappa}, {self.tau}, {self.eps}")


@dataclass
class RunConfig:
    """One experiment: a dataset, strategies, seeds and the active-learning protocol."""

    dataset: str = "mfeat"
    modalities: list[str] | None = None
    strategies: list[str] = field(default_factory=lambda: ["rlmba", "random", "entropy"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    initial: int = 20             # initial random labels from the pool
    budget: int = 20              # b labels per round
    rounds: int = 8               # T selection rounds (T + 1 evaluations)
    device: str = "cpu"
    threads: int | None = None    # torch.set_num_threads for the run (None: torch's default)
    policy: str | None = None     # a saved policy: skip policy training, evaluate it frozen
    baselines: str | None = None  # baseline curves file for the relative reward
    out: str = "rlmba-results"
    progress: bool = True
    train: TrainConfig = field(default_factory=TrainConfig)
    rlmba: RLMBAConfig = field(default_factory=RLMBAConfig)

    def __post_init__(self):
        _at_least(self, initial=1, budget=1, rounds=0)
        if self.threads is not None:
            _at_least(self, threads=1)
        for name in ("strategies", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"{name}: the list is empty")
        if self.modalities is not None and not self.modalities:
            raise ValueError("modalities: the list is empty (omit it to use every modality)")


def _at_least(cfg, **bounds: int) -> None:
    for name, lo in bounds.items():
        value = getattr(cfg, name)
        if value < lo:
            raise ValueError(f"{name}: must be >= {lo}, got {value}")


def _conforms(value, tp) -> bool:
    """Whether ``value`` is of the annotated type ``tp`` (int, float, str, bool, list[...], X | None)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return isinstance(value, list) and all(_conforms(v, typing.get_args(tp)[0]) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return value is None if tp is type(None) else isinstance(value, tp)


def _describe(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    return "None" if tp is type(None) else tp.__name__


def _fill(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise TypeError(f"config{where}: expected a table of fields, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"config{where}: unknown keys {unknown}; known: {sorted(hints)}")
    kw = {}
    for k, v in data.items():
        if dataclasses.is_dataclass(hints[k]):
            kw[k] = _fill(hints[k], v, f"{where}.{k}")
        elif not _conforms(v, hints[k]):
            raise TypeError(f"config{where}.{k}: expected {_describe(hints[k])}, got {type(v).__name__} {v!r}")
        else:
            kw[k] = float(v) if hints[k] is float else v
    try:
        return cls(**kw)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"config{where}: {exc}") from None


def from_dict(data: dict) -> RunConfig:
    """A :class:`RunConfig` from nested dicts (``train`` and ``rlmba`` sections); unknown keys raise."""
    return _fill(RunConfig, dict(data), "")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
