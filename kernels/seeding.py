"""Triton BADGE / BMMAL seeding: k-means++ on gradient embeddings that are never built.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.

Contract: the module docstring of :mod:`rlmba.ops.seeding`; spec: :mod:`rlmba.reference.seeding`.
g_i = concat_m s_im q_i (x) h_im, q_i = p_i - onehot(y_i), y_i the first argmax of p_i. All in float64:

    a_i = (q_i.q_i) sum_m s_im^2 (h_im.h_im)                       (prepared once, in torch)
    d(i, c) = a_i + a_c - 2 (q_i.q_c) sum_m s_im s_cm (h_im.h_cm)   (0 if <= DUPLICATE_RTOL (a_i + a_c))

Per pick c, one launch of ``_grad_d2_update_kernel`` folds c into D (D_i <- min(D_i, d(i, c)),
D_c = 0). q is formed in the kernel elementwise as p_k - 1 at the label (exact for p_k >= 0.5),
never by expanding the product. The M feature matrices arrive as a tuple of tensors (Triton >= 3.3
tuple arguments): no stacking copy, any widths.

The D^2 pick runs on the host with :func:`rlmba.reference.kmeanspp.d2_pick` over a CPU copy of
D: fixed blocks of 2048 points summed sequentially, then the block ends in order, the order the
contract names (C++, CUDA and numba backends), so picks agree to the bit whenever D does. Cost on a
GPU: a device->host copy of 8N bytes and a host synchronisation per pick (N = 1e6: 8 MB), plus a
host scan of N float64 values; a device-side pick kernel as in csrc/cuda/seeding.cu would remove
both (not written).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..reference.kmeanspp import d2_pick
from ..reference.seeding import DUPLICATE_RTOL, gradient_factor

_INTERPRET_ROWS = 4096  # the interpreter costs ~1.5 ms per program instance: few, large ones
_GPU_ROWS = 64
_PREPARE_ROWS = 1 << 16  # row chunk of the torch prepare step: bounded float64 temporaries


@triton.jit(do_not_specialize=["c"])
def _grad_d2_update_kernel(probs, y, a, hs, dims, scales, D, c, N, C, s_stride, rtol,
                           M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
                           BLOCK_H: tl.constexpr):
    # Grid (cdiv(N, BLOCK_N),): program i updates D for points [i*BLOCK_N, (i+1)*BLOCK_N) with the
    # newest pick c. s_stride: M for per-sample scales [N, M], 0 for global scales [1, M].
    # Bytes moved per launch: reads N*(C + sum_m h_m) input elements, N*(8 y + 8 a + 8 D [+ 8M
    # scales]) bytes, row c once per program; writes 8N bytes of D.
    c = c.to(tl.int64)
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = rows < N
    y_i = tl.load(y + rows, mask=ok, other=-1)
    y_c = tl.load(y + c)
    kcols = tl.arange(0, BLOCK_C)
    qd = tl.zeros([BLOCK_N], tl.float64)
    for k0 in range(0, C, BLOCK_C):
        kk = k0 + kcols
        k_ok = kk < C
        p = tl.load(probs + rows[:, None] * C + kk[None, :], mask=ok[:, None] & k_ok[None, :], other=0.0)
        p = p.to(tl.float64)
        q = tl.where(kk[None, :] == y_i[:, None], p - 1.0, p)  # p - 1 at the label: exact for p >= 0.5
        pc = tl.load(probs + c * C + kk, mask=k_ok, other=0.0).to(tl.float64)
        qc = tl.where(kk == y_c, pc - 1.0, pc)
        qd += tl.sum(q * qc[None, :], axis=1)
    hcols = tl.arange(0, BLOCK_H)
    hd = tl.zeros([BLOCK_N], tl.float64)
    for m in tl.static_range(M):  # h_im . h_cm in float64 (inline: the interpreter taxes jit calls)
        h = hs[m]
        H = dims[m]
        part = tl.zeros([BLOCK_N], tl.float64)
        for h0 in range(0, H, BLOCK_H):
            hh = h0 + hcols
            h_ok = hh < H
            xt = tl.load(h + rows[:, None] * H + hh[None, :], mask=ok[:, None] & h_ok[None, :], other=0.0)
            ct = tl.load(h + c * H + hh, mask=h_ok, other=0.0)
            part += tl.sum(xt.to(tl.float64) * ct.to(tl.float64)[None, :], axis=1)
        s_i = tl.load(scales + rows * s_stride + m, mask=ok, other=0.0)
        s_c = tl.load(scales + c * s_stride + m)
        hd += (s_i * s_c) * part
    a_i = tl.load(a + rows, mask=ok, other=0.0)
    a_c = tl.load(a + c)
    d = a_i + a_c - 2.0 * qd * hd
    # duplicates within the tolerance and the factored form's cancellation negatives -> exactly 0
    d = tl.where(d > rtol * (a_i + a_c), d, 0.0)
    cur = tl.load(D + rows, mask=ok, other=0.0)
    tl.store(D + rows, tl.where(rows == c, 0.0, tl.minimum(cur, d)), mask=ok)


def _prepare(probs: torch.Tensor, hs, scales: torch.Tensor):
    """``(y [N] int64, a [N] float64)``: the first argmax class and a_i = |g_i|^2, in row chunks
    (the reference's formula; the float64 temporaries stay ``_PREPARE_ROWS`` rows long)."""
    N = probs.shape[0]
    y = torch.empty(N, dtype=torch.int64, device=probs.device)
    a = torch.empty(N, dtype=torch.float64, device=probs.device)
    for i in range(0, N, _PREPARE_ROWS):
        j = min(N, i + _PREPARE_ROWS)
        p = probs[i:j]
        y[i:j] = p.argmax(1)  # first maximum: lowest class on ties
        q = gradient_factor(p, torch.float64)
        s = scales[i:j] if scales.shape[0] > 1 else scales
        hh = torch.stack([h[i:j].to(torch.float64).pow(2).sum(1) for h in hs], 1)
        a[i:j] = (q * q).sum(1) * (s * s * hh).sum(1)
    return y, a


def _config(N: int, C: int, hs, device: torch.device) -> dict:
    rows = _INTERPRET_ROWS if device.type == "cpu" else _GPU_ROWS
    width = max(h.shape[1] for h in hs)
    return {"BLOCK_N": max(16, min(rows, triton.next_power_of_2(N))),
            "BLOCK_C": max(16, min(64, triton.next_power_of_2(C))),
            "BLOCK_H": max(16, min(64, triton.next_power_of_2(width)))}


def kmeanspp_gradient(probs: torch.Tensor, hs, scales: torch.Tensor, u: torch.Tensor, b: int) -> torch.Tensor:
    """Picks ``[b]`` int64 in pick order (both ops; BADGE: one matrix, scales ones ``[1, 1]``).

    ``probs [N, C]`` and ``hs`` (M ``[N, h_m]``) rows contiguous, one dtype (float32/float64);
    ``scales`` float64 ``[1 or N, M]`` contiguous; ``u`` float64 ``[b - 1]``.
    """
    N, C = probs.shape
    hs = tuple(h.contiguous() for h in hs)
    scales = scales.to(device=probs.device, dtype=torch.float64).contiguous()
    y, a = _prepare(probs, hs, scales)
    cfg = _config(N, C, hs, probs.device)
    grid = (triton.cdiv(N, cfg["BLOCK_N"]),)
    dims = tuple(h.shape[1] for h in hs)
    s_stride = scales.shape[1] if scales.shape[0] > 1 else 0
    D = torch.full((N,), float("inf"), dtype=torch.float64, device=probs.device)
    picked = torch.zeros(N, dtype=torch.bool)  # host-side: d2_pick's "lowest unpicked" fallback
    u = u.to(device="cpu", dtype=torch.float64)
    picks = [int(torch.argmax(a))]  # first maximum: ties -> lowest index
    for t in range(1, b):
        c = picks[-1]
        picked[c] = True
        _grad_d2_update_kernel[grid](probs, y, a, hs, dims, scales, D, c, N, C, s_stride, DUPLICATE_RTOL,
                                     M=len(hs), **cfg)
        picks.append(d2_pick(D.cpu(), float(u[t - 1]), picked))  # host sync: fixed-order float64 sums
    return torch.tensor(picks, dtype=torch.int64, device=probs.device)


def badge_select(probs: torch.Tensor, embeddings: torch.Tensor, u: torch.Tensor, b: int) -> torch.Tensor:
    """BADGE picks ``[b]``; see :func:`rlmba.ops.seeding.badge_select`."""
    ones = torch.ones(1, 1, dtype=torch.float64, device=probs.device)
    return kmeanspp_gradient(probs, [embeddings], ones, u, b)


def bmmal_select(probs: torch.Tensor, hs, scales: torch.Tensor, u: torch.Tensor, b: int) -> torch.Tensor:
    """BMMAL picks ``[b]``; see :func:`rlmba.ops.seeding.bmmal_select`."""
    return kmeanspp_gradient(probs, hs, scales, u, b)
