"""Load precomputed multimodal features from disk, and the named datasets rlmba knows.

File format (one ``.npz`` archive, or a directory of ``.npy`` files with the same names):

- ``x_<name>``: one real-valued (integer or float) array ``[N, D_m]``, ``D_m >= 1``, per modality
  ``<name>`` (at least one). Modality order: the ``modalities`` array if present, else the
  order of the archive's entries (a directory: file names sorted).
- ``y``: integer class labels ``[N]`` in ``[0, C)``; ``C`` is ``num_classes`` (one integer) if
  present, else ``max(y) + 1``; ``2 <= C <= N``.
- ``split`` (optional): ``[N]`` codes 0 = pool/train, 1 = validation, 2 = test, or the strings
  ``"train"``/``"pool"``, ``"val"``, ``"test"``. Without it a stratified 70/10/20 split is drawn
  (seed ``split_seed``).
- ``modalities``, ``class_names`` (optional): string arrays.

Every inconsistency raises an error naming the array: mismatched row counts, NaN/Inf features
(with the first bad row), complex, timedelta or object dtypes, ``D = 0``, labels out of range or
not integers, split codes other than 0/1/2 (never narrowed), absurd class counts.

Reading a file is safe for files from elsewhere: pickles and object arrays are refused (no
code runs), every array's ``.npy`` header is read and checked first (dtype, shape, row counts,
declared size against the bytes the archive holds for it, total size against this machine's
memory), and only then is anything allocated; a truncated or corrupt archive is a ValueError
and leaves no file open.
"""
from __future__ import annotations

import math
import os
import zipfile
import zlib
from contextlib import ExitStack
from importlib import resources
from typing import BinaryIO, Callable

import numpy as np
import numpy.lib.format as npy
import torch

from .dataset import POOL, SPLIT_NAMES, TEST, VAL, MultimodalDataset, stratified_split
from .synthetic import make_synthetic

RESERVED = ("y", "split", "modalities", "class_names", "num_classes")
# dtype kinds each array may have: i/u integers, f floats, U/S strings
KINDS = {"x_": "iuf", "y": "iuf", "split": "iuUS", "modalities": "US", "class_names": "US", "num_classes": "iuf"}
_WHAT = {"iuf": "a numeric array (int or float)", "iuUS": "integer codes or strings", "US": "strings"}


def _kinds(name: str) -> str:
    return KINDS["x_"] if name.startswith("x_") else KINDS.get(name, "")


def _label(name: str) -> str:
    return f"features[{name[2:]!r}]" if name.startswith("x_") else name


def check_dtype(name: str, dtype: np.dtype) -> None:
    """TypeError naming the array unless ``dtype`` fits it (no objects, complex, dates, bytes ...)."""
    allowed = _kinds(name)
    if dtype.hasobject:
        raise TypeError(f"{_label(name)}: object arrays (pickles) are refused; save plain numeric arrays")
    if allowed and dtype.kind not in allowed:
        raise TypeError(f"{_label(name)}: expected {_WHAT[allowed]}, got dtype {dtype}")


def check_shapes(shapes: dict[str, tuple]) -> None:
    """ValueError naming the array for shapes that cannot form a dataset (before any allocation)."""
    y = shapes.get("y")
    if y is not None and len(y) != 1:
        raise ValueError(f"y: expected a 1-D label array [N], got shape {y}")
    n = y[0] if y is not None else None
    for name, shape in shapes.items():
        if name.startswith("x_"):
            if len(shape) != 2:
                raise ValueError(f"{_label(name)}: expected a 2-D array [N, D], got shape {shape}")
            if shape[1] == 0:
                raise ValueError(f"{_label(name)}: no feature columns (D = 0)")
        if name == "split" and len(shape) != 1:
            raise ValueError(f"split: expected a 1-D array [N], got shape {shape}")
        if n is not None and (name.startswith("x_") or name == "split") and shape[:1] != (n,):
            raise ValueError(f"{_label(name)}: {shape[0] if shape else 0} rows, but labels has {n}: "
                             "every modality needs one row per sample")
    if "num_classes" in shapes and math.prod(shapes["num_classes"]) != 1:
        raise ValueError(f"num_classes: expected one integer, got shape {shapes['num_classes']}")


