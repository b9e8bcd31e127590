"""The CUDA backend (rlmba._C's ``cuda_*`` kernels, ``csrc/cuda/*.cu``): CUDA tensors only.

COMPILED, NOT RUN: no GPU was available when these kernels were written; on a machine with a GPU
run the test suite before trusting them. The kernels take raw device pointers and run on the
caller's current torch stream without synchronising.
"""
from ... import _C

if not _C.build_info.get("cuda", False):
    raise ImportError("rlmba._C was built without CUDA (no nvcc found at build time, or RLMBA_CUDA=OFF); "
                      "rebuild with a CUDA toolkit to use the cuda backend")
