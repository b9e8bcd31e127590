"""An experiment: policy-training episodes, then evaluation runs of every strategy x seed,
checkpointed after every round into one file so ``--resume`` continues a killed run exactly.

Jobs run in a fixed order: ``train_episodes`` RL-MBA training episodes (seeds 10000, 10001, ...,
kept apart from the evaluation seeds; skipped when a ``policy`` file is given or RL-MBA is not
among the strategies), then for each seed, each strategy. The checkpoint (``checkpoint.pt`` in
the output directory, see :mod:`.checkpoint`) holds the index of the current job, the current
learner (labeled indices, model and optimiser state, metrics so far, RNG state), every
strategy's state (the policy's weights, optimiser, baseline and the episode so far), the
finished runs' metrics, the protocol and a fingerprint of the dataset's content. A resume
refuses a checkpoint whose protocol or dataset differs (naming what differs) and validates
every field it restores.
"""
from __future__ import annotations

import os
import time

from ..data import load_dataset
from ..data.dataset import POOL
from . import checkpoint as ckpt
from .checkpoint import CheckpointError
from .config import RunConfig, to_dict
from .loop import ActiveLearner, check_budget, check_device
from .rlmba_strategy import RLMBAStrategy
from .rundir import CHECKPOINT, RunDirectory
from .strategies import make_strategy

