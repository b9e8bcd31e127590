"""The pool a session labels: the user's feature file with ``y = -1`` (or no ``y``) for unlabeled
rows, the validation rows, the dataset each round trains on, and the cold-start pick.

File format: rlmba's (``rlmba.data.loader``), where ``y = -1`` marks an unlabeled row and ``y``
may be absent (nothing labeled). Rows of the ``split`` array's validation and test splits must be
labeled; they are never queried. ``meta_<name>`` arrays (e.g. image paths) are kept for display
(the Label Studio export) and never used as features. A row's id is its index in the file.

Validation: rows the file marks as validation. If it marks none, the session holds out
``val_frac`` of what gets labeled, per class and as labels arrive: the k-th label of class c goes
to validation when round(k val_frac) (halves up) grows, so each class always has
round(n_c val_frac) of its n_c labels in validation (val_frac = 0.2: the 3rd, 8th, 13th ...).
Held-out rows are never trained on.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from ..data.dataset import POOL, VAL, MultimodalDataset
from ..data.loader import _read, _split, dataset_from_arrays
from ..ops.clustering import kmeans
from .store import SessionError

UNLABELED = -1


class Pool:
    """The file's arrays, its labels (``y``, -1 = unlabeled) and split codes (all pool when absent)."""

    def __init__(self, path: str, num_classes: int | None = None):
        self.path = os.path.abspath(path)
        try:
            arrays = _read(self.path)
        except (OSError, ValueError) as exc:
            raise SessionError(f"--data {path}: {exc}") from None
        self.meta = {k[5:]: arrays.pop(k) for k in list(arrays) if k.startswith("meta_")}
        self.n = self._rows(arrays)
        self.y = self._labels(arrays)
        self.split = _split(arrays, torch.zeros(self.n), 0).numpy() if "split" in arrays \
            else np.zeros(self.n, dtype=np.int8)
        for name, a in [("split", self.split)] + [(f"meta_{k}", v) for k, v in self.meta.items()]:
            if a.shape[:1] != (self.n,):
                raise SessionError(f"{name}: expected one entry per pool row (N = {self.n}), got shape {a.shape}")
        self.class_names = [str(v) for v in arrays["class_names"].tolist()] if "class_names" in arrays else []
        self.num_classes = self._classes(arrays, num_classes)
        self.name = os.path.splitext(os.path.basename(self.path))[0]
        self._check_features({k: v for k, v in arrays.items() if k not in ("y", "split", "num_classes")})
        held = self.split != POOL
        if (self.y[held] == UNLABELED).any():
            row = int(np.flatnonzero(held & (self.y == UNLABELED))[0])
            raise SessionError(f"--data {path}: row {row} is in the validation or test split but has no label "
                               "(y = -1); those rows must be labeled")

    def _rows(self, arrays: dict) -> int:
        feats = [k for k in arrays if k.startswith("x_")]
        if not feats:
            raise SessionError(f"--data {self.path}: no feature arrays; name each modality's array x_<modality>")
        n = int(arrays[feats[0]].shape[0]) if arrays[feats[0]].ndim else 0
        if n < 2:
            raise SessionError(f"--data {self.path}: a pool needs at least 2 rows, {feats[0]} has {n}")
        return n

    def _labels(self, arrays: dict) -> np.ndarray:
        if "y" not in arrays:
            return np.full(self.n, UNLABELED, dtype=np.int64)
        y = arrays["y"]
        if y.shape != (self.n,) or not (np.issubdtype(y.dtype, np.integer) or np.all(y == np.round(y))):
            raise SessionError(f"y: expected [N = {self.n}] integer labels (-1 = unlabeled), got {y.dtype} {y.shape}")
        y = y.astype(np.int64)
        if (y < UNLABELED).any():
            raise SessionError(f"y: row {int(np.flatnonzero(y < UNLABELED)[0])} has label "
                               f"{int(y[y < UNLABELED][0])}; labels are 0..C-1, or -1 for unlabeled")
        return y

    def _classes(self, arrays: dict, num_classes: int | None) -> int:
        given = [("--num-classes", num_classes),
                 ("num_classes", int(arrays["num_classes"]) if "num_classes" in arrays else None),
                 ("class_names", len(self.class_names) or None)]
        known = [(name, c) for name, c in given if c is not None]
        if known:
            name, c = known[0]
        elif (self.y >= 0).any():
            name, c = "the largest label + 1", int(self.y.max()) + 1
        else:
            raise SessionError(f"--data {self.path}: no labels, num_classes or class_names; "
                               "pass --num-classes")
        if c < 2 or (self.y >= c).any():
            raise SessionError(f"{name}: {c} classes, but y holds labels up to {int(self.y.max())}")
        return c

    def _check_features(self, arrays: dict) -> None:
        """Features in modality order, validated (the loader's rules) once, at load time."""
        probe = {**arrays, "y": np.zeros(self.n, dtype=np.int64), "num_classes": np.array(2),
                 "split": np.where(np.arange(self.n) == 0, VAL, POOL).astype(np.int8)}
        try:
            ds = dataset_from_arrays({k: v for k, v in probe.items() if k != "class_names"}, name=self.name)
        except (TypeError, ValueError) as exc:
            raise SessionError(f"--data {self.path}: {exc}") from None
        self.features, self.modalities = ds.features, ds.modality_names

    def dataset(self, labels: dict[int, int], val) -> MultimodalDataset:
        """The dataset a round trains on: the session's ``labels``, the ``val`` rows in the
        validation split (with the file's own), test rows kept. Unlabeled rows carry label 0,
        which nothing reads (training reads labeled rows, evaluation validation and test rows)."""
        y = torch.as_tensor(np.where(self.y < 0, 0, self.y))
        if labels:
            y[torch.tensor(list(labels))] = torch.tensor(list(labels.values()))
        split = torch.as_tensor(self.split.copy())
        split[torch.as_tensor(sorted(val), dtype=torch.int64)] = VAL
        return MultimodalDataset(features=self.features, labels=y, split=split, num_classes=self.num_classes,
                                 modality_names=self.modalities, name=self.name, class_names=self.class_names)


