"""The C++/OpenMP backend (rlmba._C): CPU tensors, float32 and float64 kernels (half inputs are
read as they are or widened per chunk). ``rlmba._C`` missing is the reason it cannot run."""
from .. import Backend

BACKEND = Backend("cpp", devices=("cpu",), rank=0, requires=("rlmba._C",))
