"""Evidential and classic uncertainty scoring of an unlabeled pool.

Every op validates its inputs, picks a backend (:mod:`rlmba._dispatch`) and runs it over the
pool in chunks of ``chunk_size`` rows, so peak extra memory is bounded by the chunk, not the
pool. Torch tensors (CPU or CUDA) and numpy arrays are accepted; numpy in gives numpy out.
float16/bfloat16/float32 inputs compute and return float32; float64 computes in float64.

NaN contract: nothing is raised, so a pool never has to be scanned twice. A NaN logit makes
that sample's score NaN on every backend; a +inf logit (infinite evidence) gives what IEEE
arithmetic gives in the reference: NaN for ``variance`` and ``entropy``, 0 for ``vacuity``.
``topb_select`` never selects NaN. A -inf logit is a masked class: zero evidence, zero probability.
"""
from __future__ import annotations

import numpy as np

from .. import _checks as chk
from .._dispatch import declare_op, dispatch
from ..reference.scoring import KINDS, RULES

DEFAULT_CHUNK = 1 << 20

declare_op("fuse_evidence", ("dtype", "rule", "C"), differentiable=True)
declare_op("dirichlet_uncertainty", ("dtype", "kind", "C"), differentiable=True)
declare_op("efda_scores", ("dtype", "kind", "C"), differentiable=True)
declare_op("uncertainty_scores", ("dtype", "C"), public=("uncertainty_scores", "entropy", "margin", "least_confidence"),
           differentiable=True)
declare_op("bald", ("dtype", "C"), differentiable=True)


def _by_rows(n: int, chunk_size: int | None, run):
    """``run(i, j)`` on each row chunk [i, j); with several chunks, each result (a tensor or a
    tuple of tensors, rows along the last dimension) is written into one preallocated output."""
    spans = chk.chunks(n, chunk_size)
    first = run(*spans[0])
    if len(spans) == 1:
        return first
    parts = first if isinstance(first, tuple) else (first,)
    outs = tuple(p.new_empty((*p.shape[:-1], n)) for p in parts)
    for (i, j) in spans:
        parts = first if i == 0 else run(i, j)
        for out, part in zip(outs, parts if isinstance(parts, tuple) else (parts,)):
            out[..., i:j] = part
    return outs if isinstance(first, tuple) else outs[0]


def fuse_evidence(logits, weights=None, temperatures=None, rule: str = "weighted", *, backend=None):
    """Fused Dirichlet parameters alpha_f ``[N, C]`` of M modality heads.

    ``logits``: ``[M, N, C]`` or a sequence of M ``[N, C]``. Per modality, evidence
    e_m = softplus(z_m / T_m) (``temperatures`` T, default 1).

    - ``rule="weighted"`` (RL-MBA's EFDA): alpha_f = 1 + sum_m w_m e_m, with ``weights`` w >= 0
      summing to 1 (default uniform; unnormalised weights raise ValueError).
    - ``rule="ds"``: TMC's reduced Dempster-Shafer combination (Han et al., ICLR 2021) of the
      opinions alpha_m = e_m + 1, folded left. ``weights`` must be None. In closed form the
      combination is 1 + e_f / C = prod_m (1 + e_m / C), so it is commutative and associative.

    Example::

        alpha = rlmba.fuse_evidence(torch.randn(2, 1000, 10), weights=[0.7, 0.3])
    """
    zs, was_numpy = chk.modality_logits(logits)
    chk.check_choice(rule, RULES, "rule")
    if rule == "ds" and weights is not None:
        raise ValueError("weights: the 'ds' rule combines unweighted opinions; pass weights=None")
    w = chk.modality_weights(weights, len(zs)) if rule == "weighted" else None
    t = chk.temperatures_of(temperatures, len(zs))
    fn = dispatch("fuse_evidence", zs[0].device.type, backend, dtype=zs[0].dtype, rule=rule, C=zs[0].shape[1])
    return chk.numpy_out(fn(zs, w, t, rule), was_numpy)


