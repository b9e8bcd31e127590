"""The CUDA backend (rlmba._C's ``cuda_*`` kernels, ``csrc/cuda/*.cu``): CUDA tensors only.

COMPILED, NOT RUN: no GPU was available when these kernels were written; on a machine with a GPU
run the test suite before trusting them. The kernels take device pointers and run on the
caller's current torch stream without synchronising.
"""
from .. import Backend

BACKEND = Backend("cuda", devices=("cuda",), rank=1, requires=("rlmba.backends.cuda.runtime",))
