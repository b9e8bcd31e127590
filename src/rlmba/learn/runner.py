"""An experiment: policy-training episodes, then evaluation runs of every strategy x seed,
checkpointed after every round into one file so ``--resume`` continues a killed run exactly.

Jobs run in a fixed order: ``train_episodes`` RL-MBA training episodes (seeds 10000, 10001, ...,
kept apart from the evaluation seeds; skipped when a ``policy`` file is given or RL-MBA is not
among the strategies), then for each seed, each strategy. The checkpoint (``checkpoint.pt`` in
the output directory) holds the index of the current job, the current learner (labeled indices,
model and optimiser state, metrics so far, RNG state), every strategy's state (the policy's
weights, optimiser, baseline and the episode so far) and the finished runs' metrics.
"""
from __future__ import annotations

import glob
import os
import time

from ..data import load_dataset
from . import checkpoint as ckpt
from .config import RunConfig, to_dict
from .loop import ActiveLearner
from .rlmba_strategy import RLMBAStrategy
from .strategies import make_strategy

CHECKPOINT = "checkpoint.pt"
FORMAT = "rlmba-run-1"
TRAIN_SEED0 = 10_000
_NOT_PROTOCOL = ("progress", "out")  # config keys that may change between a run and its resume


def plan(cfg: RunConfig) -> list[tuple[str, str, int]]:
    """The ordered jobs: ("train", "rlmba", seed) episodes, then ("eval", strategy, seed)."""
    jobs = []
    if "rlmba" in cfg.strategies and cfg.policy is None:
        jobs += [("train", "rlmba", TRAIN_SEED0 + k) for k in range(cfg.rlmba.train_episodes)]
    jobs += [("eval", s, seed) for seed in cfg.seeds for s in cfg.strategies]
    return jobs


def _protocol(cfg: RunConfig) -> dict:
    d = to_dict(cfg)
    return {k: v for k, v in d.items() if k not in _NOT_PROTOCOL}


class Experiment:
    """``Experiment(cfg).run(resume=False)`` -> results dict; outputs go to ``cfg.out``."""

    def __init__(self, cfg: RunConfig, dataset=None, model_factory=None):
        self.cfg = cfg
        self.ds = dataset if dataset is not None else load_dataset(cfg.dataset, modalities=cfg.modalities)
        self.factory = model_factory
        self.jobs = plan(cfg)
        self.strategies = {name: self._make(name) for name in cfg.strategies}
        self.runs: dict[str, dict[str, list]] = {name: {} for name in cfg.strategies}
        self.labeled: dict[str, dict[str, list]] = {name: {} for name in cfg.strategies}
        self.times: dict[str, float] = {}
        self.path = os.path.join(cfg.out, CHECKPOINT)

    def _make(self, name: str):
        if name == "rlmba":
            return RLMBAStrategy(self.cfg.rlmba, policy=self.cfg.policy, baselines=self.cfg.baselines)
        return make_strategy(name, config=self.cfg.rlmba)

    def _learner(self, j: int) -> ActiveLearner:
        kind, name, seed = self.jobs[j]
        c = self.cfg
        return ActiveLearner(self.ds, self.strategies[name], model_factory=self.factory, initial=c.initial,
                             budget=c.budget, rounds=c.rounds, seed=seed, device=c.device, train=c.train,
                             rlmba=c.rlmba, training=kind == "train", progress=c.progress,
                             hook=lambda point, t: ckpt.maybe_fault(point, j, t))

    def _save(self, j: int, learner: ActiveLearner | None) -> None:
        state = {"format": FORMAT, "protocol": _protocol(self.cfg), "job": j,
                 "learner": None if learner is None else learner.state_dict(),
                 "strategies": {n: s.state_dict() for n, s in self.strategies.items()},
                 "runs": self.runs, "labeled": self.labeled, "times": self.times}
        t = -1 if learner is None else learner.round - 1
        ckpt.atomic_save(state, self.path, fault=lambda: ckpt.maybe_fault("save", j, t))

    def _restore(self):
        """(first job to run, its saved learner state or None) from the checkpoint."""
        data = ckpt.load(self.path)
        if data.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not an rlmba run checkpoint")
        saved, now = data["protocol"], _protocol(self.cfg)
        if saved != now:
            diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
            raise ValueError(f"--resume: the configuration differs from the checkpoint's in {diff}")
        for n, s in self.strategies.items():
            s.load_state_dict(data["strategies"][n])
        self.runs, self.labeled, self.times = data["runs"], data["labeled"], data["times"]
        return int(data["job"]), data["learner"]

    def _save_policy(self) -> None:
        rl = self.strategies.get("rlmba")
        if rl is not None and rl.net is not None and self.cfg.policy is None:
            rl.save_policy(os.path.join(self.cfg.out, "policy.pt"))

    def run(self, resume: bool = False) -> dict:
        os.makedirs(self.cfg.out, exist_ok=True)
        for stale in glob.glob(self.path + ".tmp-*"):
            os.remove(stale)  # a temporary file left by a process killed mid-write
        start, saved = 0, None
        if resume and os.path.exists(self.path):
            start, saved = self._restore()
        for j in range(start, len(self.jobs)):
            kind, name, seed = self.jobs[j]
            if kind == "eval" and (j == 0 or self.jobs[j - 1][0] == "train"):
                self._save_policy()
            learner = self._learner(j)
            if saved is not None and j == start:
                learner.load_state_dict(saved)
            t0 = time.perf_counter()
            learner.run(on_round=lambda lr, j=j: self._save(j, lr))
            self.times[f"{kind}/{name}/{seed}"] = self.times.get(f"{kind}/{name}/{seed}", 0.0) + time.perf_counter() - t0
            if kind == "eval":
                self.runs[name][str(seed)] = learner.history
                self.labeled[name][str(seed)] = learner.labeled.tolist()  # in labelling order
            self._save(j + 1, None)
        if not any(k == "eval" for k, _, _ in self.jobs):
            self._save_policy()
        return self.results()

    def results(self) -> dict:
        rl = self.strategies.get("rlmba")
        return {"config": to_dict(self.cfg), "dataset": {"name": self.ds.name, "modalities": self.ds.modality_names,
                                                          "num_classes": self.ds.num_classes, "n": len(self.ds)},
                "runs": self.runs, "labeled": self.labeled, "policy_log": [] if rl is None else rl.log,
                "times": self.times}
