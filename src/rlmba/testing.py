"""Input factories shared by the tests and the benchmarks (one per op family), so a benchmark
times exactly the inputs its tests check."""
from __future__ import annotations

import torch


def make_logits(M: int, N: int, C: int, dtype=torch.float32, generator=None, style: str = "normal",
                device="cpu") -> torch.Tensor:
    """Modality logits ``[M, N, C]``.

    styles: ``normal`` (scale 3, the typical case), ``extreme`` (uniform in [-80, 80]),
    ``masked`` (normal with about a quarter of the entries -inf, never a whole row).
    """
    if style == "extreme":
        z = (torch.rand(M, N, C, generator=generator, dtype=torch.float64) * 2 - 1) * 80
    else:
        z = torch.randn(M, N, C, generator=generator, dtype=torch.float64) * 3
    if style == "masked":
        mask = torch.rand(M, N, C, generator=generator) < 0.25
        mask[..., 0] = False
        z = z.masked_fill(mask, float("-inf"))
    return z.to(device=device, dtype=dtype)


def make_probs(N: int, C: int, dtype=torch.float32, generator=None, samples: int | None = None) -> torch.Tensor:
    """Softmax probabilities ``[N, C]`` (or ``[samples, N, C]``) of logits at scale 3."""
    shape = (N, C) if samples is None else (samples, N, C)
    z = torch.randn(*shape, generator=generator, dtype=torch.float64) * 3
    return torch.softmax(z, dim=-1).to(dtype)


def make_alpha(N: int, C: int, dtype=torch.float32, generator=None) -> torch.Tensor:
    """Dirichlet parameters ``[N, C]`` >= 1 spanning five orders of magnitude of evidence."""
    e = torch.exp(torch.randn(N, C, generator=generator, dtype=torch.float64) * 3)
    return (1 + e).to(dtype)
