"""The compiled module with its CUDA kernels (importing this is the backend's availability
check) and the stream every launch runs on."""
import torch

from ... import _C

if not _C.build_info.get("cuda", False):
    raise ImportError("rlmba._C was built without CUDA (no nvcc found at build time, or RLMBA_CUDA=OFF); "
                      "rebuild with a CUDA toolkit to use the cuda backend")


# the codes the cuda_* bindings take for a pool's storage dtype and a k-center metric
STORAGE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
METRIC = {"euclidean": 0, "cosine": 1}


def stream(t: torch.Tensor) -> int:
    """The current torch stream of ``t``'s device, as the integer the kernels take."""
    return torch.cuda.current_stream(t.device).cuda_stream