def holds_out(count_before: int, val_frac: float) -> bool:
    """Whether a class's next label (its ``count_before + 1``-th) goes to validation."""
    def target(k):
        return math.floor(k * val_frac + 0.5)
    return target(count_before + 1) > target(count_before)


def cold_start(features: list[torch.Tensor], candidates: torch.Tensor, budget: int, rule: str,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The first pick, before any model can be trained: (row ids, scores).

    ``random``: ``candidates[randperm(len(candidates))[:budget]]``, the draw ``rlmba run`` makes
    for its initial labels (scores NaN). ``kmeans`` (default): k-means (k = budget, k-means++
    then 5 Lloyd steps) on the candidates' features, each modality z-scored over the candidates
    and scaled by 1 / sqrt(D_m) so every modality weighs the same, then per cluster the row
    nearest its centroid (score: that distance); clusters left empty are filled with the rows
    nearest any centroid. Both draw from ``generator``.
    """
    if rule == "random":
        picks = torch.randperm(len(candidates), generator=generator)[:budget]
        return candidates[picks], torch.full((budget,), math.nan, dtype=torch.float64)
    blocks = []
    for x in features:
        x = x[candidates].double()
        mean, std = x.mean(0), x.std(0, unbiased=False)
        std = torch.where(std > 1e-12 * (1 + mean.abs()), std, torch.ones_like(std))
        blocks.append(((x - mean) / std / math.sqrt(x.shape[1])).float())
    _, assign, dist = kmeans(torch.cat(blocks, 1), budget, iters=5, generator=generator)
    order = torch.argsort(dist, stable=True).tolist()  # nearest first, ties to the lower row
    first: dict[int, int] = {}
    for i, c in zip(order, assign[order].tolist()):
        first.setdefault(c, i)
    chosen = set(first.values())
    extra = [i for i in order if i not in chosen][:budget - len(chosen)]
    picks = torch.tensor(sorted(chosen | set(extra), key=lambda i: (float(dist[i]), i)))
    return candidates[picks], dist[picks].double()
