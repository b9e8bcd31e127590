"""Plackett-Luce sampling of a batch without replacement, and its log-probability (RL-MBA's policy).

Both ops are torch-only by design: they run on the K = kappa * b candidates of one round (a few
thousand at most), where a kernel launch or a pass through C++ costs more than the work, and
``plackett_luce_log_prob`` is the policy-gradient term, so it must stay inside autograd. The one
part that grows with the pool, the top-b of the perturbed keys, goes through
:func:`rlmba.topb_select` and its compiled backends. ``backend=None`` therefore means ``"torch"``
here (``RLMBA_BACKEND`` is not consulted); other backends raise BackendError.

Backend contract (torch only; spec: :mod:`rlmba.reference.sampling`):

======================  =============================  =====================================
op                      backend arguments              returns
======================  =============================  =====================================
plackett_luce_sample    logits [K], u float64 [K], b   (int64 [b], log_prob [] in the compute
                                                       dtype, differentiable)
plackett_luce_log_prob  logits [K], indices int64 [b]  log_prob [] (float32, or float64 for
                                                       float64 logits), differentiable
======================  =============================  =====================================

``u`` holds the uniforms of the Gumbel noise G = -log(-log u), drawn here from the caller's
generator; keys z + G are compared in float64, ties -> lower index. -inf logits are masked items.
"""
from __future__ import annotations

import torch

from .. import _checks as chk
from .._dispatch import declare_op, dispatch

__all__ = ["plackett_luce_sample", "plackett_luce_log_prob"]

declare_op("plackett_luce_sample")
declare_op("plackett_luce_log_prob", differentiable=True)


def _logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits: expected a torch.Tensor (the log-probability needs autograd), "
                        f"got {type(logits).__name__}")
    chk.check_float(logits, "logits")
    chk.check_ndim(logits, 1, "logits", "[K]")
    if logits.shape[0] == 0:
        raise ValueError("logits: no candidates (K = 0)")
    bad = torch.isnan(logits) | (logits == float("inf"))
    if bool(bad.any()):
        raise ValueError(f"logits: NaN or +inf at positions {torch.nonzero(bad).flatten().tolist()[:10]} "
                         f"(-inf is allowed: a masked candidate)")
    return logits


def _indices(indices, z: torch.Tensor) -> torch.Tensor:
    idx = indices
    if not isinstance(idx, torch.Tensor):
        idx = torch.as_tensor(indices)
        idx = idx.long() if idx.numel() == 0 else idx  # [] parses as float32
    if idx.dtype.is_floating_point or idx.dtype == torch.bool or idx.dtype.is_complex:
        raise TypeError(f"indices: expected an integer dtype, got {idx.dtype}")
    chk.check_ndim(idx, 1, "indices", "[b]")
    if idx.shape[0] == 0:
        raise ValueError("indices: empty (b = 0)")
    idx = idx.to(device=z.device, dtype=torch.int64)
    K = z.shape[0]
    if bool(((idx < 0) | (idx >= K)).any()):
        raise ValueError(f"indices: expected values in [0, K = {K}), got {idx.tolist()[:10]}")
    if torch.unique(idx).shape[0] != idx.shape[0]:
        raise ValueError("indices: contains repeated candidates (Plackett-Luce draws without replacement)")
    if bool(torch.isinf(z[idx]).any()):
        raise ValueError("indices: picks a masked (-inf) candidate, which has probability 0")
    return idx


def plackett_luce_log_prob(logits, indices, *, backend=None):
    """log P(``indices`` drawn in this order) under Plackett-Luce with scores ``logits [K]``.

    log P = sum_t [z_{i_t} - logsumexp(z over the items not yet drawn)], computed in O(K) with a
    reverse logcumsumexp (max-shifted: no overflow for any finite logits). Differentiable w.r.t.
    ``logits`` (REINFORCE: loss = -advantage * log_prob). Returns a 0-d tensor, float32 (float64
    for float64 logits). Torch-only: see the module docstring.

    Raises ValueError for NaN/+inf logits, repeated or out-of-range indices, or an index of a
    masked (-inf) logit.
    """
    z = _logits(logits)
    idx = _indices(indices, z)
    fn = dispatch("plackett_luce_log_prob", z.device.type, backend or "torch", dtype=z.dtype)
    return fn(z, idx)


def plackett_luce_sample(logits, b: int, generator: torch.Generator | None = None, *, backend=None):
    """Draw ``b`` of K candidates without replacement by Plackett-Luce: ``(indices [b], log_prob)``.

    Gumbel-top-b: the b largest keys z_j - log(-log u_j), u_j uniform from ``generator`` (one
    float64 per candidate), best first, equal keys -> lower index (via :func:`rlmba.topb_select`).
    The same distribution as drawing from softmax(z), removing the draw and repeating.
    ``log_prob`` = :func:`plackett_luce_log_prob` of the draw, differentiable w.r.t. ``logits``.
    -inf logits are masked candidates, never drawn. Greedy evaluation is ``topb_select(logits, b)``.

    Raises ValueError for NaN/+inf logits or b outside [1, number of finite logits].

    Example::

        idx, logp = rlmba.plackett_luce_sample(policy(state), b, generator=g)
        (-advantage * logp).backward()
    """
    z = _logits(logits)
    finite = int(torch.isfinite(z).sum())
    b = chk.check_count(b, "b", 1, finite, "the number of finite logits")
    u = chk.uniforms(generator, z.shape[0], z.device)
    fn = dispatch("plackett_luce_sample", z.device.type, backend or "torch", dtype=z.dtype)
    return fn(z, u, b)
