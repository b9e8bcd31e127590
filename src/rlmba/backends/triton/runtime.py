"""Triton itself, at a version whose kernels take tuples of tensors; importing this module is the
backend's availability check."""
import torch
import triton

_MIN_VERSION = (3, 3)  # tuple kernel arguments: M modality pointers without stacking them
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


if _version(triton.__version__) < _MIN_VERSION:
    raise ImportError(f"triton {triton.__version__} is too old: the rlmba kernels pass tuples of tensors, "
                      f"which needs triton >= {'.'.join(map(str, _MIN_VERSION))}")
