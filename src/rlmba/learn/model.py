"""The multimodal evidential classifier: one encoder and one evidential head per modality, and a
fused head on the AMCB-weighted sum of the modality features.

Contract a replacement model must keep (the loop and the strategies rely on nothing else):
``forward(xs, mask=None) -> ModelOutput``, ``fuse(features, mask=None) -> (fused, fused_logits)``,
a ``fusion_weights`` buffer ``[M]`` set through ``set_fusion_weights``, and dropout layers
(if any) that are active in ``train()`` mode, which MC-dropout strategies rely on.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn


class ModelOutput(NamedTuple):
    modality_logits: torch.Tensor   # [M, N, C] evidential head logits z_m (evidence softplus(z_m))
    fused_logits: torch.Tensor      # [N, C] fused head logits
    features: torch.Tensor          # [M, N, h] per-modality features f_m(x)
    fused: torch.Tensor             # [N, h] AMCB-fused features sum_m w_m f_m(x)


def mlp_encoder(in_dim: int, hidden: int, embed_dim: int, dropout: float) -> nn.Module:
    """Linear-ReLU-Dropout-Linear-ReLU: non-negative features, so zeroing one means "absent"."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, embed_dim), nn.ReLU())


class MultimodalEvidentialNet(nn.Module):
    """M encoders (any ``nn.Module`` mapping ``[N, D_m] -> [N, embed_dim]``), M evidential heads
    and a fused evidential head on f(x) = sum_m w_m f_m(x), w the AMCB weights (uniform at first).
    """

    def __init__(self, encoders: Sequence[nn.Module], embed_dim: int, num_classes: int):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.heads = nn.ModuleList(nn.Linear(embed_dim, num_classes) for _ in encoders)
        self.fused_head = nn.Linear(embed_dim, num_classes)
        M = len(self.encoders)
        self.register_buffer("fusion_weights", torch.full((M,), 1.0 / M))

    @property
    def num_modalities(self) -> int:
        return len(self.encoders)

    def set_fusion_weights(self, w: torch.Tensor) -> None:
        self.fusion_weights.copy_(torch.as_tensor(w, dtype=self.fusion_weights.dtype))

    def fuse(self, features: torch.Tensor, mask: torch.Tensor | None = None):
        """(fused ``[N, h]``, fused logits ``[N, C]``) of features ``[M, N, h]``; ``mask [M]``
        zeroes dropped modalities (Shapley coalitions) without renormalising the weights."""
        w = self.fusion_weights if mask is None else self.fusion_weights * mask
        fused = torch.einsum("m,mnh->nh", w.to(features.dtype), features)
        return fused, self.fused_head(fused)

    def forward(self, xs: Sequence[torch.Tensor], mask: torch.Tensor | None = None) -> ModelOutput:
        if len(xs) != self.num_modalities:
            raise ValueError(f"xs: expected {self.num_modalities} modality inputs, got {len(xs)}")
        feats = torch.stack([enc(x) for enc, x in zip(self.encoders, xs)])
        logits = torch.stack([head(f) for head, f in zip(self.heads, feats)])
        fused, fused_logits = self.fuse(feats, mask)
        return ModelOutput(logits, fused_logits, feats, fused)


ModelFactory = Callable[[Sequence[int], int], nn.Module]


def default_model_factory(hidden: int = 128, embed_dim: int = 64, dropout: float = 0.1) -> ModelFactory:
    """``factory(dims, num_classes)`` building a :class:`MultimodalEvidentialNet` of MLP encoders."""
    def factory(dims: Sequence[int], num_classes: int) -> nn.Module:
        return MultimodalEvidentialNet([mlp_encoder(d, hidden, embed_dim, dropout) for d in dims],
                                       embed_dim, num_classes)
    return factory


@torch.no_grad()
def predict(model: nn.Module, xs: Sequence[torch.Tensor], batch: int = 8192) -> ModelOutput:
    """Eval-mode forward pass in row chunks of ``batch`` (bounded peak memory on large pools)."""
    was_training = model.training
    model.eval()
    n = xs[0].shape[0]
    parts = [model([x[i:i + batch] for x in xs]) for i in range(0, n, batch)]
    model.train(was_training)
    if len(parts) == 1:
        return parts[0]
    return ModelOutput(torch.cat([p.modality_logits for p in parts], 1), torch.cat([p.fused_logits for p in parts]),
                       torch.cat([p.features for p in parts], 1), torch.cat([p.fused for p in parts]))
