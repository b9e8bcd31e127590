"""The Triton backend: CUDA tensors (and CPU tensors under ``TRITON_INTERPRET=1``, for tests).

Kernels live in :mod:`rlmba.kernels` (the top-level ``kernels/`` folder of the source tree).
Importing triton here makes a missing or too-old triton the reason the backend cannot run.
Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
import triton

_MIN_VERSION = (3, 3)  # tuple kernel arguments: M modality pointers without stacking them


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


if _version(triton.__version__) < _MIN_VERSION:
    raise ImportError(f"triton {triton.__version__} is too old: the rlmba kernels pass tuples of tensors, "
                      f"which needs triton >= {'.'.join(map(str, _MIN_VERSION))}")
