"""BADGE and BMMAL: k-means++ seeding on gradient embeddings that are never materialised.

The seeding rule, its tie rules and its random stream are specified in
:mod:`rlmba.reference.seeding`; this module validates, draws the random numbers and dispatches.

Backend contract (inputs already validated here; every backend must follow it exactly, so that all
backends pick the same indices for the same generator state and any thread count):

- ``probs``: ``[N, C]`` rows contiguous; ``hs``: list of M ``[N, h_m]`` rows contiguous; all of one
  dtype, float32 or float64 (half inputs are cast to float32 here; mixed float32/float64 inputs are
  cast to float64), on one device.
- ``scales``: float64 ``[1, M]`` (global) or ``[N, M]`` (per sample), contiguous: the BMMAL block
  scales s (see :func:`rlmba.reference.seeding.modality_scales`). BADGE has no scales (all ones).
- ``u``: float64 ``[b - 1]`` uniforms in [0, 1) on the input's device, one per D^2 step, drawn here
  from the caller's ``torch.Generator``. Backends draw no random numbers themselves.
- ``b``: int, 1 <= b <= N. Returns int64 ``[b]`` on the input's device, in pick order.
- Numerics: q = p - onehot(argmax p) (argmax ties -> lowest class), formed elementwise as p_k - 1
  at the label (exact for p >= 0.5; never the expanded p.p' - p[y'] - p'[y] + [y = y'], which
  cancels). Everything below in float64 whatever the input dtype:
  a_i = (q_i.q_i) sum_m s_im^2 (h_im.h_im);
  d(i, c) = a_i + a_c - 2 (q_i.q_c) sum_m s_im s_cm (h_im.h_cm), set to exactly 0 when
  <= DUPLICATE_RTOL * (a_i + a_c) (1e-10; also clamps cancellation negatives);
  D_i = min over picks of d(i, c), D = 0 at picks (D starts at +inf).
  First pick: argmax a, lowest index on ties. Step t >= 1: total = sum D; pick the first i whose
  prefix sum of D exceeds u[t-1] * total; if none does (rounding), the last i with D > 0; if
  total == 0, the lowest-index unpicked point. The prefix sums and the total must come from the
  same summation, in an order that does not depend on the thread count (the C++ backend: fixed
  blocks of 2048 points summed sequentially, then the block sums in order).
- Agreement: backends differ only in the rounding of float64 dot products (~1e-16 relative), so a
  pick can differ only if u * total lands that close to a prefix boundary; tests require equality.
- Dispatch facts: ``dtype`` (float32 or float64).

=============  ================================  ==========
op             backend arguments                 returns
=============  ================================  ==========
badge_select   probs, embeddings, u, b           int64 [b]
bmmal_select   probs, hs, scales, u, b           int64 [b]
=============  ================================  ==========
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import _checks as chk
from .._dispatch import declare_op, dispatch
from ..reference.seeding import modality_scales

__all__ = ["badge_select", "bmmal_select"]

declare_op("badge_select")
declare_op("bmmal_select")


def _probs(probs) -> torch.Tensor:
    p = chk.float_matrix(probs, "probs", "[N, C]", "classes (C = 0)")
    chk.check_finite(p, "probs")
    return p


def _features(x, name: str, p: torch.Tensor) -> torch.Tensor:
    h = chk.as_tensor(x, name)
    chk.check_float(h, name)
    chk.check_ndim(h, 2, name, "[N, h]")
    if h.shape[0] != p.shape[0]:
        raise ValueError(f"{name}: has {h.shape[0]} rows, but probs has N = {p.shape[0]}")
    if h.shape[1] == 0:
        raise ValueError(f"{name}: no feature dimensions (h = 0)")
    if h.device != p.device:
        raise ValueError(f"{name}: on {h.device}, but probs is on {p.device}")
    chk.check_finite(h, name)
    return h


def _common(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """One compute dtype for all inputs (float64 if any is float64), rows contiguous."""
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    return [chk.row_contiguous(t.to(dtype)) for t in tensors]


def _modalities(embeddings_per_modality, p: torch.Tensor) -> list[torch.Tensor]:
    name = "embeddings_per_modality"
    if isinstance(embeddings_per_modality, (torch.Tensor, np.ndarray)):
        t = chk.as_tensor(embeddings_per_modality, name)
        chk.check_ndim(t, 3, name, "[M, N, h] (or pass a sequence of M [N, h_m])")
        items = list(t.unbind(0))
    elif isinstance(embeddings_per_modality, Sequence) and not isinstance(embeddings_per_modality, str):
        items = list(embeddings_per_modality)
    else:
        raise TypeError(f"{name}: expected a sequence of M [N, h_m] tensors or a [M, N, h] tensor, "
                        f"got {type(embeddings_per_modality).__name__}")
    if not items:
        raise ValueError(f"{name}: no modalities (M = 0)")
    return [_features(h, f"{name}[{m}]", p) for m, h in enumerate(items)]


def _scales(contributions, M: int, N: int, device) -> torch.Tensor:
    """contributions ``[M]`` or ``[N, M]`` -> float64 scales ``[1, M]`` or ``[N, M]`` on ``device``."""
    if isinstance(contributions, (torch.Tensor, np.ndarray)):
        c = chk.as_tensor(contributions, "contributions")
    else:
        try:
            c = torch.as_tensor(np.asarray(contributions, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"contributions: expected [M] or [N, M] numbers, got {contributions!r}") from exc
    if not (c.dtype.is_floating_point or c.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"contributions: expected a real dtype, got {c.dtype}")
    if not ((c.ndim == 1 and c.shape[0] == M) or (c.ndim == 2 and tuple(c.shape) == (N, M))):
        raise ValueError(f"contributions: expected shape [M] = [{M}] or [N, M] = [{N}, {M}], "
                         f"got {tuple(c.shape)}")
    chk.check_finite(c.double(), "contributions")
    return modality_scales(c.to(device)).reshape(-1, M).contiguous()


def badge_select(probs, embeddings, b: int, generator: torch.Generator | None = None, *, backend=None):
    """BADGE: ``b`` diverse, uncertain pool indices by k-means++ on gradient embeddings.

    ``probs [N, C]`` (predicted class probabilities; rows are not checked to sum to 1) and
    ``embeddings [N, h]`` (penultimate features) define g_i = (p_i - onehot(argmax p_i)) (x) h_i,
    which is never built: squared distances come from
    |g_i - g_j|^2 = |q_i|^2|h_i|^2 + |q_j|^2|h_j|^2 - 2 (q_i.q_j)(h_i.h_j) in float64.
    The first pick is argmax |g| (ties: lowest index), then D^2 sampling (Ash et al., ICLR 2020)
    with one float64 uniform per step from ``generator``. Returns int64 indices ``[b]`` in pick
    order, all distinct; numpy in gives numpy out. Same generator state -> same picks on every
    backend and thread count. Points within a relative 1e-10 of a pick count as its duplicates
    (distance 0); when only duplicates remain, the lowest-index unpicked point is taken.

    Raises ValueError for NaN/inf inputs, mismatched N, wrong ndim, b outside [1, N].

    Example::

        idx = rlmba.badge_select(probs, feats, 100, generator=torch.Generator().manual_seed(0))
    """
    p = _probs(probs)
    h = _features(embeddings, "embeddings", p)
    b = chk.check_count(b, "b", 1, p.shape[0], "N")
    p, h = _common([p, h])
    u = chk.uniforms(generator, b - 1, p.device)
    fn = dispatch("badge_select", p.device.type, backend, dtype=p.dtype)
    out = fn(p, h, u, b)
    return out.numpy() if isinstance(probs, np.ndarray) else out


def bmmal_select(probs, embeddings_per_modality, contributions, b: int,
                 generator: torch.Generator | None = None, *, backend=None):
    """BMMAL (Shen et al., ACM MM 2023): BADGE on contribution-scaled per-modality gradient blocks.

    ``embeddings_per_modality``: M tensors ``[N, h_m]`` (widths may differ) or ``[M, N, h]``.
    ``contributions``: ``[M]`` (global) or ``[N, M]`` (per sample, e.g. Shapley values). Block m of
    sample i is g_im = s_im q_i (x) h_im with s_im = max(0, 1 - (max_k c_ik - c_im)): the dominant
    modality keeps scale 1, a weaker one shrinks by its contribution gap. Distances use
    |g_i - g_j|^2 = sum_m s_im^2|q_i|^2|h_im|^2 + s_jm^2|q_j|^2|h_jm|^2 - 2 s_im s_jm (q_i.q_j)(h_im.h_jm),
    then k-means++ exactly as :func:`badge_select` (same tie, duplicate and random-stream contract).

    Raises ValueError for NaN/inf inputs, mismatched N, wrong ndim, contributions of wrong shape,
    b outside [1, N].
    """
    p = _probs(probs)
    hs = _modalities(embeddings_per_modality, p)
    s = _scales(contributions, len(hs), p.shape[0], p.device)
    b = chk.check_count(b, "b", 1, p.shape[0], "N")
    p, *hs = _common([p, *hs])
    u = chk.uniforms(generator, b - 1, p.device)
    fn = dispatch("bmmal_select", p.device.type, backend, dtype=p.dtype)
    out = fn(p, hs, s, u, b)
    return out.numpy() if isinstance(probs, np.ndarray) else out
