"""Triton kernels of the scoring ops, with thin launchers that take and return torch tensors.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.

Layout shared by every kernel: one program owns ``BLOCK_N`` consecutive rows (samples) and holds
all C classes in one ``BLOCK_C = next_power_of_2(C)`` tile; the padded lanes are masked and
replaced with neutral values by ``tl.where`` before any arithmetic. Offsets are int64
(``tl.program_id(0).to(tl.int64)``). Half inputs compute in float32, float64 in float64: the
compute type is the output's element type.

Special values follow :mod:`rlmba.reference.scoring` exactly, but no lane ever evaluates
inf - inf, 0 * inf, 0 / 0 or log(0): each kernel flags NaN / +-inf lanes, computes on
sanitised values, then writes the reference's NaN / inf per row. That keeps the kernels free of
floating-point exceptions (the interpreter turns them into numpy warnings, which fail the tests).

The M modality logits arrive as separate ``[n, C]`` tensors and are passed as a tuple of pointers
(Triton >= 3.3 tuple arguments): no stacking copy whatever their layout, one compiled kernel per
M. Weights and temperatures travel in a tiny device tensor of the compute dtype (cached), so
float64 runs use the exact float64 values (a Python float argument would be passed as float32).

Largest class count: ``MAX_CLASSES`` (one tile per row block); larger C raises ValueError.
"""
from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from .._checks import compute_dtype

MAX_CLASSES = 1 << 14
# Elements per program on a GPU and per thread (tile / (32 * num_warps)). Sized from ptxas's
# register counts (sm_90, compiled not run): efda M=3 entropy, the heaviest kernel, needs
# 87-104 registers at 8 float32 elements per thread and 154-173 at 4 float64, no spills; twice
# that per thread spills in float64 and reaches 230+ registers in float32.
_GPU_TILE = {torch.float32: 2048, torch.float64: 1024}
_PER_THREAD = {torch.float32: 8, torch.float64: 4}
_INTERPRET_TILE = 1 << 16  # the interpreter costs ~1 ms per program instance: few, large ones
KIND_CODES = {"variance": 0, "vacuity": 1, "entropy": 2}


