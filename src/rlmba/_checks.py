"""Input validation shared by the public ops: every error names the argument and what was wrong."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_tensor(x, name: str) -> torch.Tensor:
    """A torch view of a tensor or numpy array (zero-copy); anything else is a TypeError."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def check_float(t: torch.Tensor, name: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a floating dtype (float16, bfloat16, float32, float64), got {t.dtype}")


def check_ndim(t: torch.Tensor, ndim: int, name: str, shape: str) -> None:
    if t.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor {shape}, got shape {tuple(t.shape)}")


def check_choice(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")


def check_nonempty(n: int, name: str) -> None:
    if n == 0:
        raise ValueError(f"{name}: the pool is empty (N = 0)")


def row_contiguous(t: torch.Tensor) -> torch.Tensor:
    """Rows contiguous and densely packed (what the kernels index); copies only if not already."""
    return t if t.stride(-1) == 1 and (t.ndim == 1 or t.stride(-2) == t.shape[-1]) else t.contiguous()


def modality_logits(logits, name: str = "logits") -> tuple[list[torch.Tensor], bool]:
    """``[M, N, C]`` or a sequence of M ``[N, C]`` -> list of M row-contiguous ``[N, C]`` views.

    Returns the list and whether the input was numpy (outputs are then numpy too).
    """
    if isinstance(logits, (torch.Tensor, np.ndarray)):
        t = as_tensor(logits, name)
        check_ndim(t, 3, name, "[M, N, C]")
        zs, was_numpy = list(t.unbind(0)), isinstance(logits, np.ndarray)
    elif isinstance(logits, Sequence) and not isinstance(logits, str):
        zs = [as_tensor(z, f"{name}[{m}]") for m, z in enumerate(logits)]
        for m, z in enumerate(zs):
            check_ndim(z, 2, f"{name}[{m}]", "[N, C]")
        was_numpy = any(isinstance(z, np.ndarray) for z in logits)
    else:
        raise TypeError(f"{name}: expected a [M, N, C] tensor or a sequence of M [N, C] tensors, "
                        f"got {type(logits).__name__}")
    if not zs:
        raise ValueError(f"{name}: no modalities (M = 0)")
    first = zs[0]
    for m, z in enumerate(zs):
        check_float(z, f"{name}[{m}]")
        if z.shape != first.shape:
            raise ValueError(f"{name}[{m}]: shape {tuple(z.shape)} differs from {name}[0]'s {tuple(first.shape)}")
        if z.dtype != first.dtype:
            raise TypeError(f"{name}[{m}]: dtype {z.dtype} differs from {name}[0]'s {first.dtype}")
        if z.device != first.device:
            raise ValueError(f"{name}[{m}]: on {z.device}, but {name}[0] is on {first.device}")
    check_nonempty(first.shape[0], name)
    if first.shape[1] == 0:
        raise ValueError(f"{name}: no classes (C = 0)")
    return [row_contiguous(z) for z in zs], was_numpy


def per_modality(values, M: int, name: str, default: float | None) -> tuple[float, ...]:
    """M finite floats from None (-> default), a scalar, a sequence, an array or a tensor."""
    if values is None:
        return (default,) * M
    if isinstance(values, (int, float)):
        values = [values] * M
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    values = [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    if len(values) != M:
        raise ValueError(f"{name}: expected {M} values (one per modality), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name}: values must be finite, got {values}")
    return tuple(values)


def modality_weights(weights, M: int) -> tuple[float, ...]:
    """Non-negative weights summing to 1 (uniform if None). Unnormalised weights raise."""
    w = per_modality(weights, M, "weights", 1.0 / M)
    if any(v < 0 for v in w):
        raise ValueError(f"weights: must be non-negative, got {list(w)}")
    if abs(sum(w) - 1.0) > 1e-6:
        raise ValueError(f"weights: must sum to 1, got sum {sum(w):.8g}; pass w / w.sum() to normalise")
    return w


def temperatures_of(temperatures, M: int) -> tuple[float, ...]:
    t = per_modality(temperatures, M, "temperatures", 1.0)
    if any(v <= 0 for v in t):
        raise ValueError(f"temperatures: must be > 0, got {list(t)}")
    return t
