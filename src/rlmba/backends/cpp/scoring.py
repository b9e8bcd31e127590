"""C++/OpenMP backend of the scoring ops: thin wrappers over ``rlmba._C.cpu_<op>``
(``csrc/cpu/scoring.cpp``).

Each wrapper allocates its outputs with ``torch.empty`` and passes ``data_ptr()`` integers and
int64 sizes to the kernel, which releases the GIL and runs ``torch.get_num_threads()`` OpenMP
threads. float32 and float64 run natively; float16 and bfloat16 inputs are converted to float32
here, one call (= one chunk of the public API) at a time, so the extra memory is one chunk.

The kernels pick the best SIMD path of the CPU at run time (AVX-512, AVX2+FMA, or baseline
x86-64); ``RLMBA_CPU_ISA=baseline|avx2|avx512|rows`` forces one (``rows`` runs the one-row-at-a-
time helpers of ``csrc/include/rlmba/math.h`` that the CUDA kernels use). ``rlmba._C.cpu_isa()``
says which path runs.

Numerics differ from the reference formulas only where that is more accurate: the
Dempster-Shafer rule uses its closed form 1 + e_f / C = prod_m (1 + e_m / C); BALD is summed as
mean_s KL(p_s || mean) (no cancellation between two entropies); entropy, margin and least
confidence from logits use log1p and the non-maximal mass directly. The float32
exp/log/log1p/softplus are vectorised polynomials accurate to about 1 ulp.

Example::

    u, u_m = rlmba.efda_scores(z, weights=[0.6, 0.4], backend="cpp")
"""
from __future__ import annotations

import torch

from ... import _C
from ..._checks import FLOAT_DTYPES
from ..._dispatch import implements

_NATIVE = (torch.float32, torch.float64)


def _compute(t: torch.Tensor) -> torch.Tensor:
    """The tensor in its compute dtype (half -> float32), rows still contiguous."""
    return t if t.dtype in _NATIVE else t.float()


def _rows(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.stride(-1) != 1 or (t.shape[-2] > 1 and t.stride(-2) != t.shape[-1]):
        raise ValueError(f"{name}: the cpp kernels need contiguous rows, got strides {t.stride()}")
    return t


def _common(zs) -> tuple[list[torch.Tensor], int, int]:
    zs = [_rows(_compute(z), f"zs[{m}]") for m, z in enumerate(zs)]
    n, C = zs[0].shape
    return zs, n, C


@implements("fuse_evidence", "cpp", dtypes=FLOAT_DTYPES)
def fuse_evidence(zs, weights, temperatures, rule: str = "weighted") -> torch.Tensor:
    zs, n, C = _common(zs)
    out = torch.empty(n, C, dtype=zs[0].dtype)
    if n:
        _C.cpu_fuse_evidence([z.data_ptr() for z in zs], n, C, list(weights or ()), list(temperatures), rule,
                             out.data_ptr(), out.dtype == torch.float64, torch.get_num_threads())
    return out


@implements("dirichlet_uncertainty", "cpp", dtypes=FLOAT_DTYPES)
def dirichlet_uncertainty(alpha: torch.Tensor, kind: str = "variance") -> torch.Tensor:
    alpha = _rows(_compute(alpha), "alpha")
    n, C = alpha.shape
    out = torch.empty(n, dtype=alpha.dtype)
    if n:
        _C.cpu_dirichlet_uncertainty(alpha.data_ptr(), n, C, kind, out.data_ptr(), out.dtype == torch.float64,
                                     torch.get_num_threads())
    return out


@implements("efda_scores", "cpp", dtypes=FLOAT_DTYPES)
def efda_scores(zs, weights, temperatures, kind: str = "variance"):
    zs, n, C = _common(zs)
    u_fused = torch.empty(n, dtype=zs[0].dtype)
    u_modal = torch.empty(len(zs), n, dtype=zs[0].dtype)
    if n:
        _C.cpu_efda_scores([z.data_ptr() for z in zs], n, C, list(weights), list(temperatures), kind,
                           u_fused.data_ptr(), u_modal.data_ptr(), u_fused.dtype == torch.float64,
                           torch.get_num_threads())
    return u_fused, u_modal


@implements("uncertainty_scores", "cpp", dtypes=FLOAT_DTYPES)
def uncertainty_scores(x: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    x = _rows(_compute(x), "x")
    n, C = x.shape
    out = torch.empty(3, n, dtype=x.dtype)
    if n:
        _C.cpu_uncertainty_scores(x.data_ptr(), n, C, bool(from_logits), out.data_ptr(), out.dtype == torch.float64,
                                  torch.get_num_threads())
    return out


@implements("bald", "cpp", dtypes=FLOAT_DTYPES)
def bald(probs: torch.Tensor) -> torch.Tensor:
    """probs [S, n, C]: rows contiguous; the sample stride may exceed n C (a chunk of the pool)."""
    probs = _rows(_compute(probs), "probs")
    S, n, C = probs.shape
    out = torch.empty(n, dtype=probs.dtype)
    if n:
        _C.cpu_bald(probs.data_ptr(), S, n, C, probs.stride(0), out.data_ptr(), out.dtype == torch.float64,
                    torch.get_num_threads())
    return out