# ---------------------------------------------------------------- shared device functions
@triton.jit
def _tile(n, C, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    """Row indices, [BLOCK_N, BLOCK_C] element offsets and validity mask of this program's tile."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, BLOCK_C)
    offs = rows[:, None] * C + cols[None, :]
    valid = (rows < n)[:, None] & (cols < C)[None, :]
    return rows, cols, offs, valid


@triton.jit
def _log1p(y):
    """log(1 + y) for y >= 0, accurate for tiny y: log(u) * y / (u - 1) with u = fl(1 + y)
    cancels the rounding of u (Goldberg's trick); u == 1 means y is below half an ulp: log1p = y."""
    u = 1.0 + y
    d = u - 1.0
    return tl.where(d == 0, y, tl.log(u) * (y / tl.where(d == 0, 1.0, d)))


@triton.jit
def _evidence(z_ptr, offs, valid, T, CT: tl.constexpr):
    """e = softplus(z / T) = max(x, 0) + log1p(exp(-|x|)): never overflows; -inf -> 0, +inf -> inf,
    NaN -> NaN without any invalid operation. Padded lanes load -inf, i.e. zero evidence."""
    x = tl.load(z_ptr + offs, mask=valid, other=float("-inf")).to(CT) / T
    return tl.maximum(x, 0.0) + _log1p(tl.exp(-tl.abs(x)))


@triton.jit
def _any(cond):
    """Row-wise logical or of a [BLOCK_N, BLOCK_C] boolean tile."""
    return tl.max(tl.where(cond, 1, 0), axis=1) > 0


@triton.jit
def _xlogx(p):
    """p log p with 0 log 0 = 0, for p >= 0 (callers flag p < 0 and NaN themselves)."""
    return p * tl.log(tl.where(p > 0, p, 1.0))


@triton.jit
def _dirichlet(a, valid, C, KIND: tl.constexpr):
    """Per-row uncertainty of Dir(a) for a [BLOCK_N, BLOCK_C] tile (reference semantics).

    variance (1/C) sum_c a_c (S - a_c) / (S^2 (S + 1)), vacuity C / S, entropy of p = a / S.
    A NaN or infinite alpha makes variance and entropy NaN; vacuity is C / S with S = +-inf -> 0
    and NaN -> NaN, as IEEE division gives. Zero sums (alpha <= 0 is invalid input) give the
    reference's inf / NaN without dividing by zero.
    """
    nan_el = valid & (a != a)
    pinf_el = valid & (a == float("inf"))
    ninf_el = valid & (a == float("-inf"))
    fin = valid & (a == a) & (tl.abs(a) < float("inf"))
    af = tl.where(fin, a, 0.0)
    S = tl.sum(af, axis=1)
    any_nan, any_pinf, any_ninf = _any(nan_el), _any(pinf_el), _any(ninf_el)
    zero = S == 0
    S_safe = tl.where(zero, 1.0, S)
    nonfinite = any_nan | any_pinf | any_ninf
    # One return at the end: the compiler inlines only the constexpr branch taken.
    if KIND == 1:
        u = tl.where(zero, float("inf"), C / S_safe)
        u = tl.where(any_pinf | any_ninf, 0.0, u)
        u = tl.where(any_nan | (any_pinf & any_ninf), float("nan"), u)
    elif KIND == 0:
        # a_c (S - a_c) >= 0 term by term: no S^2 - sum a^2 cancellation.
        num = tl.sum(af * (S[:, None] - af), axis=1)
        den = S * S * (S + 1.0)
        den0 = den == 0
        u = num / tl.where(den0, 1.0, den) / C
        u = tl.where(den0, tl.where(num == 0, float("nan"), tl.where(num > 0, float("inf"), float("-inf"))), u)
        u = tl.where(nonfinite, float("nan"), u)
    else:
        p = af / S_safe[:, None]
        u = -tl.sum(_xlogx(p), axis=1)
        u = tl.where(nonfinite | zero | _any(fin & (p < 0)), float("nan"), u)
    return u


@triton.jit
def _weighted_term(e, w):
    """w * e with the reference's 0 * inf = NaN, computed without forming 0 * inf."""
    is_inf = e == float("inf")
    return tl.where(is_inf, tl.where(w > 0, float("inf"), float("nan")), w * tl.where(is_inf, 0.0, e))


# ---------------------------------------------------------------- kernels
@triton.jit
def _fuse_evidence_kernel(zs, params, out, n, C, M: tl.constexpr, DS: tl.constexpr,
                          BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    # Grid (cdiv(n, BLOCK_N),): program i fuses rows [i*BLOCK_N, (i+1)*BLOCK_N), all classes.
    # Bytes moved: reads M*n*C input elements, writes n*C compute-dtype elements (alpha_f).
    CT: tl.constexpr = out.dtype.element_ty
    rows, cols, offs, valid = _tile(n, C, BLOCK_N, BLOCK_C)
    ef = tl.zeros([BLOCK_N, BLOCK_C], CT)
    bad = rows < 0  # all False: rows with a NaN or +inf evidence (the DS rule NaNs them whole)
    for m in tl.static_range(M):
        e = _evidence(zs[m], offs, valid, tl.load(params + M + m), CT)
        if DS:
            # TMC's reduced Dempster-Shafer rule in closed form, 1 + e_f/C = prod_m (1 + e_m/C),
            # folded as e_f <- e_f + e_m + e_f e_m / C: all terms >= 0, so no 1 + x - 1 cancellation.
            nonfinite = valid & ((e != e) | (e == float("inf")))
            bad = bad | _any(nonfinite)
            e = tl.where(nonfinite, 0.0, e)
            ef = ef + e + ef * e / C
        else:
            ef = ef + _weighted_term(e, tl.load(params + m))
    alpha = 1.0 + ef
    if DS:
        alpha = tl.where(bad[:, None], float("nan"), alpha)
    tl.store(out + offs, alpha, mask=valid)


@triton.jit
def _dirichlet_uncertainty_kernel(alpha, out, n, C, KIND: tl.constexpr,
                                  BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    # Grid (cdiv(n, BLOCK_N),): program i scores rows [i*BLOCK_N, (i+1)*BLOCK_N).
    # Bytes moved: reads n*C input elements, writes n compute-dtype elements.
    CT: tl.constexpr = out.dtype.element_ty
    rows, cols, offs, valid = _tile(n, C, BLOCK_N, BLOCK_C)
    a = tl.load(alpha + offs, mask=valid, other=1.0).to(CT)
    tl.store(out + rows, _dirichlet(a, valid, C, KIND), mask=rows < n)


@triton.jit
def _efda_scores_kernel(zs, params, out_fused, out_modal, n, C, M: tl.constexpr, KIND: tl.constexpr,
                        BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    # Grid (cdiv(n, BLOCK_N),): program i scores rows [i*BLOCK_N, (i+1)*BLOCK_N) of every modality.
    # Bytes moved: reads M*n*C input elements, writes (M + 1)*n compute-dtype elements; neither
    # alpha_m nor alpha_f is ever stored: each softplus is evaluated once and feeds both.
    CT: tl.constexpr = out_fused.dtype.element_ty
    rows, cols, offs, valid = _tile(n, C, BLOCK_N, BLOCK_C)
    ef = tl.zeros([BLOCK_N, BLOCK_C], CT)
    modal_row = out_modal  # advanced by n per modality: pointer steps, no int32 m * n product
    for m in tl.static_range(M):
        e = _evidence(zs[m], offs, valid, tl.load(params + M + m), CT)
        tl.store(modal_row + rows, _dirichlet(1.0 + e, valid, C, KIND), mask=rows < n)
        modal_row += n
        ef = ef + _weighted_term(e, tl.load(params + m))
    tl.store(out_fused + rows, _dirichlet(1.0 + ef, valid, C, KIND), mask=rows < n)


@triton.jit
def _scores_from_logits(x, valid, cols):
    """(entropy, margin, least confidence, NaN row) of softmax(x) for a [BLOCK_N, BLOCK_C] tile."""
    xm = tl.where(valid & (x == x), x, float("-inf"))
    # torch.softmax gives a NaN row for any NaN or +inf logit, and for an all -inf row (padded
    # rows too). Such rows compute on the harmless logits [0, -inf, ...] and store NaN.
    bad = _any(valid & ((x != x) | (x == float("inf")))) | (tl.max(xm, axis=1) == float("-inf"))
    first = tl.where(cols == 0, 0.0, float("-inf"))
    xs = tl.where(bad[:, None], first[None, :], xm)
    t = xs - tl.max(xs, axis=1)[:, None]  # <= 0; -inf for masked classes and padding: exp -> 0
    et = tl.exp(t)
    Z = tl.sum(et, axis=1)  # >= 1: the arg-max lane contributes exp(0)
    p = et / Z[:, None]
    # H = log Z - sum_c p_c t_c: two non-negative terms, no cancellation; p_c = 0 where t = -inf.
    entropy = tl.log(Z) - tl.sum(p * tl.where(t == float("-inf"), 0.0, t), axis=1)
    top = tl.argmax(xs, axis=1)  # ties: lowest index, so an equal runner-up stays in
    t2 = tl.max(tl.where(cols[None, :] == top[:, None], float("-inf"), t), axis=1)
    p1 = 1.0 / Z
    return entropy, p1 - tl.exp(t2) / Z, 1.0 - p1, bad


@triton.jit
def _scores_from_probs(x, valid, cols):
    """(entropy, margin, least confidence, NaN row) of probability rows x, any values, as torch:
    xlogy(p, p) is NaN for p < 0 and +inf at +inf; topk ranks NaN first, then +inf."""
    xm = tl.where(valid & (x == x), x, float("-inf"))  # NaN and padding rank last
    fin = valid & (x >= 0) & (x < float("inf"))
    entropy = -tl.sum(_xlogx(tl.where(fin, x, 0.0)), axis=1)
    entropy = tl.where(_any(valid & (x == float("inf"))), float("-inf"), entropy)
    entropy = tl.where(_any(valid & (x < 0)), float("nan"), entropy)  # x < 0 includes -inf
    top = tl.argmax(xm, axis=1)
    p1 = tl.max(xm, axis=1)
    p2 = tl.max(tl.where(cols[None, :] == top[:, None], float("-inf"), xm), axis=1)
    same_inf = (p1 == p2) & (tl.abs(p1) == float("inf"))  # inf - inf: the reference's NaN
    margin = tl.where(same_inf, float("nan"), tl.where(same_inf, 0.0, p1) - tl.where(same_inf, 0.0, p2))
    return entropy, margin, 1.0 - p1, _any(valid & (x != x))


@triton.jit
def _uncertainty_scores_kernel(x_ptr, out, n, C, FROM_LOGITS: tl.constexpr,
                               BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    # Grid (cdiv(n, BLOCK_N),): program i scores rows [i*BLOCK_N, (i+1)*BLOCK_N).
    # Bytes moved: reads n*C input elements, writes 3*n compute-dtype elements
    # (entropy, margin, least confidence at out[0], out[n], out[2n]).
    CT: tl.constexpr = out.dtype.element_ty
    rows, cols, offs, valid = _tile(n, C, BLOCK_N, BLOCK_C)
    x = tl.load(x_ptr + offs, mask=valid, other=0.0).to(CT)
    if FROM_LOGITS:
        entropy, margin, least, nan_row = _scores_from_logits(x, valid, cols)
    else:
        entropy, margin, least, nan_row = _scores_from_probs(x, valid, cols)
    ok = rows < n
    tl.store(out + rows, tl.where(nan_row, float("nan"), entropy), mask=ok)
    tl.store(out + n + rows, tl.where(nan_row, float("nan"), margin), mask=ok)
    tl.store(out + n + n + rows, tl.where(nan_row, float("nan"), least), mask=ok)  # no int32 2 * n


@triton.jit
def _bald_kernel(probs, out, S, n, C, stride_s, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    # Grid (cdiv(n, BLOCK_N),): program i scores rows [i*BLOCK_N, (i+1)*BLOCK_N), looping over the
    # S MC samples (sample s starts at probs + s*stride_s). Bytes moved: reads S*n*C input
    # elements, writes n compute-dtype elements.
    CT: tl.constexpr = out.dtype.element_ty
    rows, cols, offs, valid = _tile(n, C, BLOCK_N, BLOCK_C)
    total = tl.zeros([BLOCK_N, BLOCK_C], CT)   # sum_s p_s
    plogp = tl.zeros([BLOCK_N], CT)            # sum_s sum_c p_s log p_s
    bad = rows < 0                             # NaN, +inf or negative probabilities: NaN score
    sample = probs  # advanced by stride_s per sample: pointer steps, no int32 s * stride_s product
    for _ in range(S):
        p = tl.load(sample + offs, mask=valid, other=0.0).to(CT)
        sample += stride_s
        bad_el = valid & ((p != p) | (p < 0) | (p == float("inf")))
        bad = bad | _any(bad_el)
        p = tl.where(bad_el, 0.0, p)
        total += p
        plogp += tl.sum(_xlogx(p), axis=1)
    mean = total / S
    # I = H(mean) - mean_s H(p_s): the reference's order; it cancels when the samples agree.
    mi = -tl.sum(_xlogx(mean), axis=1) + plogp / S
    tl.store(out + rows, tl.where(bad, float("nan"), mi), mask=rows < n)


# ---------------------------------------------------------------- launchers


def _launch_config(n: int, C: int, device: torch.device, dtype: torch.dtype, name: str) -> dict:
    """BLOCK_N / BLOCK_C / num_warps for an [n, C] problem of compute ``dtype``; grid cdiv(n, BLOCK_N).

    A row never splits across programs, so C > tile gives one row per program and up to 16 warps
    (C = MAX_CLASSES spills registers there: correct, not fast)."""
    if C > MAX_CLASSES:
        raise ValueError(f"{name}: C = {C} classes exceeds the Triton kernels' one-tile limit "
                         f"{MAX_CLASSES}; use backend='cuda' or 'torch'")
    block_c = triton.next_power_of_2(C)
    tile = _INTERPRET_TILE if device.type == "cpu" else _GPU_TILE[dtype]
    block_n = max(1, min(tile // block_c, triton.next_power_of_2(n)))
    num_warps = min(16, max(4, block_n * block_c // (32 * _PER_THREAD[dtype])))
    return {"BLOCK_N": block_n, "BLOCK_C": block_c, "num_warps": num_warps}


def _grid(n: int, config: dict) -> tuple[int]:
    return (triton.cdiv(n, config["BLOCK_N"]),)


@functools.lru_cache(maxsize=64)
def _params(weights: tuple, temperatures: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[w_1..w_M, T_1..T_M] in the compute dtype on the device; cached (weights change per round)."""
    return torch.tensor(weights + temperatures, dtype=dtype, device=device)


def fuse_evidence(zs, weights, temperatures, rule: str = "weighted") -> torch.Tensor:
    """alpha_f [n, C]; see :func:`rlmba.reference.scoring.fuse_evidence`."""
    n, C = zs[0].shape
    dtype, device = compute_dtype(zs[0].dtype), zs[0].device
    w = tuple(weights) if weights is not None else (0.0,) * len(zs)
    params = _params(w, tuple(temperatures), dtype, device)
    out = torch.empty(n, C, dtype=dtype, device=device)
    config = _launch_config(n, C, device, dtype, "logits")
    _fuse_evidence_kernel[_grid(n, config)](tuple(zs), params, out, n, C, M=len(zs), DS=rule == "ds", **config)
    return out


def dirichlet_uncertainty(alpha: torch.Tensor, kind: str = "variance") -> torch.Tensor:
    """[n]; see :func:`rlmba.reference.scoring.dirichlet_uncertainty`."""
    n, C = alpha.shape
    out = torch.empty(n, dtype=compute_dtype(alpha.dtype), device=alpha.device)
    config = _launch_config(n, C, alpha.device, out.dtype, "alpha")
    _dirichlet_uncertainty_kernel[_grid(n, config)](alpha, out, n, C, KIND=KIND_CODES[kind], **config)
    return out


def efda_scores(zs, weights, temperatures, kind: str = "variance"):
    """(u_fused [n], u_modal [M, n]); see :func:`rlmba.reference.scoring.efda_scores`."""
    n, C = zs[0].shape
    dtype, device = compute_dtype(zs[0].dtype), zs[0].device
    params = _params(tuple(weights), tuple(temperatures), dtype, device)
    u_fused = torch.empty(n, dtype=dtype, device=device)
    u_modal = torch.empty(len(zs), n, dtype=dtype, device=device)
    config = _launch_config(n, C, device, dtype, "logits")
    _efda_scores_kernel[_grid(n, config)](tuple(zs), params, u_fused, u_modal, n, C, M=len(zs),
                                          KIND=KIND_CODES[kind], **config)
    return u_fused, u_modal


def uncertainty_scores(x: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    """[3, n] entropy, margin, least confidence; see :func:`rlmba.reference.scoring.uncertainty_scores`."""
    n, C = x.shape
    out = torch.empty(3, n, dtype=compute_dtype(x.dtype), device=x.device)
    config = _launch_config(n, C, x.device, out.dtype, "probs")
    _uncertainty_scores_kernel[_grid(n, config)](x, out, n, C, FROM_LOGITS=bool(from_logits), **config)
    return out


def bald(probs: torch.Tensor) -> torch.Tensor:
    """[n] mutual information of probs [S, n, C] (rows contiguous, any stride(0))."""
    S, n, C = probs.shape
    out = torch.empty(n, dtype=compute_dtype(probs.dtype), device=probs.device)
    config = _launch_config(n, C, probs.device, out.dtype, "probs")
    _bald_kernel[_grid(n, config)](probs, out, S, n, C, probs.stride(0), **config)
    return out
