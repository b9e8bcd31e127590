"""The C++/OpenMP backend (rlmba._C): CPU tensors, float32 and float64 kernels."""
from ... import _C  # noqa: F401  (ImportError here = "not built": the reason the backend is unusable)
