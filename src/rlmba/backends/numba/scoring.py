"""The numba backend of the scoring ops: argument marshalling around :mod:`.kernels`.

Inputs follow the backend contract (:mod:`rlmba.backends`): validated CPU tensors with rows
contiguous. float32 and float64 compute in their own dtype; float16 and bfloat16 (which numpy
cannot view) are converted to float32 per call, i.e. per chunk of the public API. Inputs are
passed without copies (buffer addresses or ``Tensor.numpy()`` views); outputs are torch tensors
the kernels fill in place through numpy views.

The kernels compile on first use, once per dtype (``cache=True`` keeps them on disk for later
processes); see :mod:`.kernels` and :mod:`.kernels_classic` for their layout and numerics.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from ..._checks import FLOAT_DTYPES
from ..._dispatch import implements
from ...reference import scoring as ref
from . import kernels as K
from . import kernels_classic as KC

_HALF = (torch.float16, torch.bfloat16)
_KIND = {"variance": K.VARIANCE, "vacuity": K.VACUITY, "entropy": K.ENTROPY}



def _compute(t: torch.Tensor) -> torch.Tensor:
    """t in its compute dtype with rows packed densely (a copy only for half types or if needed)."""
    t = t.detach()
    if t.dtype in _HALF:
        t = t.float()
    return t if t.is_contiguous() else t.contiguous()


def _np_dtype(t: torch.Tensor):
    return np.float64 if t.dtype == torch.float64 else np.float32


def _modalities(zs, per_modality):
    """Compute-dtype logits, their addresses and the per-modality floats in the compute dtype."""
    zs = [_compute(z) for z in zs]
    addresses = np.array([z.data_ptr() for z in zs], dtype=np.int64)
    floats = [np.asarray(v, dtype=_np_dtype(zs[0])) for v in per_modality]
    return zs, addresses, floats


def _parts() -> int:
    return 4 * numba.get_num_threads()


@implements("fuse_evidence", "numba", dtypes=FLOAT_DTYPES)
def fuse_evidence(zs, weights, temperatures, rule="weighted"):
    zs, addresses, (t,) = _modalities(zs, [temperatures])
    n, C = zs[0].shape
    alpha = torch.empty(n, C, dtype=zs[0].dtype)
    if n * C == 0:
        return alpha
    if rule == "weighted":
        w = np.asarray(weights, dtype=t.dtype)
        K.fuse_weighted(addresses, n, C, w, t, alpha.numpy().reshape(-1), _parts())
    else:
        K.fuse_ds(addresses, n, C, t, alpha.numpy().reshape(-1), _parts())
    return alpha


@implements("dirichlet_uncertainty", "numba", dtypes=FLOAT_DTYPES)
def dirichlet_uncertainty(alpha, kind="variance"):
    a = _compute(alpha)
    n, C = a.shape
    if C == 0:  # no classes: the reference's 0/0 conventions, nothing to accelerate
        return ref.dirichlet_uncertainty(a, kind)
    out = torch.empty(n, dtype=a.dtype)
    K.dirichlet(a.numpy().reshape(-1), n, C, _KIND[kind], out.numpy(), _parts())
    return out


@implements("efda_scores", "numba", dtypes=FLOAT_DTYPES)
def efda_scores(zs, weights, temperatures, kind="variance"):
    zs, addresses, (w, t) = _modalities(zs, [weights, temperatures])
    n, C = zs[0].shape
    u_fused = torch.empty(n, dtype=zs[0].dtype)
    u_modal = torch.empty(len(zs), n, dtype=zs[0].dtype)
    K.efda(addresses, n, C, w, t, _KIND[kind], u_fused.numpy(), u_modal.numpy(), _parts())
    return u_fused, u_modal


@implements("uncertainty_scores", "numba", dtypes=FLOAT_DTYPES)
def uncertainty_scores(x, from_logits=False):
    x = _compute(x)
    n, C = x.shape
    out = torch.empty(3, n, dtype=x.dtype)
    KC.class_scores(x.numpy().reshape(-1), n, C, bool(from_logits), out.numpy(), _parts())
    return out


@implements("bald", "numba", dtypes=FLOAT_DTYPES)
def bald(probs):
    p = probs.detach()
    if p.dtype in _HALF:
        p = p.float()
    S, n, C = p.shape
    if p.stride(2) != 1 or p.stride(1) != C:  # the contract promises packed rows; be safe anyway
        p = p.contiguous()
    if C == 0:
        return ref.bald(p)
    out = torch.empty(n, dtype=p.dtype)
    KC.bald(p.data_ptr(), S, p.stride(0), n, C, out.numpy(), _parts())
    return out