FORMAT = "rlmba-run-2"
TRAIN_SEED0 = 10_000
# config keys that may change between a run and its resume (the dataset's content is fingerprinted,
# so a moved file resumes and a changed one does not)
_NOT_PROTOCOL = ("progress", "out", "dataset")


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


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def differences(saved: dict, now: dict) -> list[str]:
    """``field (checkpoint X, now Y)`` for every (dotted) field that differs."""
    a, b = _flat(saved), _flat(now)
    return [f"{k} (checkpoint {a.get(k)!r}, now {b.get(k)!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


class Experiment:
    """``Experiment(cfg).run(resume=False)`` -> results dict; outputs go to ``cfg.out``.

    The constructor loads the dataset and checks the protocol against it (device, labels the
    rounds need vs the pool); nothing is written before :meth:`run`.
    """

    def __init__(self, cfg: RunConfig, dataset=None, model_factory=None):
        self.cfg = cfg
        check_device(cfg.device)
        self.ds = dataset if dataset is not None else load_dataset(cfg.dataset, modalities=cfg.modalities)
        check_budget(cfg.initial, cfg.rounds, cfg.budget, int((self.ds.split == POOL).sum()),
                     f"the pool of {self.ds.name!r}")
        self.factory = model_factory
        self.jobs = plan(cfg)
        self.strategies = {name: self._make(name) for name in cfg.strategies}
        self.runs: dict[str, dict[str, list]] = {name: {} for name in cfg.strategies}
        self.labeled: dict[str, dict[str, list]] = {name: {} for name in cfg.strategies}
        self.times: dict[str, float] = {}
        self.path = os.path.join(cfg.out, CHECKPOINT)
        self._fingerprint = None

    def _make(self, name: str):
        if name == "rlmba":
            return RLMBAStrategy(self.cfg.rlmba, policy=self.cfg.policy, baselines=self.cfg.baselines)
        return make_strategy(name, config=self.cfg.rlmba)

    @property
    def fingerprint(self) -> dict[str, str]:
        if self._fingerprint is None:
            self._fingerprint = self.ds.fingerprint()
        return self._fingerprint

    def job_label(self, j: int) -> str:
        """``policy training 2/4`` or ``seed 0 (1/3), 3/14 strategies: entropy``."""
        kind, name, seed = self.jobs[j]
        if kind == "train":
            n = sum(k == "train" for k, _, _ in self.jobs)
            return f"policy training {j + 1}/{n}"
        seeds, names = self.cfg.seeds, self.cfg.strategies
        return (f"seed {seed} ({seeds.index(seed) + 1}/{len(seeds)}), "
                f"{names.index(name) + 1}/{len(names)} strategies: {name}")

    def _learner(self, j: int) -> ActiveLearner:
        kind, name, seed = self.jobs[j]
        c = self.cfg
        return ActiveLearner(self.ds, self.strategies[name], model_factory=self.factory, initial=c.initial,
                             budget=c.budget, rounds=c.rounds, seed=seed, device=c.device, train=c.train,
                             rlmba=c.rlmba, training=kind == "train", progress=c.progress,
                             hook=lambda point, t: ckpt.maybe_fault(point, j, t))

    def _save(self, j: int, learner: ActiveLearner | None) -> None:
        state = {"format": FORMAT, "protocol": _protocol(self.cfg), "dataset": self.fingerprint, "job": j,
                 "learner": None if learner is None else learner.state_dict(),
                 "strategies": {n: s.state_dict() for n, s in self.strategies.items()},
                 "runs": self.runs, "labeled": self.labeled, "times": self.times}
        t = -1 if learner is None else learner.round - 1
        ckpt.atomic_save(state, self.path, fault=lambda: ckpt.maybe_fault("save", j, t))

    def _restore(self) -> tuple[int, ActiveLearner | None]:
        """(first job to run, its learner restored mid-run or None) from the checkpoint, every
        field validated before anything runs or is written."""
        try:
            data = ckpt.load(self.path)
        except (CheckpointError, OSError) as exc:
            raise CheckpointError(f"{exc}{self._previous_hint()}") from None
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{self.path}: format {data.get('format')!r}, expected {FORMAT!r}")
        diff = differences(data.get("protocol") or {}, _protocol(self.cfg))
        if diff:
            raise CheckpointError("--resume: the configuration differs from the checkpoint's in " + "; ".join(diff))
        changed = sorted(k for k in set(self.fingerprint) | set(data.get("dataset") or {})
                         if self.fingerprint.get(k) != (data.get("dataset") or {}).get(k))
        if changed:
            raise CheckpointError(f"--resume: the dataset's content differs from the checkpoint's in {changed}")
        job, learner = data.get("job"), data.get("learner")
        if type(job) is not int or not 0 <= job <= len(self.jobs) or (learner is not None and job == len(self.jobs)):
            raise CheckpointError(f"{self.path}: job index {job!r} outside [0, {len(self.jobs)}]")
        try:
            self._restore_fields(data, job)
            if learner is not None:
                restored = self._learner(job)
                restored.load_state_dict(learner)
                return job, restored
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"{self.path}: invalid {type(exc).__name__}: {exc}") from None
        return job, None

    def _restore_fields(self, data: dict, job: int) -> None:
        if set(data["strategies"]) != set(self.strategies):
            raise ValueError(f"strategies {sorted(data['strategies'])}, expected {sorted(self.strategies)}")
        done = {(name, str(seed)) for kind, name, seed in self.jobs[:job] if kind == "eval"}
        for field in ("runs", "labeled"):
            have = {(n, s) for n, seeds in data[field].items() for s in seeds}
            if have != done:
                raise ValueError(f"{field}: finished runs {sorted(have)} do not match job {job}'s {sorted(done)}")
        for n, s in self.strategies.items():
            s.load_state_dict(data["strategies"][n])
        self.runs, self.labeled, self.times = data["runs"], data["labeled"], dict(data["times"])

    def _previous_hint(self) -> str:
        prev = self.path + ".prev"
        try:
            ckpt.load(prev)
        except (CheckpointError, OSError):
            return ""
        return f"; the checkpoint before it is intact: move {prev} to {self.path} to resume from there"

    def _save_policy(self) -> None:
        rl = self.strategies.get("rlmba")
        if rl is not None and rl.net is not None and self.cfg.policy is None:
            rl.save_policy(os.path.join(self.cfg.out, "policy.pt"))

    def run(self, resume: bool = False, overwrite: bool = False, write=None) -> dict:
        """Run every job (from the checkpoint with ``resume``) while holding ``cfg.out``
        (:class:`~.rundir.RunDirectory`); ``write(results)`` then writes the outputs, still
        holding it, and its return value is ``results["paths"]``."""
        t0 = time.perf_counter()
        with RunDirectory(self.cfg.out, resume=resume, overwrite=overwrite):
            start, restored = self._restore() if resume else (0, None)
            for j in range(start, len(self.jobs)):
                self._run_job(j, restored if j == start else None)
            if not any(k == "eval" for k, _, _ in self.jobs):
                self._save_policy()
            results = self.results()
            results["wall_s"] = time.perf_counter() - t0
            if write is not None:
                results["paths"] = write(results)
        return results

    def _run_job(self, j: int, learner: ActiveLearner | None) -> None:
        kind, name, seed = self.jobs[j]
        if kind == "eval" and (j == 0 or self.jobs[j - 1][0] == "train"):
            self._save_policy()
        learner = learner or self._learner(j)
        t0 = time.perf_counter()
        learner.run(on_round=lambda lr: self._save(j, lr), desc=self.job_label(j))
        key = f"{kind}/{name}/{seed}"
        self.times[key] = self.times.get(key, 0.0) + time.perf_counter() - t0
        if kind == "eval":
            self.runs[name][str(seed)] = learner.history
            self.labeled[name][str(seed)] = learner.labeled.tolist()  # in labelling order
        self._save(j + 1, None)

    def results(self) -> dict:
        rl = self.strategies.get("rlmba")
        return {"config": to_dict(self.cfg), "dataset": {"name": self.ds.name, "modalities": self.ds.modality_names,
                                                          "num_classes": self.ds.num_classes, "n": len(self.ds)},
                "runs": self.runs, "labeled": self.labeled, "policy_log": [] if rl is None else rl.log,
                "times": self.times}
