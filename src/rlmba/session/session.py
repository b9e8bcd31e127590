"""The labeling session: ``query`` trains on the labels so far and asks for a batch, people label
it, ``label`` adds their answers, and so on for as long as the labeling job runs.

A strategy round is one round of rlmba's active-learning loop (:class:`rlmba.learn.ActiveLearner`)
on the session's labels: the same model, training, evaluation, AMCB weights, seeds (derived from
the session's seed and the round) and strategy, so a session whose answers are the true labels
picks exactly what ``rlmba run`` picks for the same data, seed and strategy. Before a model can be
trained (no training label or no validation row yet), a query is a cold-start pick
(:func:`rlmba.session.pool.cold_start`). Answers are added in the order the query asked for them,
the order the loop labels in. RL-MBA uses the ``policy`` file given at init, else the greedy rule
(the b largest q).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..data.dataset import VAL
from ..learn.baselines import ScoreStrategy
from ..learn.config import from_dict, to_dict
from ..learn.loop import INIT, ActiveLearner, derive_seed
from ..learn.rlmba_strategy import RLMBAStrategy
from ..learn.strategies import available_strategies, make_strategy
from . import report
from .answers import check_answers, read_answers
from .pool import UNLABELED, Pool, cold_start, holds_out
from .store import SessionError, atomic_write, fault, read_json, write_json, writer_lock

FORMAT = "rlmba-session-1"
COLD_STARTS = ("kmeans", "random")


class GreedyRLMBA(ScoreStrategy):
    """RL-MBA without a policy file: the greedy rule, the b largest q."""

    name = "rlmba"


@dataclass
class Query:
    """One query: its round, what picked it, the row ids to label (in order) and their scores."""

    round: int
    strategy: str
    ids: list[int]
    scores: list[float]
    path: str


def _fingerprint(path: str) -> str:
    """sha256 of the pool file (of each .npy file of a directory, in name order)."""
    h = hashlib.sha256()
    files = sorted(os.path.join(path, f) for f in os.listdir(path)) if os.path.isdir(path) else [path]
    for name in files:
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


class Session:
    """``Session(DIR)`` opens a session ``Session.init`` created; verbs ``query``, ``label``,
    ``status``, ``export`` (the ``rlmba session`` command's)."""

    def __init__(self, directory: str):
        self.dir = os.path.abspath(directory)
        path = os.path.join(self.dir, "session.json")
        if not os.path.exists(path):
            raise SessionError(f"{directory}: not an rlmba session (no session.json); create one with "
                               "'rlmba session init DIR --data POOL.npz'")
        self.settings = read_json(path)
        if self.settings.get("format") != FORMAT:
            raise SessionError(f"{path}: not an {FORMAT} session file")
        self.config = from_dict({"train": self.settings["train"], "rlmba": self.settings["rlmba"]})

    # ------------------------------------------------------------------ init
    @classmethod
    def init(cls, directory: str, data: str, *, strategy: str = "rlmba", budget: int = 20, seed: int = 0,
             initial: int | None = None, cold_start: str = "kmeans", val_frac: float = 0.2,
             num_classes: int | None = None, policy: str | None = None, train: dict | None = None,
             rlmba: dict | None = None) -> "Session":
        """Create a session in ``directory`` on the pool file ``data`` (see :mod:`rlmba.session`)."""
        if strategy not in available_strategies():
            raise SessionError(f"--strategy: unknown {strategy!r}; available: {available_strategies()}")
        for name, value in (("--budget", budget), ("--initial", budget if initial is None else initial)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SessionError(f"{name}: expected an int >= 1, got {value!r}")
        if cold_start not in COLD_STARTS:
            raise SessionError(f"--cold-start: expected one of {COLD_STARTS}, got {cold_start!r}")
        if not 0 < val_frac < 1:
            raise SessionError(f"--val-frac: expected a fraction in (0, 1), got {val_frac}")
        if policy is not None and (strategy != "rlmba" or not os.path.exists(policy)):
            raise SessionError(f"--policy {policy}: " + ("no such file" if strategy == "rlmba" else
                                                         "only the rlmba strategy reads a policy"))
        if os.path.exists(os.path.join(directory, "session.json")):
            raise SessionError(f"{directory}: already a session; open it, or init another directory")
        try:
            config = from_dict({"train": train or {}, "rlmba": rlmba or {}})
        except (TypeError, ValueError) as exc:
            raise SessionError(f"configuration: {exc}") from None
        if config.train.warm_start:
            raise SessionError("train.warm_start: a session trains a fresh model each round; set it to false")
        pool = Pool(data, num_classes)
        settings = {"format": FORMAT, "data": pool.path, "fingerprint": _fingerprint(pool.path), "n": pool.n,
                    "num_classes": pool.num_classes, "class_names": pool.class_names, "modalities": pool.modalities,
                    "strategy": strategy, "budget": budget, "seed": seed, "initial": initial or budget,
                    "cold_start": cold_start, "holdout": not bool((pool.split == VAL).any()), "val_frac": val_frac,
                    "policy": None if policy is None else os.path.abspath(policy),
                    "train": to_dict(config.train), "rlmba": to_dict(config.rlmba)}
        os.makedirs(os.path.join(directory, "queries"), exist_ok=True)
        with writer_lock(directory):
            labeled = [(int(i), int(pool.y[i])) for i in np.flatnonzero((pool.y != UNLABELED) & (pool.split == 0))]
            state = {"format": FORMAT, "labels": [], "val": [], "rounds": [], "pending": None}
            _add_labels(state, labeled, settings)
            write_json(os.path.join(directory, "state.json"), state)
            write_json(os.path.join(directory, "session.json"), settings)  # last: the session now exists
        return cls(directory)

    # ------------------------------------------------------------------ helpers
    def state(self) -> dict:
        """The session's ``state.json``: labels in labelling order, held-out validation rows,
        every round (asked ids, scores, metrics, AMCB weights) and the pending query."""
        return read_json(os.path.join(self.dir, "state.json"))

    def _save(self, state: dict) -> None:
        write_json(os.path.join(self.dir, "state.json"), state, fault_point="state-tmp")
        fault("state-saved")

    def _pool(self) -> Pool:
        s = self.settings
        if _fingerprint(s["data"]) != s["fingerprint"]:
            raise SessionError(f"{s['data']}: the pool file changed since 'rlmba session init' (query ids are its "
                               "row numbers); restore it or start a new session")
        return Pool(s["data"], s["num_classes"])

    def _strategy(self):
        s, cfg = self.settings, self.config.rlmba
        if s["strategy"] == "rlmba":
            return RLMBAStrategy(cfg, policy=s["policy"]) if s["policy"] else GreedyRLMBA(config=cfg)
        return make_strategy(s["strategy"], config=cfg)

    # ------------------------------------------------------------------ query
    def query(self, budget: int | None = None, *, replace: bool = False, device: str = "cpu",
              threads: int | None = None) -> Query:
        """Train on the labels so far, select a batch and write it to ``queries/round-NNN.csv``
        (and ``.jsonl``). Refuses while a query is pending unless ``replace`` (its answers so far
        are kept; its other rows may be asked again)."""
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise SessionError(f"--budget: expected an int >= 1, got {budget!r}")
        if threads:
            torch.set_num_threads(threads)
        with writer_lock(self.dir):
            state = self.state()
            pending = state["pending"]
            if pending and not replace:
                r = state["rounds"][pending["round"]]
                raise SessionError(f"round {pending['round']} is pending: {len(r['ids']) - len(pending['ids'])} of "
                                   f"{len(r['ids'])} answered ({r['file']}); label it with 'rlmba session label', "
                                   "or query again with --replace")
            if pending:
                state["rounds"][pending["round"]]["replaced"] = True
            query, entry = self._select(state, budget, device)
            fault("query-picked")
            self._write_query(query)
            fault("query-files")
            state["rounds"].append(entry)
            state["pending"] = {"round": query.round, "ids": list(query.ids)}
            self._save(state)
        return query

    def _select(self, state: dict, budget: int | None, device: str) -> tuple[Query, dict]:
        pool, s = self._pool(), self.settings
        labels, val = dict(state["labels"]), set(state["val"])
        candidates = [i for i in np.flatnonzero(pool.split == 0).tolist() if i not in labels]
        if not candidates:
            raise SessionError("every pool row is labeled: nothing left to ask")
        train_ids = [i for i, _ in state["labels"] if i not in val]
        done = [r for r in state["rounds"] if r["kind"] != "cold-start" and not r.get("replaced")]
        k = len(state["rounds"])
        if not train_ids or not (val or (pool.split == VAL).any()):
            b = min(budget or s["initial"], len(candidates))
            ids, scores = cold_start(pool.features, torch.tensor(candidates), b, s["cold_start"],
                                     torch.Generator().manual_seed(derive_seed(s["seed"], INIT)))
            entry = {"kind": "cold-start", "strategy": f"cold-start:{s['cold_start']}"}
        else:
            strategy = self._strategy()
            learner = ActiveLearner(pool.dataset(labels, val), strategy, initial=torch.tensor(train_ids),
                                    budget=budget or s["budget"], rounds=len(done) + 1, seed=s["seed"], device=device,
                                    train=self.config.train, rlmba=self.config.rlmba)
            learner.round, learner.history = len(done), [r["metrics"] for r in done]
            if done:
                learner.weights = torch.tensor(done[-1]["weights"], dtype=torch.float64)
            record = learner.step()
            ids = learner.labeled[len(train_ids):]
            scores = strategy.last_scores if strategy.last_scores is not None else torch.full((len(ids),), math.nan)
            entry = {"kind": "strategy", "strategy": s["strategy"], "metrics": record,
                     "weights": learner.weights.tolist()}
        ids, scores = [int(i) for i in ids], [float(x) for x in scores]
        query = Query(k, entry["strategy"], ids, scores, os.path.join(self.dir, "queries", f"round-{k:03d}.csv"))
        entry.update({"round": k, "ids": ids, "scores": scores, "labels_before": len(labels),
                      "file": os.path.relpath(query.path, self.dir)})
        return query, entry

    def _write_query(self, q: Query) -> None:
        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(["id", "strategy", "score"])
        w.writerows([i, q.strategy, "" if math.isnan(x) else repr(x)] for i, x in zip(q.ids, q.scores))
        atomic_write(q.path, text.getvalue())
        lines = [json.dumps({"id": i, "strategy": q.strategy, "score": None if math.isnan(x) else x, "round": q.round})
                 for i, x in zip(q.ids, q.scores)]
        atomic_write(q.path[:-4] + ".jsonl", "".join(line + "\n" for line in lines))

    # ------------------------------------------------------------------ label
    def label(self, answers) -> dict:
        """Add answers: a ``.csv`` (columns ``id,label``) or ``.jsonl`` file, a ``{id: label}``
        dict or (id, label) pairs. Labels may be class names. A file with any bad answer is
        refused whole (:mod:`rlmba.session.answers`). Returns the counts: ``accepted``,
        ``held_out`` (of those, kept for validation), ``already`` (held before), ``remaining``."""
        if isinstance(answers, (str, os.PathLike)):
            where, rows = os.fspath(answers), read_answers(os.fspath(answers))
        else:
            pairs = answers.items() if isinstance(answers, dict) else answers
            where, rows = "answers", [(k, i, c) for k, (i, c) in enumerate(pairs, 1)]
        s = self.settings
        with writer_lock(self.dir):
            state = self.state()
            pending = state["pending"]
            new, already = check_answers(rows, n=s["n"], num_classes=s["num_classes"], class_names=s["class_names"],
                                         asked=pending["ids"] if pending else [], labels=dict(state["labels"]),
                                         where=where)
            held = _add_labels(state, new, s)
            if pending:
                answered = {i for i, _ in new}
                pending["ids"] = [i for i in pending["ids"] if i not in answered]
                state["pending"] = pending if pending["ids"] else None
            if new:
                self._save(state)
        return {"accepted": len(new), "held_out": held, "already": already,
                "remaining": len(state["pending"]["ids"]) if state["pending"] else 0}

    # ------------------------------------------------------------------ status, export
    def status(self, plot: bool = True) -> dict:
        """Rounds, labels per class, validation metrics per round and the pending query (a dict;
        ``info["text"]`` is what ``rlmba session status`` prints); with ``plot``, writes
        ``learning_curve.png`` (validation Top-1 per query) once a model has been trained."""
        info = report.summary(self)
        path = report.plot(info, os.path.join(self.dir, "learning_curve.png")) if plot else None
        info["plot"] = path
        info["text"] = report.summary_text(info, path)
        return info

    def export(self, out: str, *, label_studio: bool = False, field: str | None = None) -> str:
        """Every label the session holds to ``out`` (``.csv`` id,label or ``.npz``), or with
        ``label_studio`` the pending query as Label Studio tasks (``field``: a ``meta_<field>``
        array of the pool file shown with each task). Returns ``out``."""
        return report.export(self, out, label_studio, field)


def _add_labels(state: dict, new: list[tuple[int, int]], settings: dict) -> int:
    """Append ``new`` (id, label) answers; with hold-out on, route each class's share to
    validation (:func:`rlmba.session.pool.holds_out`). Returns how many were held out."""
    counts: dict[int, int] = {}
    for _, c in state["labels"]:
        counts[c] = counts.get(c, 0) + 1
    held = 0
    for i, c in new:
        if settings["holdout"] and holds_out(counts.get(c, 0), settings["val_frac"]):
            state["val"].append(i)
            held += 1
        counts[c] = counts.get(c, 0) + 1
        state["labels"].append([i, c])
    return held
