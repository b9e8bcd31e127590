"""Plain-PyTorch baselines of the benchmarks (and independent oracles of the tests): the forms a
user would write without rlmba. Not the specification (that is :mod:`rlmba.reference`).

- BADGE / BMMAL on materialised gradient embeddings g ``[N, C * sum_m h_m]``, distances
  |g_i - g_c|^2 taken directly, in the input's dtype (float32, or float64 for float64 input).
- k-center greedy with ``torch.cdist`` to the labeled set and to each new centre (euclidean).
"""
from __future__ import annotations

import torch

from rlmba._checks import compute_dtype
from rlmba.reference.seeding import gradient_factor, kmeanspp, threshold
from rlmba.reference.selection import TILE_ELEMENTS, pool_mean


def gradient_embeddings(probs: torch.Tensor, hs, scales: torch.Tensor | None = None) -> torch.Tensor:
    """g ``[N, sum_m C * h_m]``: blocks s_m q (x) h_m (BADGE: one block, s = 1)."""
    dtype = compute_dtype(probs.dtype)
    q = gradient_factor(probs, dtype)
    blocks = []
    for m, h in enumerate(hs):
        g = (q[:, :, None] * h.to(dtype)[:, None, :]).reshape(q.shape[0], -1)
        blocks.append(g if scales is None else g * scales[..., m, None].to(dtype))
    return torch.cat(blocks, 1)


def kmeanspp_materialised(g: torch.Tensor, u: torch.Tensor, b: int) -> torch.Tensor:
    a = (g * g).sum(1)
    return kmeanspp(lambda c: threshold(((g - g[c]) ** 2).sum(1), a, c), a, u, b)


def badge_select_materialised(probs, embeddings, u, b):
    """BADGE picks ``[b]`` from the materialised gradient embeddings (plain PyTorch BADGE)."""
    return kmeanspp_materialised(gradient_embeddings(probs, [embeddings]), u, b)


def bmmal_select_materialised(probs, hs, scales, u, b):
    """BMMAL picks ``[b]``; ``scales`` ``[M]`` or ``[N, M]`` (see :func:`modality_scales`)."""
    return kmeanspp_materialised(gradient_embeddings(probs, hs, scales), u, b)


def k_center_greedy_cdist(pool: torch.Tensor, b: int, labeled: torch.Tensor, exclude: torch.Tensor) -> torch.Tensor:
    """Core-set picks the way a plain PyTorch Core-set is often written: ``torch.cdist`` to the
    labeled set and to each new center (euclidean)."""
    x = pool.to(compute_dtype(pool.dtype))
    mind = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    step = max(1, TILE_ELEMENTS // max(1, labeled.shape[0]))
    for i in range(0, x.shape[0], step):
        if labeled.shape[0]:
            mind[i:i + step] = torch.cdist(x[i:i + step], labeled.to(x.dtype)).min(1).values ** 2
    mind[exclude] = float("-inf")
    if labeled.shape[0] or exclude.numel():
        pick = int(torch.argmax(mind))
    else:
        pick = int(torch.argmax(torch.cdist(x, pool_mean(x)[None])[:, 0]))
    picks = []
    for s in range(b):
        picks.append(pick)
        mind[pick] = float("-inf")
        if s + 1 < b:
            torch.minimum(mind, torch.cdist(x, x[pick:pick + 1])[:, 0] ** 2, out=mind)
            pick = int(torch.argmax(mind))
    return torch.tensor(picks, dtype=torch.int64, device=pool.device)
