"""AMCB (adaptive modality contribution balancing) and EFDA's per-round selection score q.

Pool-sized work goes through rlmba's public ops: ``efda_scores`` (fused and per-modality
evidential uncertainty), ``kmeans`` (diversity) and ``topb_select`` (candidate set).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ops.clustering import kmeans
from ..ops.scoring import efda_scores
from ..ops.selection import topb_select


def amcb_weights(delta, tau: float = 0.1, eps: float = 0.01) -> torch.Tensor:
    """w = softmax(Delta / tau), then floored at ``eps`` and renormalised (float64 ``[M]``).

    ``delta``: the gaps Delta_m = Top1_m - Top1_mm between each modality head and the fused head.
    Softmax subtracts its max first, so a tiny ``tau`` saturates to one-hot instead of overflowing.
    """
    d = torch.as_tensor(delta, dtype=torch.float64).flatten()
    if d.numel() == 0 or not torch.isfinite(d).all():
        raise ValueError(f"delta: need M >= 1 finite gaps, got {d.tolist()}")
    if tau <= 0:
        raise ValueError(f"tau: must be > 0, got {tau}")
    if eps * d.numel() >= 1:
        raise ValueError(f"eps: the floor times M must stay below 1, got eps = {eps}, M = {d.numel()}")
    w = torch.softmax(d / tau, 0)
    if eps > 0:
        w = w.clamp_min(eps)
        w = w / w.sum()
    return w


def minmax(x: torch.Tensor) -> torch.Tensor:
    """(x - min) / (max - min) over the whole vector; a constant vector maps to zeros."""
    lo, hi = x.min(), x.max()
    span = hi - lo
    return torch.zeros_like(x) if span <= 0 else (x - lo) / span


@dataclass
class RoundScores:
    """EFDA's per-round scores of the U pool rows (pool positions, aligned with the pool arrays)."""

    q: torch.Tensor            # [U] q = sum_m w_m u~_m + beta d~
    u_fused: torch.Tensor      # [U] fused evidential uncertainty U(x)
    u_modal: torch.Tensor      # [M, U] per-modality u_m(x)
    u_modal_n: torch.Tensor    # [M, U] min-max normalised u_m
    u_fused_n: torch.Tensor    # [U] min-max normalised U
    d: torch.Tensor            # [U] distance to the nearest k-means centroid of fused features
    d_n: torch.Tensor          # [U] min-max normalised d
    candidates: torch.Tensor   # [K] pool positions of the top K = kappa * b by q (descending)

    def candidate_features(self, w: torch.Tensor) -> torch.Tensor:
        """``[K, 2M + 3]`` per candidate: q, U~, u~_1..u~_M, d~, w_1..w_M (w repeated)."""
        c = self.candidates
        cols = [self.q[c, None], self.u_fused_n[c, None], self.u_modal_n[:, c].T, self.d_n[c, None],
                w.to(self.q).expand(len(c), -1)]
        return torch.cat(cols, 1)


def fused_features(features, w: torch.Tensor) -> torch.Tensor:
    """f(x) = sum_m w_m f_m(x): ``features [M, N, h]`` -> ``[N, h]``; features of unequal widths
    (a list of M ``[N, D_m]``) have no sum: their fused features are [w_1 f_1, ..., w_M f_M]."""
    if isinstance(features, (list, tuple)):
        return torch.cat([wm * f for wm, f in zip(w.to(features[0]), features)], 1)
    return torch.einsum("m,mnh->nh", w.to(features), features)


def efda_round_scores(modality_logits: torch.Tensor, features: torch.Tensor, w: torch.Tensor,
                      temperatures, b: int, *, beta: float = 1.0, kappa: int = 5, kmeans_iters: int = 5,
                      kind: str = "variance", generator: torch.Generator | None = None) -> RoundScores:
    """Score a pool: ``modality_logits [M, U, C]``, ``features [M, U, h]`` (or a list of M
    ``[U, D_m]``, see :func:`fused_features`), AMCB weights ``w [M]``.

    1. U, u_m = efda_scores(logits, w, temperatures) (Dirichlet variance by default);
    2. d = distance to the nearest of k = b centroids (k-means++ then ``kmeans_iters`` Lloyd
       steps) on the fused features sum_m w_m f_m;
    3. q = sum_m w_m minmax(u_m) + beta minmax(d); candidates = top min(kappa b, U) of q,
       ties to the lower pool position.
    """
    n = modality_logits.shape[1]
    w64 = torch.as_tensor(w, dtype=torch.float64)
    wn = (w64 / w64.sum()).tolist()
    u_fused, u_modal = efda_scores(modality_logits, weights=wn, temperatures=temperatures, kind=kind)
    k = max(1, min(b, n))
    _, _, d = kmeans(fused_features(features, w64), k, iters=kmeans_iters, generator=generator)
    d = d.to(u_fused.dtype)
    u_modal_n = torch.stack([minmax(u) for u in u_modal])
    d_n = minmax(d)
    q = (w64.to(u_fused)[:, None] * u_modal_n).sum(0) + beta * d_n
    candidates = topb_select(q, min(kappa * b, n))
    return RoundScores(q, u_fused, u_modal, u_modal_n, minmax(u_fused), d, d_n, candidates)