# ---------------------------------------------------------------- reading files
def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _header(name: str, f: BinaryIO, stored: int) -> tuple[tuple, np.dtype]:
    """Shape and dtype from a ``.npy`` header, checked against the ``stored`` bytes of the member."""
    try:
        version = npy.read_magic(f)
        reader = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if reader is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = reader(f)
    except (ValueError, EOFError, OSError, SyntaxError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{_label(name)}: not a readable .npy array ({exc})") from None
    check_dtype(name, dtype)
    declared = f.tell() + math.prod(shape) * dtype.itemsize
    if declared != stored:
        raise ValueError(f"{_label(name)}: declares shape {shape} {dtype} ({_size(declared)}), but the file holds "
                         f"{_size(stored)} for it: truncated or corrupt")
    return shape, dtype


def _read_members(members: dict[str, tuple[Callable[[], BinaryIO], int]], path: str) -> dict[str, np.ndarray]:
    """Every member's header first (dtype, shapes, sizes), then the arrays."""
    heads = {}
    for name, (open_member, stored) in members.items():
        with open_member() as f:
            heads[name] = _header(name, f, stored)
    check_shapes({name: shape for name, (shape, _) in heads.items()})
    total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in heads.values())
    if total > _physical_memory():
        raise MemoryError(f"{path}: its arrays need {_size(total)}, more than this machine's "
                          f"{_size(_physical_memory())} of memory")
    arrays = {}
    for name, (open_member, _) in members.items():
        try:
            with open_member() as f:
                arrays[name] = npy.read_array(f, allow_pickle=False)
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as exc:
            raise ValueError(f"{_label(name)}: truncated or corrupt data in {path} ({exc})") from None
    return arrays


def _read(path: str) -> dict[str, np.ndarray]:
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.endswith(".npy"))
        if not names:
            raise ValueError(f"{path}: no .npy files in this directory")
        files = [os.path.join(path, f) for f in names]
        return _read_members({os.path.basename(p)[:-4]: (lambda p=p: open(p, "rb"), os.path.getsize(p))
                              for p in files}, path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    with ExitStack() as stack:
        try:
            zf = stack.enter_context(zipfile.ZipFile(path))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable .npz archive ({exc})") from None
        members = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{path}: member {info.filename!r} is not a .npy array")
            members[info.filename[:-4]] = (lambda info=info: zf.open(info), info.file_size)
        return _read_members(members, path)


# ---------------------------------------------------------------- arrays -> dataset
def _labels(arrays: dict, path: str) -> tuple[torch.Tensor, int]:
    if "y" not in arrays:
        raise ValueError(f"{path}: no labels array 'y'")
    y = arrays["y"]
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D label array [N], got shape {y.shape}")
    if y.dtype.kind == "f" and (not np.all(np.isfinite(y)) or np.any(y != np.round(y))):
        raise ValueError(f"y: expected integer class labels, got dtype {y.dtype} with non-integer values")
    if y.size and (y.min() < np.iinfo(np.int64).min or y.max() > np.iinfo(np.int64).max):
        raise ValueError(f"y: labels out of the int64 range (max {y.max()})")
    y = torch.from_numpy(y.astype(np.int64))
    if "num_classes" in arrays:
        c = arrays["num_classes"].reshape(-1)[0]
        if c.dtype.kind == "f" and (not np.isfinite(c) or c != round(c)):
            raise ValueError(f"num_classes: expected an integer, got {c}")
        return y, int(c)
    top = int(y.max().item()) if y.numel() else -1
    if top + 1 > y.numel():
        raise ValueError(f"y: the largest label {top} implies {top + 1} classes for {y.numel()} samples; "
                         "labels must be class indices 0 .. C-1")
    return y, top + 1


def _split(arrays: dict, y: torch.Tensor, split_seed: int) -> torch.Tensor:
    if "split" not in arrays:
        return torch.from_numpy(stratified_split(y.numpy(), seed=split_seed))
    s = arrays["split"]
    if s.dtype.kind in "US":
        unknown = sorted(set(s.tolist()) - set(SPLIT_NAMES))
        if unknown:
            raise ValueError(f"split: unknown names {unknown}; use train/pool, val, test")
        s = np.array([SPLIT_NAMES[v] for v in s.tolist()], dtype=np.int8)
    bad = np.flatnonzero(~np.isin(s, (POOL, VAL, TEST)))
    if bad.size:  # checked before the int8 cast, which would wrap 256 to 0
        raise ValueError(f"split: values must be 0 (pool/train), 1 (val) or 2 (test); got {s[bad[0]]} at row "
                         f"{bad[0]} ({bad.size} rows)")
    return torch.from_numpy(s.astype(np.int8))


def dataset_from_arrays(arrays: dict[str, np.ndarray], name: str = "dataset",
                        split_seed: int = 0) -> MultimodalDataset:
    """Build and validate a :class:`MultimodalDataset` from arrays named as in the file format."""
    keys = [k for k in arrays if k.startswith("x_")]
    unexpected = [k for k in arrays if k not in RESERVED and not k.startswith("x_")]
    if unexpected:
        raise ValueError(f"{name}: unexpected arrays {unexpected}; features must be named x_<modality>")
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        check_dtype(k, v.dtype)
    check_shapes({k: v.shape for k, v in arrays.items()})
    if "modalities" in arrays:
        order = [str(m) for m in arrays["modalities"].tolist()]
        if sorted(f"x_{m}" for m in order) != sorted(keys):
            raise ValueError(f"modalities: {order} does not match the feature arrays {keys}")
        keys = [f"x_{m}" for m in order]
    if not keys:
        raise ValueError(f"{name}: no feature arrays; name each modality's array x_<modality>")
    feats = [torch.from_numpy(np.ascontiguousarray(arrays[k], dtype=np.float32)) for k in keys]
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
