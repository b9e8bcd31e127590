"""Input plumbing shared by every public op, each rule written once.

- conversion: :func:`as_tensor` (torch or numpy in, zero-copy) and :func:`numpy_out` (numpy in,
  numpy out);
- the compute dtype: :func:`compute_dtype`;
- counts, choices, shapes and finiteness, each error naming the argument;
- chunking (:func:`chunks`) and the random stream (:func:`uniforms`).
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
HALF_DTYPES = (torch.float16, torch.bfloat16)
NATIVE_DTYPES = (torch.float32, torch.float64)  # what the compiled kernels compute in
CHECK_ROWS = 1 << 16  # rows per step of the exact NaN / zero-row scan


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 computes in float64; float16, bfloat16 and float32 compute in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------- conversion
def as_tensor(x, name: str) -> torch.Tensor:
    """A torch view of a tensor or numpy array (zero-copy); anything else is a TypeError.

    Read-only arrays (``numpy.memmap`` opened ``"r"``) are viewed as they are: rlmba only reads
    its inputs, so torch's warning about non-writable arrays does not apply.
    """
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(x)
    raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def numpy_out(result, was_numpy: bool):
    """``result`` (a tensor or a tuple of tensors) as numpy when the input was numpy."""
    if not was_numpy:
        return result
    if isinstance(result, tuple):
        return tuple(r.cpu().numpy() for r in result)
    return result.cpu().numpy()


def row_contiguous(t: torch.Tensor) -> torch.Tensor:
    """Rows contiguous and densely packed (what the kernels index); copies only if not already."""
    return t if t.stride(-1) == 1 and (t.ndim == 1 or t.stride(-2) == t.shape[-1]) else t.contiguous()


# ---------------------------------------------------------------- dtypes, shapes, choices, counts
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


def float_matrix(x, name: str, shape: str = "[N, D]", columns: str = "feature dimensions (D = 0)") -> torch.Tensor:
    """A floating 2-D tensor (or numpy array) with at least one row and one column."""
    t = as_tensor(x, name)
    check_float(t, name)
    check_ndim(t, 2, name, shape)
    check_nonempty(t.shape[0], name)
    if t.shape[1] == 0:
        raise ValueError(f"{name}: no {columns}")
    return t


def check_count(value, name: str, low: int, high: int | None = None, what: str | None = None) -> int:
    """An int in [low, high] (bool is not an int here); ``what`` names the upper bound."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"{low} <= {name}" + ("" if high is None else f" <= {what} = {high}" if what else f" <= {high}")
        raise ValueError(f"{name}: expected {bound}, got {value}")
    return value


def check_finite(t: torch.Tensor, name: str, nonzero_rows: bool = False) -> None:
    """No NaN/inf in ``t`` (and, with ``nonzero_rows``, no all-zero row of a 2-D ``t``).

    Fast path, one read: aminmax propagates NaN and sees inf without overflowing (or the row
    norms, which propagate both). Only when it fails does the exact scan run, in bounded row
    blocks, to name the offending row.
    """
    if t.numel() == 0:
        return
    if nonzero_rows:
        norms = torch.linalg.vector_norm(t, dim=1)
        if bool(torch.isfinite(norms).all()) and bool((norms > 0).all()):
            return
    else:
        low, high = torch.aminmax(t)
        if bool(torch.isfinite(low) & torch.isfinite(high)):
            return
    rows = t.reshape(-1, t.shape[-1]) if t.ndim > 1 else t[:, None]
    for i in range(0, rows.shape[0], CHECK_ROWS):
        block = rows[i:i + CHECK_ROWS]
        if not bool(torch.isfinite(block).all()):
            bad = i + int(torch.nonzero(~torch.isfinite(block).all(1))[0])
            raise ValueError(f"{name}: {'row' if t.ndim > 1 else 'entry'} {bad} contains NaN or inf")
        if nonzero_rows and not bool(block.ne(0).any(1).all()):
            bad = i + int(torch.nonzero(~block.ne(0).any(1))[0])
            raise ValueError(f"{name}: row {bad} is all zeros; the cosine distance is undefined there")


# ---------------------------------------------------------------- chunks and random streams
def chunks(n: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """Row ranges ``[(start, stop), ...]`` of at most ``chunk_size`` rows (None: one range)."""
    step = n if chunk_size is None else check_count(chunk_size, "chunk_size", 1)
    return [(i, min(i + step, n)) for i in range(0, n, max(step, 1))]


def uniforms(generator, count: int, device="cpu") -> torch.Tensor:
    """``count`` float64 uniforms in [0, 1) from ``generator`` (drawn on its own device, torch's
    default generator if None), moved to ``device``: the one random stream every backend reads."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    gen_device = generator.device if generator is not None else "cpu"
    return torch.rand(count, dtype=torch.float64, generator=generator, device=gen_device).to(device)


def permutation(generator, n: int) -> torch.Tensor:
    """``torch.randperm(n)`` from ``generator`` on its own device (the same stream as uniforms)."""
    return torch.randperm(n, generator=generator, device=generator.device if generator is not None else "cpu")


# ---------------------------------------------------------------- modality inputs
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
