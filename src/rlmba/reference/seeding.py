"""Pure-PyTorch reference of BADGE and BMMAL seeding: the specification every backend is tested against.

BADGE (Ash et al., ICLR 2020) runs k-means++ seeding on gradient embeddings
g_i = q_i (x) h_i, q_i = p_i - onehot(argmax p_i) (the cross-entropy gradient w.r.t. the logits at
the predicted label; argmax ties -> lowest class), h_i the penultimate features. BMMAL (Shen et al.,
ACM MM 2023) concatenates per-modality blocks g_im = s_im q_i (x) h_im with scales s from the
modality contributions. BADGE is BMMAL with M = 1 and s = 1.

Two implementations, both benchmark baselines:

- ``*_materialised``: builds g ``[N, C * sum_m h_m]`` and takes |g_i - g_c|^2 directly. What a
  plain PyTorch BADGE does; computes in the input's dtype (float32, or float64 for float64 input).
- ``kmeanspp_factored`` (the torch backend): never builds g. With a_i = |g_i|^2 =
  |q_i|^2 sum_m s_im^2 |h_im|^2,
      |g_i - g_c|^2 = a_i + a_c - 2 (q_i . q_c) sum_m s_im s_cm (h_im . h_cm),
  always in float64, so every backend's distances agree to ~1e-16 and they pick the same points.

The seeding rule (shared by both, the contract of every backend):

1. first pick: argmax_i a_i, ties -> lowest index.
2. D_i = min over picks c of d(i, c), where d(i, c) is set to exactly 0 when
   d(i, c) <= DUPLICATE_RTOL * (a_i + a_c): this absorbs the cancellation error of the factored
   formula (~1e-14 relative in float64) and clamps its tiny negatives; picked points get D = 0.
3. step t >= 1 draws with the float64 uniform u[t-1] in [0, 1): with the float64 prefix sums
   P_i = D_0 + ... + D_i and total = P_{N-1}, pick the first i with P_i > u[t-1] * total (so D_i > 0).
   If rounding leaves no such i, pick the last i with D_i > 0. If total == 0 (every unpicked point
   duplicates a pick), pick the lowest-index unpicked point.
"""
from __future__ import annotations

import torch

DUPLICATE_RTOL = 1e-10


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def gradient_factor(probs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """q = p - onehot(argmax p) ``[N, C]``; torch.argmax returns the first maximum (lowest class)."""
    q = probs.to(dtype).clone()
    q[torch.arange(q.shape[0], device=q.device), probs.argmax(1)] -= 1
    return q


def modality_scales(contributions: torch.Tensor) -> torch.Tensor:
    """BMMAL scales from contributions ``[M]`` or ``[N, M]`` (same shape out, float64).

    s_m = max(0, 1 - (max_k c_k - c_m)): the dominant modality keeps scale 1, a weaker one is
    shrunk by its contribution gap (M = 2: the weak one by 1 - (c_dom - c_weak)); clamped at 0
    so a gap above 1 switches the block off instead of flipping its sign.
    """
    c = contributions.to(torch.float64)
    return (1 - (c.amax(-1, keepdim=True) - c)).clamp_min(0)


def d2_pick(D: torch.Tensor, picked: torch.Tensor, u: float) -> int:
    """One D^2-sampling step (rule 3 of the module docstring); D float64 with zeros at picks."""
    prefix = torch.cumsum(D, 0)
    total = prefix[-1]
    if not total > 0:
        return int(torch.nonzero(~picked)[0])
    i = int(torch.searchsorted(prefix, u * total, right=True))
    if i == D.shape[0]:
        i = int(torch.nonzero(D > 0)[-1])
    return i


def kmeanspp(dist_to, a: torch.Tensor, u: torch.Tensor, b: int) -> torch.Tensor:
    """k-means++ seeding given ``dist_to(c)`` = d(., c) ``[N]`` (thresholded) and a = |g|^2."""
    N = a.shape[0]
    picks = [int(torch.argmax(a))]  # first maximum: ties -> lowest index
    D = torch.full((N,), float("inf"), dtype=torch.float64, device=a.device)
    picked = torch.zeros(N, dtype=torch.bool, device=a.device)
    for t in range(1, b):
        c = picks[-1]
        picked[c] = True
        D = torch.minimum(D, dist_to(c).to(torch.float64))
        D[picked] = 0
        picks.append(d2_pick(D, picked, float(u[t - 1])))
    return torch.tensor(picks, dtype=torch.int64, device=a.device)


def _threshold(d: torch.Tensor, a: torch.Tensor, c: int) -> torch.Tensor:
    """Distances within the duplicate tolerance (and cancellation negatives) become exactly 0."""
    return torch.where(d > DUPLICATE_RTOL * (a + a[c]), d, torch.zeros_like(d))


# ---------------------------------------------------------------- materialised embeddings
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
    return kmeanspp(lambda c: _threshold(((g - g[c]) ** 2).sum(1), a, c), a, u, b)


def badge_select_materialised(probs, embeddings, u, b):
    """BADGE picks ``[b]`` from the materialised gradient embeddings (plain PyTorch BADGE)."""
    return kmeanspp_materialised(gradient_embeddings(probs, [embeddings]), u, b)


def bmmal_select_materialised(probs, hs, scales, u, b):
    """BMMAL picks ``[b]``; ``scales`` ``[M]`` or ``[N, M]`` (see :func:`modality_scales`)."""
    return kmeanspp_materialised(gradient_embeddings(probs, hs, scales), u, b)


# ---------------------------------------------------------------- factored, float64 (torch backend)
def kmeanspp_factored(probs, hs, scales, u, b) -> torch.Tensor:
    """Seeding without building g; ``scales`` ``[1 or N, M]`` float64 (None: all ones)."""
    f64 = torch.float64
    q = gradient_factor(probs, f64)
    hs = [h.to(f64) for h in hs]
    s = torch.ones(1, len(hs), dtype=f64, device=q.device) if scales is None else scales.to(f64)
    hh = torch.stack([(h * h).sum(1) for h in hs], 1)  # [N, M]
    a = (q * q).sum(1) * (s * s * hh).sum(1)

    def dist_to(c: int) -> torch.Tensor:
        sc = s[c] if s.shape[0] > 1 else s[0]
        cross = torch.stack([h @ h[c] for h in hs], 1)  # [N, M] h_im . h_cm
        d = a + a[c] - 2 * (q @ q[c]) * (s * sc * cross).sum(1)
        return _threshold(d, a, c)

    return kmeanspp(dist_to, a, u, b)
