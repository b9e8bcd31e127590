"""The numba backend: parallel CPU kernels (``@njit(parallel=True)``) for float32 and float64.

Half inputs are converted to float32 per call. The transcendental functions are the
vectorisable ones of :mod:`.fastmath`, not libm's (which numba calls one element at a time).
"""
from .. import Backend

BACKEND = Backend("numba", devices=("cpu",), rank=1, requires=("numba",))
