"""The C++/OpenMP backend (rlmba._C): CPU tensors, float32 and float64 kernels."""
from ... import _C  # (ImportError here = "not built": the reason the backend is unusable)

_C.cpu_isa()  # ValueError for an RLMBA_CPU_ISA this CPU lacks: then that is the reason
