"""DFAL (Ducoffe and Precioso 2018): the samples with the smallest DeepFool perturbation.

DeepFool (Moosavi-Dezfooli et al., CVPR 2016) linearises the classifier around x and steps to the
nearest linearised boundary, r = (|f_l| + 1e-4) w_l / |w_l|^2 with f_k = z_k - z_k0 and
w_k = grad z_k - grad z_k0 (k0 the current class, l = argmin_k |f_k| / |w_k|), until the class
changes; the final perturbation is (1 + overshoot) sum r. Small |r| = close to the decision
boundary = informative. Here x is a row of ``embeddings`` (the classifier head's input) and the
classifier the ``head`` input, batched over the pool. The class is the argmax of the head's
logits: for rlmba's evidential heads argmax alpha / S = argmax softplus(z) + 1 = argmax z
(softplus is increasing), so the logits' boundaries are the classifier's.

What DeepFool needs from a user's model: the penultimate features (``embeddings``) and the last
layer that maps them to logits (``head``): an ``nn.Linear`` or its ``(weight, bias)`` (the exact
closed form below, no gradients), or any differentiable row-wise module or function (the
iterative path, through autograd). A head, rather than the whole model, keeps the cost at one
pass over small feature vectors and lets the pool outputs be computed once, as for every other
strategy; the perturbation is measured in feature space, as DFAL does on the fused features.

For an affine head (``nn.Linear``, the default model) one step is exact and needs no autograd:
the distance to the boundary with class k is (z_k0 - z_k) / |W_k0 - W_k|, so the norms are one
GEMM plus a ``[C, C]`` table (:func:`deepfool_linear`). Other heads take the iterative batched
path (:func:`deepfool_perturbation`), which assumes the head acts row-wise (no batch statistics).
"""
from __future__ import annotations

import torch
from torch import nn

from ..ops.selection import topb_select
from .base import PoolOutputs, Selection, Selector, register_selector, scored

CHUNK = 1 << 14  # pool rows per step of the closed form: bounds the [rows, C] logits
GRAD_ELEMENTS = 1 << 24  # iterative path: bound on the [rows, C, h] gradients of one chunk


def _nearest_boundary(gap: torch.Tensor, wn: torch.Tensor, k0: torch.Tensor) -> torch.Tensor:
    """|f_k| / |w_k| ``[n, C]``, +inf at k0 and where w_k = 0 (that boundary cannot be reached)."""
    ratio = torch.where(wn > 0, gap / wn.clamp_min(torch.finfo(wn.dtype).tiny), torch.full_like(gap, float("inf")))
    return ratio.scatter(1, k0[:, None], float("inf"))


@torch.no_grad()
def deepfool_linear(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor,
                    return_perturbation: bool = False):
    """Exact minimal perturbation of an affine classifier z = x W^T + b, per row of ``x [n, h]``.

    Returns ``norms [n]`` (float64): min_{k != k0} (z_k0 - z_k) / |W_k0 - W_k|, +inf when every
    other class has the same weights as k0; with ``return_perturbation`` also ``(r [n, h], target
    [n])``, r the perturbation onto the boundary with class ``target`` (x + (1 + eps) r crosses it).
    """
    W = weight.double()
    table = torch.cdist(W, W)  # [C, C] |W_j - W_k|: tiny, not pool-sized
    norms, rs, targets = [], [], []
    for i in range(0, x.shape[0], CHUNK):
        xc = x[i:i + CHUNK].double()
        z = xc @ W.T + (0 if bias is None else bias.double())
        k0 = z.argmax(1)
        gap = z.gather(1, k0[:, None]) - z  # >= 0: how far each class is below the top one
        ratio = _nearest_boundary(gap, table[k0], k0)
        dist, target = ratio.min(1)
        norms.append(dist)
        if return_perturbation:
            direction = W[target] - W[k0]  # grad of z_target - z_k0
            length = direction.norm(dim=1, keepdim=True)
            rs.append(torch.where(torch.isfinite(dist)[:, None], dist[:, None] * direction / length.clamp_min(1e-300),
                                  torch.zeros_like(direction)))
            targets.append(target)
    norms = torch.cat(norms)
    return (norms, torch.cat(rs), torch.cat(targets)) if return_perturbation else norms


