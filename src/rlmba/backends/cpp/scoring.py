"""C++/OpenMP backend of the scoring ops: thin wrappers over ``rlmba._C.cpu_<op>``
(``csrc/cpu/scoring.cpp``).

Each wrapper allocates its outputs with ``torch.empty`` and hands the tensors to the kernel, which
reads them through DLPack (no copy), checks their dtypes, shapes and layout, releases the GIL and
runs ``torch.get_num_threads()`` OpenMP threads. float32 and float64 run natively; float16 and
bfloat16 inputs are converted to float32 here, one call (= one chunk of the public API) at a time,
so the extra memory is one chunk.

The kernels pick the best SIMD path of the CPU at run time (AVX-512, AVX2+FMA, or baseline
x86-64); ``RLMBA_CPU_ISA=baseline|avx2|avx512|rows`` forces one (``rows`` runs the one-row-at-a-
time helpers of ``csrc/include/rlmba/math.h`` that the CUDA kernels use). ``rlmba._C.cpu_isa()``
says which path runs, ``rlmba._C.cpu_variants()`` which one each kernel ran.

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
from ..._checks import FLOAT_DTYPES, NATIVE_DTYPES
from ..._dispatch import implements


def _compute(t: torch.Tensor) -> torch.Tensor:
    """The tensor in its compute dtype (half -> float32), rows still contiguous."""
    return t if t.dtype in NATIVE_DTYPES else t.float()


@implements("fuse_evidence", "cpp", dtypes=FLOAT_DTYPES)
def fuse_evidence(zs, weights, temperatures, rule: str = "weighted") -> torch.Tensor:
    zs = [_compute(z) for z in zs]
    out = torch.empty(zs[0].shape, dtype=zs[0].dtype)
    _C.cpu_fuse_evidence(zs, list(weights or ()), list(temperatures), rule, out, torch.get_num_threads())
    return out


@implements("dirichlet_uncertainty", "cpp", dtypes=FLOAT_DTYPES)
def dirichlet_uncertainty(alpha: torch.Tensor, kind: str = "variance") -> torch.Tensor:
    alpha = _compute(alpha)
    out = torch.empty(alpha.shape[0], dtype=alpha.dtype)
    _C.cpu_dirichlet_uncertainty(alpha, kind, out, torch.get_num_threads())
    return out


@implements("efda_scores", "cpp", dtypes=FLOAT_DTYPES)
def efda_scores(zs, weights, temperatures, kind: str = "variance"):
    zs = [_compute(z) for z in zs]
    u_fused = torch.empty(zs[0].shape[0], dtype=zs[0].dtype)
    u_modal = torch.empty(len(zs), zs[0].shape[0], dtype=zs[0].dtype)
    _C.cpu_efda_scores(zs, list(weights), list(temperatures), kind, u_fused, u_modal, torch.get_num_threads())
    return u_fused, u_modal


@implements("uncertainty_scores", "cpp", dtypes=FLOAT_DTYPES)
def uncertainty_scores(x: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    x = _compute(x)
    out = torch.empty(3, x.shape[0], dtype=x.dtype)
    _C.cpu_uncertainty_scores(x, bool(from_logits), out, torch.get_num_threads())
    return out


@implements("bald", "cpp", dtypes=FLOAT_DTYPES)
def bald(probs: torch.Tensor) -> torch.Tensor:
    """probs [S, n, C]: rows contiguous; the sample stride may exceed n C (a chunk of the pool)."""
    probs = _compute(probs)
    out = torch.empty(probs.shape[1], dtype=probs.dtype)
    _C.cpu_bald(probs, out, torch.get_num_threads())
    return out
