"""CUDA backend of the scoring ops: wrappers over ``rlmba._C.cuda_<op>`` (``csrc/cuda/scoring.cu``).

COMPILED, NOT RUN: no GPU was available when this was written; the kernels have never executed.
The per-row math they call (``csrc/include/rlmba/math.h``) is the code the CPU tests run with
``RLMBA_CPU_ISA=rows``.

One GPU thread per row (per element for the weighted fusion), on the current torch stream, no
host synchronisation. float32 and float64 run natively; float16/bfloat16 are converted to float32
on the device per call (one chunk of the public API). At most 16 modalities.
"""
from __future__ import annotations

import torch

from ... import _C
from ..._checks import FLOAT_DTYPES
from ..._dispatch import implements
from .runtime import stream

_NATIVE = (torch.float32, torch.float64)


def _prepare(t: torch.Tensor, name: str) -> torch.Tensor:
    t = t if t.dtype in _NATIVE else t.float()
    if t.stride(-1) != 1 or (t.shape[-2] > 1 and t.stride(-2) != t.shape[-1]):
        raise ValueError(f"{name}: the cuda kernels need contiguous rows, got strides {t.stride()}")
    return t


def _on(t: torch.Tensor):
    """Launch on the tensor's device (the kernels run on the current CUDA device)."""
    return torch.cuda.device(t.device)


@implements("fuse_evidence", "cuda", dtypes=FLOAT_DTYPES)
def fuse_evidence(zs, weights, temperatures, rule: str = "weighted") -> torch.Tensor:
    zs = [_prepare(z, f"zs[{m}]") for m, z in enumerate(zs)]
    n, C = zs[0].shape
    out = torch.empty(n, C, dtype=zs[0].dtype, device=zs[0].device)
    if n:
        with _on(out):
            _C.cuda_fuse_evidence([z.data_ptr() for z in zs], n, C, list(weights or ()), list(temperatures), rule,
                                  out.data_ptr(), out.dtype == torch.float64, stream(out))
    return out


@implements("dirichlet_uncertainty", "cuda", dtypes=FLOAT_DTYPES)
def dirichlet_uncertainty(alpha: torch.Tensor, kind: str = "variance") -> torch.Tensor:
    alpha = _prepare(alpha, "alpha")
    n, C = alpha.shape
    out = torch.empty(n, dtype=alpha.dtype, device=alpha.device)
    if n:
        with _on(out):
            _C.cuda_dirichlet_uncertainty(alpha.data_ptr(), n, C, kind, out.data_ptr(), out.dtype == torch.float64,
                                          stream(out))
    return out


@implements("efda_scores", "cuda", dtypes=FLOAT_DTYPES)
def efda_scores(zs, weights, temperatures, kind: str = "variance"):
    zs = [_prepare(z, f"zs[{m}]") for m, z in enumerate(zs)]
    n, C = zs[0].shape
    u_fused = torch.empty(n, dtype=zs[0].dtype, device=zs[0].device)
    u_modal = torch.empty(len(zs), n, dtype=zs[0].dtype, device=zs[0].device)
    if n:
        with _on(u_fused):
            _C.cuda_efda_scores([z.data_ptr() for z in zs], n, C, list(weights), list(temperatures), kind,
                                u_fused.data_ptr(), u_modal.data_ptr(), u_fused.dtype == torch.float64, stream(u_fused))
    return u_fused, u_modal


@implements("uncertainty_scores", "cuda", dtypes=FLOAT_DTYPES)
def uncertainty_scores(x: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    x = _prepare(x, "x")
    n, C = x.shape
    out = torch.empty(3, n, dtype=x.dtype, device=x.device)
    if n:
        with _on(out):
            _C.cuda_uncertainty_scores(x.data_ptr(), n, C, bool(from_logits), out.data_ptr(), out.dtype == torch.float64,
                                       stream(out))
    return out


@implements("bald", "cuda", dtypes=FLOAT_DTYPES)
def bald(probs: torch.Tensor) -> torch.Tensor:
    """probs [S, n, C]: rows contiguous; the sample stride may exceed n C (a chunk of the pool)."""
    probs = _prepare(probs, "probs")
    S, n, C = probs.shape
    out = torch.empty(n, dtype=probs.dtype, device=probs.device)
    if n:
        with _on(out):
            _C.cuda_bald(probs.data_ptr(), S, n, C, probs.stride(0), out.data_ptr(), out.dtype == torch.float64,
                         stream(out))
    return out