def dirichlet_uncertainty(alpha, kind: str = "variance", *, chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """Per-sample uncertainty ``[N]`` of Dirichlet parameters ``alpha [N, C]`` (alpha > 0).

    - ``variance``: U = (1/C) sum_c Var[p_c] = (1/C) sum_c alpha_c (S - alpha_c) / (S^2 (S + 1))
    - ``vacuity``: u = C / S (Sensoy et al. 2018)
    - ``entropy``: entropy of the expected probabilities alpha / S, in nats
    with S = sum_c alpha_c.
    """
    a = chk.as_tensor(alpha, "alpha")
    chk.check_float(a, "alpha")
    chk.check_ndim(a, 2, "alpha", "[N, C]")
    chk.check_nonempty(a.shape[0], "alpha")
    chk.check_choice(kind, KINDS, "kind")
    fn = dispatch("dirichlet_uncertainty", a.device.type, backend, dtype=a.dtype, kind=kind, C=a.shape[1])
    a = chk.row_contiguous(a)
    out = _by_rows(a.shape[0], chunk_size, lambda i, j: fn(a[i:j], kind))
    return chk.numpy_out(out, isinstance(alpha, np.ndarray))


def efda_scores(logits, weights=None, temperatures=None, kind: str = "variance", *,
                chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """EFDA's fused and per-modality evidential uncertainty in one pass over the logits.

    Returns ``(u_fused [N], u_modal [M, N])``: ``u_fused`` is
    ``dirichlet_uncertainty(fuse_evidence(logits, weights, temperatures), kind)`` and
    ``u_modal[m]`` the same quantity of alpha_m = softplus(z_m / T_m) + 1. Compiled backends
    never materialise alpha; every backend works on ``chunk_size`` rows at a time.

    Example::

        u, u_m = rlmba.efda_scores([z_image, z_text], weights=w, temperatures=[1.3, 0.8])
    """
    zs, was_numpy = chk.modality_logits(logits)
    w = chk.modality_weights(weights, len(zs))
    t = chk.temperatures_of(temperatures, len(zs))
    chk.check_choice(kind, KINDS, "kind")
    fn = dispatch("efda_scores", zs[0].device.type, backend, dtype=zs[0].dtype, kind=kind, C=zs[0].shape[1])
    out = _by_rows(zs[0].shape[0], chunk_size, lambda i, j: fn([z[i:j] for z in zs], w, t, kind))
    return chk.numpy_out(out, was_numpy)


def _class_scores(x, from_logits: bool, chunk_size, backend, name="probs"):
    t = chk.as_tensor(x, name)
    chk.check_float(t, name)
    chk.check_ndim(t, 2, name, "[N, C]")
    chk.check_nonempty(t.shape[0], name)
    if t.shape[1] < 2:
        raise ValueError(f"{name}: margin scores need at least 2 classes, got C = {t.shape[1]}")
    fn = dispatch("uncertainty_scores", t.device.type, backend, dtype=t.dtype, C=t.shape[1])
    t = chk.row_contiguous(t)
    return _by_rows(t.shape[0], chunk_size, lambda i, j: fn(t[i:j], from_logits)), isinstance(x, np.ndarray)


def uncertainty_scores(probs, *, from_logits: bool = False, chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """Entropy, margin and least confidence of ``probs [N, C]`` in one fused pass.

    Returns ``[3, N]``: rows are entropy -sum p log p (nats; 0 log 0 = 0), margin p_(1) - p_(2)
    (smaller = more uncertain) and least confidence 1 - p_(1) (Settles 2011). With
    ``from_logits=True`` the rows of ``probs`` are logits and softmax is applied (-inf = masked
    class). Probability rows are not checked to sum to 1.
    """
    out, was_numpy = _class_scores(probs, from_logits, chunk_size, backend)
    return chk.numpy_out(out, was_numpy)


def entropy(probs, *, from_logits: bool = False, chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """Predictive entropy ``[N]`` in nats (higher = more uncertain); see :func:`uncertainty_scores`."""
    out, was_numpy = _class_scores(probs, from_logits, chunk_size, backend)
    return chk.numpy_out(out[0], was_numpy)


def margin(probs, *, from_logits: bool = False, chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """Top-two probability margin p_(1) - p_(2) ``[N]`` (smaller = more uncertain)."""
    out, was_numpy = _class_scores(probs, from_logits, chunk_size, backend)
    return chk.numpy_out(out[1], was_numpy)


def least_confidence(probs, *, from_logits: bool = False, chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """Least confidence 1 - p_(1) ``[N]`` (higher = more uncertain)."""
    out, was_numpy = _class_scores(probs, from_logits, chunk_size, backend)
    return chk.numpy_out(out[2], was_numpy)


def bald(probs, *, chunk_size: int | None = DEFAULT_CHUNK, backend=None):
    """BALD mutual information ``[N]`` (nats) of MC-dropout samples ``probs [S, N, C]``.

    I(y; w | x) = H(mean_s p_s) - mean_s H(p_s) (Houlsby et al. 2011; Gal et al. 2017).
    """
    t = chk.as_tensor(probs, "probs")
    chk.check_float(t, "probs")
    chk.check_ndim(t, 3, "probs", "[S, N, C]")
    if t.shape[0] == 0:
        raise ValueError("probs: no MC samples (S = 0)")
    chk.check_nonempty(t.shape[1], "probs")
    fn = dispatch("bald", t.device.type, backend, dtype=t.dtype, C=t.shape[2])
    t = chk.row_contiguous(t)
    return chk.numpy_out(_by_rows(t.shape[1], chunk_size, lambda i, j: fn(t[:, i:j])), isinstance(probs, np.ndarray))