def _class_gradients(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[n, C, h]``: per-row gradient of every logit (rows independent: one backward per class)."""
    C = z.shape[1]
    return torch.stack([torch.autograd.grad(z[:, c].sum(), x, retain_graph=c + 1 < C)[0] for c in range(C)], 1)


def _deepfool_chunk(head, x0: torch.Tensor, overshoot: float, max_iter: int):
    with torch.no_grad():
        k0 = head(x0).argmax(1)
    r = torch.zeros_like(x0)
    active = torch.arange(x0.shape[0], device=x0.device)
    for _ in range(max_iter):
        xa = (x0[active] + (1 + overshoot) * r[active]).detach().requires_grad_(True)
        with torch.enable_grad():
            z = head(xa)
            still = z.argmax(1) == k0[active]
            if not bool(still.any()):
                break
            grads = _class_gradients(z, xa)
        z, grads, xa_k0 = z.detach()[still], grads[still], k0[active][still]
        rows = torch.arange(z.shape[0], device=z.device)
        gap = z[rows, xa_k0][:, None] - z
        w = grads - grads[rows, xa_k0][:, None, :]
        wn = w.norm(dim=2)
        ratio = _nearest_boundary(gap, wn, xa_k0)
        dist, l = ratio.min(1)
        ok = torch.isfinite(dist)
        step = (dist + 1e-4)[:, None] * w[rows, l] / wn[rows, l].clamp_min(1e-30)[:, None]
        idx = active[still]
        r[idx[ok]] += step[ok]
        active = idx[ok]  # rows with no reachable boundary stop here
        if active.numel() == 0:
            break
    return (1 + overshoot) * r


def deepfool_perturbation(head, x: torch.Tensor, overshoot: float = 0.02, max_iter: int = 50) -> torch.Tensor:
    """Batched DeepFool perturbations ``r [n, h]`` of the rows of ``x`` against ``head`` (any
    differentiable row-wise module ``[n, h] -> [n, C]``); ``x + r`` is classified differently
    unless ``max_iter`` steps did not suffice (then r is the perturbation accumulated so far).
    Memory per chunk of rows: the ``[rows, C, h]`` gradients."""
    was_training = head.training if isinstance(head, nn.Module) else False
    if isinstance(head, nn.Module):
        head.eval()
    try:
        with torch.no_grad():
            C = head(x[:1]).shape[1]
        rows = max(1, GRAD_ELEMENTS // max(1, C * x.shape[1]))
        return torch.cat([_deepfool_chunk(head, x[i:i + rows].detach(), overshoot, max_iter)
                          for i in range(0, x.shape[0], rows)])
    finally:
        if isinstance(head, nn.Module):
            head.train(was_training)


def perturbation_norms(head, x: torch.Tensor, overshoot: float = 0.02, max_iter: int = 50) -> torch.Tensor:
    """|r| per row ``[n]``: closed form for ``nn.Linear`` heads, batched DeepFool otherwise."""
    if isinstance(head, nn.Linear):
        return deepfool_linear(head.weight, head.bias, x)
    return torch.linalg.vector_norm(deepfool_perturbation(head, x, overshoot, max_iter).double(), dim=1)


def _norms(head, x: torch.Tensor, overshoot: float, max_iter: int) -> torch.Tensor:
    if isinstance(head, (tuple, list)):
        if len(head) != 2:
            raise ValueError("head: expected (weight [C, D], bias [C] or None)")
        weight, bias = (None if t is None else torch.as_tensor(t).to(x.device) for t in head)
        if weight.ndim != 2 or weight.shape[1] != x.shape[1]:
            raise ValueError(f"head: weight must be [C, {x.shape[1]}], got {tuple(weight.shape)}")
        return deepfool_linear(weight, bias, x)
    if not callable(head):
        raise TypeError(f"head: expected an nn.Module, a callable or (weight, bias), got {type(head).__name__}")
    return perturbation_norms(head, x, overshoot, max_iter)


@register_selector("deepfool")
class DeepFool(Selector):
    """The b rows of ``embeddings`` nearest the ``head``'s decision boundary (smallest DeepFool
    norm, reported as the score; ties: lower row). ``overshoot``, ``max_iter``: DeepFool's
    (iterative path only)."""

    needs = ("embeddings", "head")

    def __init__(self, overshoot: float = 0.02, max_iter: int = 50):
        self.overshoot, self.max_iter = overshoot, max_iter

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        norms = _norms(pool["head"], pool["embeddings"], self.overshoot, self.max_iter)
        return scored(topb_select(norms, budget, largest=False), norms)
