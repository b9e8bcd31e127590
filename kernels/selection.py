"""Triton kernels of the selection ops, with thin launchers that take and return torch tensors.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.

Implemented: k-center greedy (``k_center_greedy``). top-b has no Triton implementation.

Layout: one program owns ``BLOCK_N`` consecutive pool rows and walks D in ``BLOCK_D`` steps;
offsets are int64 (``tl.program_id(0).to(tl.int64)``). Half pools compute in float32, float64 in
float64. The pool is never copied: cosine rows are normalised on the fly (x / |x|, the reference's rounding), so the
memory beyond the inputs is O(N) (min distance, norms) plus O(N / BLOCK_N) block winners.

Distances follow :mod:`rlmba.reference.selection`: the GEMV form |x|^2 + |c|^2 - 2 x.c (cosine:
1 - x.c), replaced by the direct sum (x - c)^2 (cosine: half of it) where the GEMV value is below
``REFINE_RTOL`` times its scale. The kernel accumulates both forms in the same pass over D, so the
refinement costs no second read. Picks: a block's winner is its largest min-distance, ties ->
lowest row; the host takes the first maximum over blocks, i.e. the lowest row overall.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..reference.selection import REFINE_RTOL

_INTERPRET_ROWS = 4096  # the interpreter costs ~1.5 ms per program instance: few, large ones
_GPU_ROWS = 256


@triton.jit
def _kcenter_update_kernel(x, norms, sq, centers, c_sq, L, mind, blk_max, blk_arg, N, D, rtol,
                           COSINE: tl.constexpr, DIRECT: tl.constexpr,
                           BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    # Grid (cdiv(N, BLOCK_N),): program i updates mind[rows] = min(mind, min_l d(x_row, centers[l]))
    # for its rows and writes its block winner (largest mind, lowest row) to blk_max/blk_arg[i].
    # DIRECT: d is the direct form for every row (the first pick's distance to the pool mean).
    # Bytes moved: reads L*N*D pool elements (L = 1 per pick; cached on a GPU for small D) and
    # L*D center elements per program, reads and writes N min-distances, writes 2 per program.
    CT: tl.constexpr = mind.dtype.element_ty
    pid = tl.program_id(0).to(tl.int64)
    rows = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = rows < N
    dcols = tl.arange(0, BLOCK_D)
    cur = tl.load(mind + rows, mask=ok, other=float("-inf"))
    if COSINE:
        norm = tl.load(norms + rows, mask=ok, other=1.0)  # padding divides by 1, not 0
    else:
        xsq = tl.load(sq + rows, mask=ok, other=0.0)
    for l in range(L):
        c_row = centers + l * D
        dot = tl.zeros([BLOCK_N], CT)
        direct = tl.zeros([BLOCK_N], CT)
        for d0 in range(0, D, BLOCK_D):
            dd = d0 + dcols
            d_ok = dd < D
            xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=ok[:, None] & d_ok[None, :], other=0.0).to(CT)
            if COSINE:
                xt = xt / norm[:, None]  # the reference's x / |x|, same rounding
            c = tl.load(c_row + dd, mask=d_ok, other=0.0)
            dot += tl.sum(xt * c[None, :], axis=1)
            diff = xt - c[None, :]
            direct += tl.sum(diff * diff, axis=1)
        if COSINE:
            d = 1.0 - dot
            near = d < rtol
            direct = direct * 0.5
        else:
            csq = tl.load(c_sq + l)
            d = xsq + csq - 2.0 * dot
            near = d < rtol * (xsq + csq)
        if DIRECT:
            d = direct
        else:
            d = tl.where(near, direct, d)
        cur = tl.minimum(cur, tl.maximum(d, 0.0))  # -inf (excluded, picked, padding) stays -inf
    tl.store(mind + rows, cur, mask=ok)
    best = tl.max(cur, axis=0)
    arg = tl.min(tl.where(cur == best, rows, N), axis=0)  # lowest row among the block's maxima
    tl.store(blk_max + pid, best)
    tl.store(blk_arg + pid, arg)


class _Pool:
    """The pool with its per-row facts, and one launcher of the update kernel over it."""

    def __init__(self, pool: torch.Tensor, metric: str):
        self.x, self.cosine = pool, metric == "cosine"
        N, D = pool.shape
        self.cdt = torch.float64 if pool.dtype == torch.float64 else torch.float32
        device = pool.device
        rows = _INTERPRET_ROWS if device.type == "cpu" else _GPU_ROWS
        self.cfg = {"BLOCK_N": max(16, min(rows, triton.next_power_of_2(N))),
                    "BLOCK_D": max(16, min(64, triton.next_power_of_2(D)))}
        self.grid = (triton.cdiv(N, self.cfg["BLOCK_N"]),)
        self.blk_max = torch.empty(self.grid[0], dtype=self.cdt, device=device)
        self.blk_arg = torch.empty(self.grid[0], dtype=torch.int64, device=device)
        # |x|^2 (euclidean) or |x| (cosine) per row, in bounded row chunks: no N x D copy
        self.facts = torch.empty(N, dtype=self.cdt, device=device)
        for i in range(0, N, 1 << 16):
            xc = pool[i:i + (1 << 16)].to(self.cdt)
            self.facts[i:i + (1 << 16)] = torch.linalg.vector_norm(xc, dim=1) if self.cosine \
                else (xc * xc).sum(1)

    def embed(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows [m, D] in the metric's space and the compute dtype (centers: tiny)."""
        r = rows.to(self.cdt)
        return (r / torch.linalg.vector_norm(r, dim=1, keepdim=True) if self.cosine else r).contiguous()

    def update(self, mind: torch.Tensor, centers: torch.Tensor, direct: bool = False) -> int:
        """Fold ``centers`` [L, D] (embedded) into ``mind``; return the farthest row (lowest on ties)."""
        c_sq = (centers * centers).sum(1)
        _kcenter_update_kernel[self.grid](self.x, self.facts, self.facts, centers, c_sq, centers.shape[0], mind,
                                          self.blk_max, self.blk_arg, self.x.shape[0], self.x.shape[1],
                                          REFINE_RTOL, COSINE=self.cosine, DIRECT=direct, **self.cfg)
        return int(self.blk_arg[int(torch.argmax(self.blk_max))])  # first maximum: lowest block

    def mean(self) -> torch.Tensor:
        """Pool mean in the metric's space: float64 sums over blocks of 4096 rows (the reference's
        order), rounded to the compute dtype."""
        total = torch.zeros(self.x.shape[1], dtype=torch.float64, device=self.x.device)
        for i in range(0, self.x.shape[0], 4096):
            total += self.embed(self.x[i:i + 4096]).sum(0).to(torch.float64)
        return (total / self.x.shape[0]).to(self.cdt)


def k_center_greedy(pool: torch.Tensor, b: int, labeled: torch.Tensor, exclude: torch.Tensor,
                    metric: str = "euclidean") -> torch.Tensor:
    """Core-set greedy picks ``[b]``; see :func:`rlmba.reference.selection.k_center_greedy`."""
    p = _Pool(pool, metric)
    N = pool.shape[0]
    mind = torch.full((N,), float("inf"), dtype=p.cdt, device=pool.device)
    if exclude.numel():
        mind[exclude] = float("-inf")
    if labeled.shape[0]:
        pick = p.update(mind, p.embed(labeled))
    elif exclude.numel():
        pick = int(torch.argmax(mind))  # every free row at +inf: the lowest one
    else:
        scratch = torch.full((N,), float("inf"), dtype=p.cdt, device=pool.device)
        pick = p.update(scratch, p.mean()[None], direct=True)
    picks = []
    for step in range(b):
        picks.append(pick)
        mind[pick] = float("-inf")
        if step + 1 < b:
            pick = p.update(mind, p.embed(pool[pick:pick + 1]))
    return torch.tensor(picks, dtype=torch.int64, device=pool.device)
