"""Configuration of a run: classifier training, RL-MBA selection and policy learning.

Field names follow ``docs/method.md``; defaults are the paper's where it gives one, ours (marked
"ours") where it does not. Everything is a plain dataclass, so a JSON/TOML file maps onto it
one section per class (``[train]``, ``[rlmba]``) — see :func:`from_dict`.
"""
from __future__ import annotations

import dataclasses
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


def _fill(cls, data: dict, where: str):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"config{where}: unknown keys {unknown}; known: {sorted(names)}")
    kw = {}
    for k, v in data.items():
        sub = {"train": TrainConfig, "rlmba": RLMBAConfig}.get(k) if cls is RunConfig else None
        kw[k] = _fill(sub, v, f".{k}") if sub is not None else v
    return cls(**kw)


def from_dict(data: dict) -> RunConfig:
    """A :class:`RunConfig` from nested dicts (``train`` and ``rlmba`` sections); unknown keys raise."""
    return _fill(RunConfig, dict(data), "")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
