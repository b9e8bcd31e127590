"""Triton kernels of the selection ops, with thin launchers that take and return torch tensors.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.

Implemented: the k-center primitives (``TritonKCenter``) and top-b (``topb_select``).

top-b: one pass writes each block's best key (key = x, or -x for smallest; NaN -> -inf); the b-th
best block key t is a lower bound of the b-th best value (b blocks each hold a value >= t), so the
rows with key >= t contain the answer. A second pass marks them, torch compacts them (ascending
index) and torch's stable sort orders the few candidates: ties -> lower index, NaN never taken.

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

from ..backends.kcenter import KCenter
from ..reference.selection import REFINE_RTOL

_INTERPRET_ROWS = 4096  # the interpreter costs ~1.5 ms per program instance: few, large ones
_GPU_ROWS = 256
_TOPB_INTERPRET_BLOCK = 1 << 14
_TOPB_GPU_BLOCK = 256  # small blocks: many more blocks than b, so a tight threshold


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


@triton.jit
def _labeled_min_kernel(x, norms, sq, lab, lab_sq, L, mind, N, D, rtol, COSINE: tl.constexpr,
                        BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr):
    # Grid (cdiv(N, BLOCK_N),): program i folds the labeled set into mind[rows] as the reference's
    # _dist_to_set does: tl.dot tiles (>= 16, ieee: no TF32) of x.lab over D, running first arg-min of
    # |l|^2 - 2 x.l (cosine: -x.l), then d = |x|^2 + min (cosine 1 + min), recomputed directly against
    # the winner where below rtol * scale. Bytes moved: reads N*D pool elements once per labeled tile
    # plus L*D labeled elements per program, N*D again for the direct pass; reads/writes N mind.
    CT: tl.constexpr = mind.dtype.element_ty
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = rows < N
    dcols = tl.arange(0, BLOCK_D)
    lcols = tl.arange(0, BLOCK_L).to(tl.int64)
    if COSINE:
        norm = tl.load(norms + rows, mask=ok, other=1.0)  # padding divides by 1, not 0
    best = tl.full([BLOCK_N], float("inf"), CT)
    best_j = tl.zeros([BLOCK_N], tl.int64)
    for l0 in range(0, L, BLOCK_L):
        lj = l0 + lcols
        l_ok = lj < L
        acc = tl.zeros([BLOCK_N, BLOCK_L], CT)
        for d0 in range(0, D, BLOCK_D):
            dd = d0 + dcols
            d_ok = dd < D
            xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=ok[:, None] & d_ok[None, :], other=0.0).to(CT)
            if COSINE:
                xt = xt / norm[:, None]
            lt = tl.load(lab + lj[None, :] * D + dd[:, None], mask=l_ok[None, :] & d_ok[:, None], other=0.0)
            acc = tl.dot(xt, lt, acc, input_precision="ieee")
        if COSINE:
            score = -acc
        else:
            lsq = tl.load(lab_sq + lj, mask=l_ok, other=0.0)
            score = lsq[None, :] - 2.0 * acc
        score = tl.where(l_ok[None, :], score, float("inf"))
        m = tl.min(score, axis=1)
        j = tl.min(tl.where(score == m[:, None], lj[None, :], L), axis=1)  # first minimum in the tile
        closer = m < best  # strict: an earlier tile keeps a tie
        best_j = tl.where(closer, j, best_j)
        best = tl.where(closer, m, best)
    if COSINE:
        d = 1.0 + best
        near = d < rtol
    else:
        xsq = tl.load(sq + rows, mask=ok, other=0.0)
        d = xsq + best
        near = d < rtol * (xsq + tl.load(lab_sq + best_j, mask=ok, other=0.0))
    direct = tl.zeros([BLOCK_N], CT)  # cancellation guard: direct |x - l_j|^2 (every row; cheap next to the dots)
    for d0 in range(0, D, BLOCK_D):
        dd = d0 + dcols
        mask = ok[:, None] & (dd < D)[None, :]
        xt = tl.load(x + rows[:, None] * D + dd[None, :], mask=mask, other=0.0).to(CT)
        if COSINE:
            xt = xt / norm[:, None]
        diff = xt - tl.load(lab + best_j[:, None] * D + dd[None, :], mask=mask, other=0.0)
        direct += tl.sum(diff * diff, axis=1)
    if COSINE:
        direct = direct * 0.5
    d = tl.maximum(tl.where(near, direct, d), 0.0)
    tl.store(mind + rows, tl.minimum(tl.load(mind + rows, mask=ok, other=0.0), d), mask=ok)


@triton.jit
def _topb_block_key_kernel(x, out, n, LARGEST: tl.constexpr, BLOCK: tl.constexpr):
    # Grid (cdiv(n, BLOCK),): program i writes out[i] = max key of x[i*BLOCK, (i+1)*BLOCK).
    # Bytes moved: reads n elements, writes one per program.
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(x + offs, mask=offs < n, other=float("nan"))
    key = tl.where(v == v, v if LARGEST else -v, float("-inf"))  # NaN and padding rank last
    tl.store(out + pid, tl.max(key, axis=0))


@triton.jit
def _topb_candidates_kernel(x, thr, mask, n, LARGEST: tl.constexpr, BLOCK: tl.constexpr):
    # Grid (cdiv(n, BLOCK),): mask[i] = x[i] is not NaN and its key >= thr[0].
    # Bytes moved: reads n elements, writes n bytes.
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    v = tl.load(x + offs, mask=ok, other=float("nan"))
    t = tl.load(thr)
    key = tl.where(v == v, v if LARGEST else -v, float("-inf"))
    tl.store(mask + offs, ((v == v) & (key >= t)).to(tl.int8), mask=ok)


def topb_select(x: torch.Tensor, b: int, largest: bool = True) -> torch.Tensor:
    """Indices of the ``min(b, #non-NaN)`` best entries, best first; see
    :func:`rlmba.reference.selection.topb_select`."""
    n = x.shape[0]
    block = max(16, min(_TOPB_INTERPRET_BLOCK if x.device.type == "cpu" else _TOPB_GPU_BLOCK,
                        triton.next_power_of_2(n)))
    grid = (triton.cdiv(n, block),)
    keys = torch.empty(grid[0], dtype=x.dtype, device=x.device)
    _topb_block_key_kernel[grid](x, keys, n, LARGEST=bool(largest), BLOCK=block)
    if grid[0] > b:  # the b-th best block key (values only: ties do not matter here)
        thr = torch.topk(keys, b).values[-1:].contiguous()
    else:
        thr = torch.full((1,), float("-inf"), dtype=x.dtype, device=x.device)
    mask = torch.empty(n, dtype=torch.int8, device=x.device)
    _topb_candidates_kernel[grid](x, thr, mask, n, LARGEST=bool(largest), BLOCK=block)
    cand = torch.nonzero(mask).squeeze(1)  # ascending index
    values = x[cand] + 0.0  # -0.0 + 0.0 = +0.0: both zeros compare (and sort) equal
    return cand[torch.sort(values, descending=largest, stable=True).indices[:b]]


class TritonKCenter(KCenter):
    """The pool with its per-row facts (|x|^2, or |x| for cosine) and the launchers of the update
    and labeled-set kernels over it."""

    def __init__(self, pool: torch.Tensor, metric: str):
        super().__init__(pool, metric)
        N, D = pool.shape
        device = pool.device
        rows = _INTERPRET_ROWS if device.type == "cpu" else _GPU_ROWS
        self.cfg = {"BLOCK_N": max(16, min(rows, triton.next_power_of_2(N))),
                    "BLOCK_D": max(16, min(64, triton.next_power_of_2(D)))}
        self.grid = (triton.cdiv(N, self.cfg["BLOCK_N"]),)
        self.blk_max = torch.empty(self.grid[0], dtype=self.dtype, device=device)
        self.blk_arg = torch.empty(self.grid[0], dtype=torch.int64, device=device)
        # |x|^2 (euclidean) or |x| (cosine) per row, in bounded row chunks: no N x D copy
        self.facts = torch.empty(N, dtype=self.dtype, device=device)
        for i in range(0, N, 1 << 16):
            xc = pool[i:i + (1 << 16)].to(self.dtype)
            self.facts[i:i + (1 << 16)] = torch.linalg.vector_norm(xc, dim=1) if self.cosine \
                else (xc * xc).sum(1)

    def _launch(self, mind: torch.Tensor, centers: torch.Tensor, direct: bool) -> int:
        c_sq = (centers * centers).sum(1)
        _kcenter_update_kernel[self.grid](self.pool, self.facts, self.facts, centers, c_sq, centers.shape[0], mind,
                                          self.blk_max, self.blk_arg, self.pool.shape[0], self.pool.shape[1],
                                          REFINE_RTOL, COSINE=self.cosine, DIRECT=direct, **self.cfg)
        return int(self.blk_arg[int(torch.argmax(self.blk_max))])  # first maximum: lowest block

    def update(self, mind: torch.Tensor, c: torch.Tensor) -> tuple[float, int]:
        i = self._launch(mind, c.contiguous()[None], direct=False)
        return float(mind[i]), i

    def farthest(self, point: torch.Tensor) -> int:
        scratch = torch.full((self.pool.shape[0],), float("inf"), dtype=self.dtype, device=self.pool.device)
        return self._launch(scratch, point.contiguous()[None], direct=True)

    def labeled_min(self, labeled: torch.Tensor, mind: torch.Tensor) -> None:
        """Fold the labeled rows [L, D] into ``mind`` by tl.dot tiles."""
        lab = self.embed(labeled).contiguous()
        lab_sq = (lab * lab).sum(1)
        cfg = {"BLOCK_N": min(self.cfg["BLOCK_N"], 1024 if self.pool.device.type == "cpu" else 64),
               "BLOCK_L": max(16, min(64, triton.next_power_of_2(lab.shape[0]))), "BLOCK_D": self.cfg["BLOCK_D"]}
        _labeled_min_kernel[(triton.cdiv(self.pool.shape[0], cfg["BLOCK_N"]),)](
            self.pool, self.facts, self.facts, lab, lab_sq, lab.shape[0], mind, self.pool.shape[0],
            self.pool.shape[1], REFINE_RTOL, COSINE=self.cosine, **cfg)
