"""Pure-PyTorch reference of BADGE and BMMAL seeding: the specification every backend is tested against.

BADGE (Ash et al., ICLR 2020) runs k-means++ seeding on gradient embeddings
g_i = q_i (x) h_i, q_i = p_i - onehot(argmax p_i) (the cross-entropy gradient w.r.t. the logits at
the predicted label; argmax ties -> lowest class), h_i the penultimate features. BMMAL (Shen et al.,
ACM MM 2023) concatenates per-modality blocks g_im = s_im q_i (x) h_im with scales s from the
modality contributions. BADGE is BMMAL with M = 1 and s = 1.

``kmeanspp_factored`` (the torch backend) never builds g. With a_i = |g_i|^2 =
|q_i|^2 sum_m s_im^2 |h_im|^2,
    |g_i - g_c|^2 = a_i + a_c - 2 (q_i . q_c) sum_m s_im s_cm (h_im . h_cm),
always in float64, so every backend's distances agree to ~1e-16 and they pick the same points.
(The materialised form, what a plain PyTorch BADGE builds, is a benchmark baseline and a test
oracle: ``benchmarks/baselines.py``.)

The seeding rule (the contract of every backend; D^2 sampling in the words of
:mod:`rlmba.reference.kmeanspp`):

1. first pick: argmax_i a_i, ties -> lowest index.
2. D_i = min over picks c of d(i, c), where d(i, c) is set to exactly 0 when
   d(i, c) <= DUPLICATE_RTOL * (a_i + a_c): this absorbs the cancellation error of the factored
   formula (~1e-14 relative in float64) and clamps its tiny negatives; picked points get D = 0.
3. step t >= 1 is :func:`rlmba.reference.kmeanspp.d2_pick` of w = D with the float64 uniform
   u[t-1] (its fixed-order float64 prefix sums, its fallbacks).
"""
from __future__ import annotations

import torch

from .kmeanspp import d2_pick

DUPLICATE_RTOL = 1e-10


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
        picks.append(d2_pick(D, float(u[t - 1]), picked))
    return torch.tensor(picks, dtype=torch.int64, device=a.device)


def threshold(d: torch.Tensor, a: torch.Tensor, c: int) -> torch.Tensor:
    """Distances within the duplicate tolerance (and cancellation negatives) become exactly 0."""
    return torch.where(d > DUPLICATE_RTOL * (a + a[c]), d, torch.zeros_like(d))


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
        return threshold(d, a, c)

    return kmeanspp(dist_to, a, u, b)
