"""The active-learning loop: train -> evaluate -> AMCB -> select -> label, one round at a time.

Round t (t = 0 .. rounds): train a classifier on L_t (fresh or warm-started), evaluate it on the
validation and test splits, fit per-modality temperatures on validation, compute the AMCB
weights w_t, then (t < rounds) ask the strategy for b pool positions and label them. A run of
``rounds`` selection rounds thus has ``rounds + 1`` evaluations, at |L_0|, |L_0| + b, ...

Every random draw of round t comes from seeds derived from (seed, t), never from a stream
carried over from round t - 1: a run restored from the checkpoint of round t - 1 replays
round t bit for bit on CPU, which is what makes ``--resume`` exact.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..data.dataset import POOL, TEST, VAL
from .amcb import amcb_weights
from .config import RLMBAConfig, TrainConfig
from .metrics import evaluate, shapley_contributions
from .model import default_model_factory
from .progress import RoundProgress, live
from .strategies import RoundState, Strategy
from .train import build_model, fit_temperatures, make_optimizer, train_model

# salts of the per-round seeds
INIT, MODEL, TRAIN, SELECT, SHAPLEY = range(5)


def derive_seed(*key: int) -> int:
    """A 63-bit seed from integers, well mixed (numpy SeedSequence), stable across platforms."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def check_device(device) -> torch.device:
    """``device`` as a ``torch.device`` this process can run on; ValueError naming it otherwise."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: {device!r} is not a device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if d.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(f"device: {device!r}, but this torch ({torch.__version__}) is a CPU build; "
                             "install a CUDA build of torch or use --device cpu")
        if not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device: {device!r}, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    elif d.type != "cpu":
        raise ValueError(f"device: {device!r}; rlmba runs on 'cpu' or 'cuda'")
    return d


def check_budget(initial: int, rounds: int, budget: int, pool: int, where: str = "the pool") -> None:
    """ValueError unless the pool holds every label the rounds need (nothing is ever clamped)."""
    need = initial + rounds * budget
    if need > pool:
        raise ValueError(f"budget: {initial} initial labels + {rounds} rounds x {budget} = {need} labels, but "
                         f"{where} has {pool} rows; lower --budget, --rounds or --initial")


class ActiveLearner:
    """One pool-based active-learning run of ``strategy`` on ``dataset``.

    ``initial``: how many random pool samples start labeled, or their dataset indices.
    ``hook(point, round)``: called at ``"epoch"`` points during training and at ``"select"``
    before each selection (tests inject faults there).

    Example::

        learner = ActiveLearner(rlmba.data.load_mfeat(), make_strategy("entropy"),
                                initial=20, budget=20, rounds=5, seed=0)
        history = learner.run()           # one metrics dict per evaluation
    """

    def __init__(self, dataset, strategy: Strategy, *, model_factory=None, initial=20, budget: int = 20,
                 rounds: int = 5, seed: int = 0, device="cpu", train: TrainConfig | None = None,
                 rlmba: RLMBAConfig | None = None, training: bool = False, progress: bool = False,
                 hook=None):
        self.train_cfg = train or TrainConfig()
        self.rl_cfg = rlmba or RLMBAConfig()
        self.device = check_device(device)
        ds = dataset.standardized() if self.train_cfg.standardize else dataset
        self.ds = ds.to(self.device)
        c = self.train_cfg
        self.factory = model_factory or default_model_factory(c.hidden, c.embed_dim, c.dropout)
        self.strategy, self.budget, self.rounds, self.seed = strategy, int(budget), int(rounds), int(seed)
        self.training, self.progress, self.hook = training, progress, hook
        if self.budget < 1 or self.rounds < 0:
            raise ValueError(f"budget >= 1 and rounds >= 0 required, got {budget}, {rounds}")
        self.pool, self.val, self.test = (self.ds.indices(s).cpu() for s in (POOL, VAL, TEST))
        self.labeled = self._initial(initial)
        check_budget(len(self.labeled), self.rounds, self.budget, len(self.pool))
        self.round, self.history = 0, []
        M = self.ds.num_modalities
        self.weights = torch.full((M,), 1.0 / M, dtype=torch.float64)
        self.model, self.optimizer = None, None

    def _initial(self, initial) -> torch.Tensor:
        if isinstance(initial, int):
            if not 0 < initial <= len(self.pool):
                raise ValueError(f"initial: need 1..{len(self.pool)} initial labels, got {initial}")
            g = torch.Generator().manual_seed(derive_seed(self.seed, INIT))
            return self.pool[torch.randperm(len(self.pool), generator=g)[:initial]]
        idx = torch.as_tensor(initial, dtype=torch.int64).flatten().cpu()
        if not torch.isin(idx, self.pool).all() or idx.unique().numel() != idx.numel() or idx.numel() == 0:
            raise ValueError("initial: indices must be distinct, non-empty, and in the pool split")
        return idx

    @property
    def unlabeled(self) -> torch.Tensor:
        """Sorted dataset indices of the pool rows not yet labeled."""
        return self.pool[~torch.isin(self.pool, self.labeled)]

    @property
    def done(self) -> bool:
        return self.round > self.rounds

    def _train(self, t: int):
        c = self.train_cfg
        if self.model is None or not c.warm_start:
            self.model = build_model(self.factory, self.ds.dims, self.ds.num_classes,
                                     derive_seed(self.seed, t, MODEL), self.device)
            self.optimizer = make_optimizer(self.model, c)
        self.model.set_fusion_weights(self.weights)
        on_epoch = (lambda e: self.hook("epoch", t)) if self.hook else None
        return train_model(self.model, self.optimizer, self.ds, self.labeled.to(self.device), c,
                           derive_seed(self.seed, t, TRAIN), self.progress and live(), f"round {t} epochs", on_epoch)

    def _evaluate(self, t: int, log) -> tuple[dict, list[float], torch.Tensor]:
        c, ds = self.train_cfg, self.ds
        val_m, val_out = evaluate(self.model, ds, self.val.to(self.device), c.ece_bins, c.eval_batch)
        test_m, _ = evaluate(self.model, ds, self.test.to(self.device), c.ece_bins, c.eval_batch) \
            if len(self.test) else ({}, None)
        y_val = ds.labels[self.val.to(self.device)]
        temps = fit_temperatures(val_out, y_val)
        g = torch.Generator().manual_seed(derive_seed(self.seed, t, SHAPLEY))
        shapley = shapley_contributions(self.model, val_out, y_val, generator=g)
        w = amcb_weights(val_m["delta"], self.rl_cfg.tau, self.rl_cfg.eps)
        record = {"round": t, "labels": int(len(self.labeled)), "val": val_m, "test": test_m,
                  "weights": w.tolist(), "temperatures": temps, "shapley": shapley,
                  "train_loss": log.loss[-1] if log.loss else float("nan")}
        return record, temps, w

    def _select(self, t: int, record: dict, temps, w, log) -> None:
        if self.hook:
            self.hook("select", t)
        unl, b = self.unlabeled, self.budget
        state = RoundState(round=t, budget=b, dataset=self.ds, labeled=self.labeled, unlabeled=unl,
                           model=self.model, generator=torch.Generator().manual_seed(derive_seed(self.seed, t, SELECT)),
                           weights=w, temperatures=temps, metrics=record, train_log=log, history=self.history,
                           eval_batch=self.train_cfg.eval_batch)
        pos = torch.as_tensor(self.strategy.select(state)).cpu()
        name = type(self.strategy).__name__
        if pos.dtype != torch.int64 or pos.ndim != 1 or len(pos) != b:
            raise RuntimeError(f"strategy {name}: select must return {b} int64 pool positions, "
                               f"got {pos.dtype} of shape {tuple(pos.shape)}")
        if pos.unique().numel() != b or pos.min() < 0 or pos.max() >= len(unl):
            raise RuntimeError(f"strategy {name}: selected positions must be distinct and in [0, {len(unl)})")
        self.labeled = torch.cat([self.labeled, unl[pos]])

    def step(self) -> dict:
        """One round: train, evaluate, observe, and (unless it is the last) select and label."""
        if self.done:
            raise RuntimeError("step: the run is finished (round > rounds)")
        t = self.round
        if t == 0:
            self.strategy.begin_run(self.seed, self.training)
        t0 = time.perf_counter()
        log = self._train(t)
        record, temps, w = self._evaluate(t, log)
        record["time_train"] = time.perf_counter() - t0
        self.history.append(record)
        self.strategy.observe(record, self.history)
        t1 = time.perf_counter()
        if t < self.rounds:
            self._select(t, record, temps, w, log)
        record["time_select"] = time.perf_counter() - t1
        self.weights = w
        self.round += 1
        if self.done:
            self.strategy.end_run()
        return record

    def run(self, on_round=None, desc: str | None = None) -> list[dict]:
        """Rounds until done (resuming wherever the learner stands); ``on_round(self)`` after each.
        ``desc`` labels the progress output (default: strategy and seed)."""
        bar = RoundProgress(desc or f"{self.strategy.name} seed {self.seed}", self.rounds + 1, self.round,
                            self.progress)
        while not self.done:
            record = self.step()
            bar.update(record)
            if on_round is not None:
                on_round(self)
        bar.close()
        return self.history

    def state_dict(self) -> dict:
        """What a checkpoint needs to continue exactly (the strategy's state is saved separately)."""
        return {"round": self.round, "labeled": self.labeled.clone(), "weights": self.weights.clone(),
                "history": self.history, "seed": self.seed, "rng": torch.get_rng_state(),
                "model": None if self.model is None else self.model.state_dict(),
                "optimizer": None if self.optimizer is None else self.optimizer.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        """Continue from :meth:`state_dict`'s output; ValueError for any field that does not fit this run."""
        if d["seed"] != self.seed:
            raise ValueError(f"checkpoint: saved for seed {d['seed']}, this learner has seed {self.seed}")
        t, labeled, weights = d["round"], d["labeled"], d["weights"]
        if type(t) is not int or not 1 <= t <= self.rounds + 1 or len(d["history"]) != t:
            raise ValueError(f"checkpoint: round {t!r} with {len(d['history'])} evaluations, "
                             f"expected 1..{self.rounds + 1} and one evaluation per round")
        need = len(self.labeled) + min(t, self.rounds) * self.budget
        if not (isinstance(labeled, torch.Tensor) and labeled.dtype == torch.int64 and labeled.shape == (need,)
                and torch.equal(labeled[:len(self.labeled)], self.labeled)
                and labeled.unique().numel() == need and torch.isin(labeled, self.pool).all()):
            raise ValueError(f"checkpoint: the labeled set is not {need} distinct pool indices "
                             "starting with this seed's initial labels")
        if not (isinstance(weights, torch.Tensor) and weights.shape == self.weights.shape
                and weights.dtype == torch.float64 and torch.isfinite(weights).all()):
            raise ValueError(f"checkpoint: weights must be {self.ds.num_modalities} finite float64 values")
        self.round, self.labeled, self.weights = t, labeled.clone(), weights.clone()
        self.history = list(d["history"])
        torch.set_rng_state(d["rng"])
        if d["model"] is not None:
            self.model = build_model(self.factory, self.ds.dims, self.ds.num_classes, 0, self.device)
            self.model.load_state_dict(d["model"])
            self.optimizer = make_optimizer(self.model, self.train_cfg)
            self.optimizer.load_state_dict(d["optimizer"])
