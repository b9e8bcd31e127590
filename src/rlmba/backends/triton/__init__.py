"""The Triton backend: CUDA tensors (and CPU tensors under ``TRITON_INTERPRET=1``, for tests).

Kernels live in :mod:`rlmba.kernels` (the top-level ``kernels/`` folder of the source tree).
Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from .. import Backend

BACKEND = Backend("triton", devices=("cuda", "cpu"), rank=0, requires=("rlmba.backends.triton.runtime",),
                  explicit={"cpu": "TRITON_INTERPRET=1"})
