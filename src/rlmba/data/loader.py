"""Load precomputed multimodal features from disk, and the named datasets rlmba knows.

File format (one ``.npz`` archive, or a directory of ``.npy`` files with the same names):

- ``x_<name>``: one float array ``[N, D_m]`` per modality ``<name>`` (at least one). Modality
  order: the ``modalities`` array if present, else the order of the archive's entries (a
  directory: file names sorted).
- ``y``: integer class labels ``[N]`` in ``[0, C)``; ``C`` is ``num_classes`` (a scalar array) if
  present, else ``max(y) + 1``.
- ``split`` (optional): ``[N]`` codes 0 = pool/train, 1 = validation, 2 = test, or the strings
  ``"train"``/``"pool"``, ``"val"``, ``"test"``. Without it a stratified 70/10/20 split is drawn
  (seed ``split_seed``).
- ``modalities``, ``class_names`` (optional): string arrays.

Every inconsistency raises an error naming the array: mismatched row counts, NaN/Inf features
(with the first bad row), labels out of range or not integers, unknown split values.
"""
from __future__ import annotations

import os
from importlib import resources

import numpy as np
import torch

from .dataset import SPLIT_NAMES, MultimodalDataset, stratified_split
from .synthetic import make_synthetic

RESERVED = ("y", "split", "modalities", "class_names", "num_classes")


def _read(path: str) -> dict[str, np.ndarray]:
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.endswith(".npy"))
        if not names:
            raise ValueError(f"{path}: no .npy files in this directory")
        return {f[:-4]: np.load(os.path.join(path, f), allow_pickle=False) for f in names}
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _labels(arrays: dict, path: str) -> tuple[torch.Tensor, int]:
    if "y" not in arrays:
        raise ValueError(f"{path}: no labels array 'y'")
    y = arrays["y"]
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D label array [N], got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"y: expected integer class labels, got dtype {y.dtype} with non-integer values")
    y = torch.from_numpy(y.astype(np.int64))
    if "num_classes" in arrays:
        c = int(arrays["num_classes"])
    else:
        c = int(y.max().item()) + 1 if y.numel() else 0
    return y, c


def _split(arrays: dict, y: torch.Tensor, split_seed: int) -> torch.Tensor:
    if "split" not in arrays:
        return torch.from_numpy(stratified_split(y.numpy(), seed=split_seed))
    s = arrays["split"]
    if s.dtype.kind in "US":
        unknown = sorted(set(s.tolist()) - set(SPLIT_NAMES))
        if unknown:
            raise ValueError(f"split: unknown names {unknown}; use train/pool, val, test")
        s = np.array([SPLIT_NAMES[v] for v in s.tolist()], dtype=np.int8)
    elif not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"split: expected integer codes 0/1/2 or strings, got dtype {s.dtype}")
    return torch.from_numpy(s.astype(np.int8))


def dataset_from_arrays(arrays: dict[str, np.ndarray], name: str = "dataset",
                        split_seed: int = 0) -> MultimodalDataset:
    """Build and validate a :class:`MultimodalDataset` from arrays named as in the file format."""
    keys = [k for k in arrays if k.startswith("x_")]
    unexpected = [k for k in arrays if k not in RESERVED and not k.startswith("x_")]
    if unexpected:
        raise ValueError(f"{name}: unexpected arrays {unexpected}; features must be named x_<modality>")
    if "modalities" in arrays:
        order = [str(m) for m in arrays["modalities"].tolist()]
        if sorted(f"x_{m}" for m in order) != sorted(keys):
            raise ValueError(f"modalities: {order} does not match the feature arrays {keys}")
        keys = [f"x_{m}" for m in order]
    if not keys:
        raise ValueError(f"{name}: no feature arrays; name each modality's array x_<modality>")
    feats = []
    for k in keys:
        x = arrays[k]
        if not np.issubdtype(x.dtype, np.number):
            raise TypeError(f"features[{k[2:]!r}]: expected a numeric array, got dtype {x.dtype}")
        feats.append(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    y, c = _labels(arrays, name)
    class_names = [str(v) for v in arrays["class_names"].tolist()] if "class_names" in arrays else []
    return MultimodalDataset(features=feats, labels=y, split=_split(arrays, y, split_seed), num_classes=c,
                             modality_names=[k[2:] for k in keys], name=name, class_names=class_names)


def load_features(path: str, split_seed: int = 0) -> MultimodalDataset:
    """Load a user's ``.npz`` file or directory of ``.npy`` files (format in the module docstring)."""
    name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    return dataset_from_arrays(_read(str(path)), name=name, split_seed=split_seed)


def load_mfeat() -> MultimodalDataset:
    """UCI Multiple Features digits: N = 2,000, C = 10, M = 6 views (see ``DATA.md`` beside the file)."""
    with resources.as_file(resources.files("rlmba.data") / "mfeat.npz") as p:
        return dataset_from_arrays(_read(str(p)), name="mfeat")


def load_dataset(spec: str, *, modalities=None, seed: int = 0, **synthetic_kw) -> MultimodalDataset:
    """``"mfeat"`` (embedded), ``"synthetic"`` (:func:`make_synthetic` with ``synthetic_kw``), or a path."""
    if spec == "mfeat":
        ds = load_mfeat()
    elif spec == "synthetic":
        ds = make_synthetic(seed=seed, **synthetic_kw)
    else:
        ds = load_features(spec)
    return ds.select_modalities(modalities)
