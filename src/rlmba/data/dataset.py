"""The in-memory multimodal dataset every active-learning run works on, and its validation."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch

POOL, VAL, TEST = 0, 1, 2
SPLIT_NAMES = {"train": POOL, "pool": POOL, "val": VAL, "valid": VAL, "validation": VAL, "test": TEST}


@dataclass
class MultimodalDataset:
    """M modalities of precomputed feature vectors over the same N samples.

    ``features[m]``: float32 ``[N, D_m]``; ``labels``: int64 ``[N]`` in ``[0, num_classes)``;
    ``split``: int8 ``[N]``, 0 = pool (the unlabeled pool active learning draws from, also
    called train), 1 = validation (metrics, temperatures, AMCB gaps, rewards), 2 = test.
    Build one with :func:`rlmba.data.load_dataset`; the constructor validates everything.
    """

    features: list[torch.Tensor]
    labels: torch.Tensor
    split: torch.Tensor
    num_classes: int
    modality_names: list[str]
    name: str = "dataset"
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        validate(self)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_modalities(self) -> int:
        return len(self.features)

    @property
    def dims(self) -> list[int]:
        return [int(x.shape[1]) for x in self.features]

    def indices(self, which: int | str) -> torch.Tensor:
        """Sorted sample indices of one split (``"pool"``/``"train"``, ``"val"``, ``"test"`` or 0/1/2)."""
        code = SPLIT_NAMES[which] if isinstance(which, str) else which
        return torch.nonzero(self.split == code).flatten()

    def inputs(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The M feature blocks of the rows ``idx``."""
        return [x[idx] for x in self.features]

    def select_modalities(self, names: Sequence[str] | None) -> "MultimodalDataset":
        """A dataset with only the named modalities, in the given order (None = all)."""
        if names is None:
            return self
        missing = [n for n in names if n not in self.modality_names]
        if missing or not names:
            raise ValueError(f"modalities: unknown {missing or 'empty list'}; available {self.modality_names}")
        pos = [self.modality_names.index(n) for n in names]
        return replace(self, features=[self.features[p] for p in pos], modality_names=list(names))

    def standardized(self) -> "MultimodalDataset":
        """Every feature z-scored with the pool split's mean and std (constant columns -> 0).

        Uses no labels, only the pool's features, as a pool-based learner may.
        """
        pool = self.indices(POOL)
        feats = []
        for x in self.features:
            ref = x[pool].double()
            mean, std = ref.mean(0), ref.std(0, unbiased=False)
            std = torch.where(std > 1e-12 * (1 + mean.abs()), std, torch.ones_like(std))
            feats.append(((x.double() - mean) / std).float())
        return replace(self, features=feats)

    def fingerprint(self) -> dict[str, str]:
        """SHA-256 of every array's content (each modality's features, labels, split) and of the
        class count: a checkpoint records it, so a resume on changed data is refused, naming what changed."""
        out = {f"features[{name!r}]": _sha256(x) for name, x in zip(self.modality_names, self.features)}
        out.update(labels=_sha256(self.labels), split=_sha256(self.split),
                   num_classes=hashlib.sha256(str(self.num_classes).encode()).hexdigest())
        return out

    def to(self, device) -> "MultimodalDataset":
        return replace(self, features=[x.to(device) for x in self.features],
                       labels=self.labels.to(device), split=self.split.to(device))


def _sha256(t: torch.Tensor) -> str:
    a = np.ascontiguousarray(t.detach().cpu().numpy())
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def validate(ds: MultimodalDataset) -> None:
    """Raise ValueError/TypeError naming the offending array for any inconsistency."""
    if not ds.features:
        raise ValueError("features: no modalities (M = 0)")
    if len(ds.modality_names) != len(ds.features):
        raise ValueError(f"modality_names: {len(ds.modality_names)} names for {len(ds.features)} modalities")
    n = int(ds.labels.shape[0]) if ds.labels.ndim == 1 else -1
    if n < 0:
        raise ValueError(f"labels: expected a 1-D array [N], got shape {tuple(ds.labels.shape)}")
    for name, x in zip(ds.modality_names, ds.features):
        if x.ndim != 2:
            raise ValueError(f"features[{name!r}]: expected a 2-D array [N, D], got shape {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise ValueError(f"features[{name!r}]: no feature columns (D = 0)")
        if x.shape[0] != n:
            raise ValueError(f"features[{name!r}]: {x.shape[0]} rows, but labels has {n}: "
                             "every modality needs one row per sample")
        if x.dtype != torch.float32:
            raise TypeError(f"features[{name!r}]: expected float32, got {x.dtype}")
        bad = ~torch.isfinite(x).all(1)
        if bad.any():
            rows = torch.nonzero(bad).flatten()
            raise ValueError(f"features[{name!r}]: {rows.numel()} rows hold NaN or Inf "
                             f"(first at row {rows[0].item()})")
    check_labels(ds.labels, ds.num_classes)
    if ds.split.shape != ds.labels.shape:
        raise ValueError(f"split: shape {tuple(ds.split.shape)} differs from labels' {tuple(ds.labels.shape)}")
    if not torch.isin(ds.split, torch.tensor([POOL, VAL, TEST], device=ds.split.device)).all():
        raise ValueError("split: values must be 0 (pool/train), 1 (val) or 2 (test)")
    for code, what in ((POOL, "pool"), (VAL, "validation")):
        if not (ds.split == code).any():
            raise ValueError(f"split: the {what} split is empty")


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    """int64 labels in [0, num_classes), 2 <= num_classes <= N (a class count beyond one class
    per sample is a corrupt file, and would size the model's heads)."""
    if labels.dtype != torch.int64:
        raise TypeError(f"labels: expected int64 class indices, got {labels.dtype}")
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool):
        raise TypeError(f"num_classes: expected an int, got {type(num_classes).__name__} {num_classes!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes: need at least 2 classes, got {num_classes}")
    if labels.numel() == 0:
        raise ValueError("labels: the dataset is empty (N = 0)")
    if num_classes > labels.numel():
        raise ValueError(f"num_classes: {num_classes} classes for {labels.numel()} samples; at most one class "
                         "per sample (are the labels class indices 0 .. C-1?)")
    lo, hi = labels.min().item(), labels.max().item()
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"labels: values must lie in [0, {num_classes}), got min {lo} and max {hi}")


def stratified_split(labels: np.ndarray, val_frac: float = 0.1, test_frac: float = 0.2,
                     seed: int = 0) -> np.ndarray:
    """int8 split codes: per class, shuffle (numpy PCG64, ``seed``) and cut val / test / pool."""
    if not (0 < val_frac and 0 <= test_frac and val_frac + test_frac < 1):
        raise ValueError(f"val_frac, test_frac: need 0 < val, 0 <= test, val + test < 1; got {val_frac}, {test_frac}")
    rng = np.random.default_rng(seed)
    split = np.zeros(len(labels), dtype=np.int8)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(len(idx) * val_frac)) if len(idx) > 2 else 0
        n_test = round(len(idx) * test_frac)
        split[idx[:n_val]] = VAL
        split[idx[n_val:n_val + n_test]] = TEST
    return split
