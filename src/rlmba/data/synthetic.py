"""Synthetic imbalanced multimodal pools of any size, for tests, scale runs and benchmarks."""
from __future__ import annotations

from typing import Sequence

import torch

from .dataset import MultimodalDataset, stratified_split


def make_synthetic(n: int = 2000, num_classes: int = 10, dims: Sequence[int] = (32, 16),
                   separation: Sequence[float] = (1.5, 0.5), class_imbalance: float = 1.0,
                   val_frac: float = 0.1, test_frac: float = 0.2, seed: int = 0,
                   name: str = "synthetic") -> MultimodalDataset:
    """A Gaussian mixture seen through M modalities of unequal strength.

    Class c has a centre mu_{m,c} ~ N(0, I / D_m) * 2 in each modality m (so centres sit about
    2 sqrt(2) apart whatever D_m), and x_m = separation_m * mu_{m,y} + N(0, I). A large
    ``separation_m`` makes modality m informative, a small one makes it weak: the modality
    imbalance AMCB is meant to correct. Class frequencies fall geometrically from the first to
    the last class by the factor ``class_imbalance`` (1 = balanced). Labels are drawn i.i.d.,
    features generated one modality at a time (peak extra memory ~ one ``[n, D_m]`` block).
    Deterministic in ``seed``.
    """
    if n < 10:
        raise ValueError(f"n: need at least 10 samples, got {n}")
    if len(dims) != len(separation) or not dims:
        raise ValueError(f"dims, separation: need one separation per modality, got {len(dims)} and {len(separation)}")
    if any(d < 1 for d in dims):
        raise ValueError(f"dims: every modality needs D >= 1, got {list(dims)}")
    if class_imbalance < 1:
        raise ValueError(f"class_imbalance: the ratio of largest to smallest class is >= 1, got {class_imbalance}")
    g = torch.Generator().manual_seed(seed)
    ratio = torch.tensor(float(class_imbalance), dtype=torch.float64)
    prior = ratio ** (-torch.arange(num_classes, dtype=torch.float64) / max(num_classes - 1, 1))
    y = torch.multinomial(prior / prior.sum(), n, replacement=True, generator=g)
    feats = []
    for d, s in zip(dims, separation):
        centres = torch.randn(num_classes, d, generator=g) * (2.0 / d ** 0.5)
        x = torch.randn(n, d, generator=g)
        x += s * centres[y]
        feats.append(x)
    split = torch.from_numpy(stratified_split(y.numpy(), val_frac, test_frac, seed=seed))
    return MultimodalDataset(features=feats, labels=y, split=split, num_classes=num_classes,
                             modality_names=[f"m{i}" for i in range(len(dims))], name=name)
