"""Vectorisable exp, log, log1p and softplus for numba kernels, in float32 and float64.

numba 0.68 lowers ``math.exp``/``math.log1p`` to scalar libm calls, which LLVM cannot vectorise;
loops built on them run slower than eager PyTorch (PLATFORM.md). These versions are straight-line
polynomial arithmetic plus integer bit manipulation on the float's bits (``bitcast``), with every
special case written as a select, so a loop calling them (inlined) vectorises to SIMD.

Numerics (derivations reproducible with mpmath; accuracy tested in ``tests/test_numba_math.py``):

- exp(x) = 2^n exp(r), n = round(x / ln 2) by the 1.5 * 2^p "shifter" trick (no float->int
  conversion, so no poison on NaN), r = x - n ln2_hi - n ln2_lo (ln2_hi has few significant bits:
  n ln2_hi and the subtraction are exact; |r| <= ln2/2). exp(r) = 1 + r + r^2 q(r), q the
  Chebyshev interpolant of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2] (degree 4 for float32, 9 for
  float64; approximation error 1e-8 and 2e-17 relative), so exp(0) = 1 exactly. 2^n is applied as
  two power-of-two factors so results in the subnormal range round once and x > ln(max) gives inf.
  x is clamped to [lo, hi] first by comparisons that keep NaN; exp(-inf) = 0, exp(+inf) = inf.
- log(x) = k ln2 + log(m), x = 2^k m with m in [sqrt(1/2), sqrt(2)) taken from the bits;
  log(m) = 2 atanh(s) = 2s + 2s z R(z), s = (m - 1) / (m + 1), z = s^2 <= 0.0295, R a Chebyshev
  interpolant (degree 2 / 6; error 3e-9 / 5e-18 relative). Subnormal x is scaled by 2^p first.
  log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, log(NaN) = NaN.
- log1p(y) = log(u) + err / u, with u + err = 1 + y exactly (TwoSum), so the bits of y lost in
  rounding 1 + y come back to first order; log1p(-1) = -inf, log1p(y < -1) = NaN.
- softplus(x) = max(x, 0) + log1p(exp(-|x|)) (stable for any x; 0 at -inf, inf at +inf, NaN at NaN).

Only ``fastmath``-free code: global fast-math would let LLVM assume no inf/NaN and break the
masked-class (-inf) semantics.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# ---------------------------------------------------------------- bit casts (vectorisable)
@intrinsic
def _bits32(typingctx, x):
    """float32 -> its IEEE bits, sign-extended to int64."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.sext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))

    return types.int64(types.float32), codegen


@intrinsic
def _from_bits32(typingctx, i):
    """int64 -> float32 whose IEEE bits are the low 32 bits of i."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        low = builder.trunc(context.cast(builder, args[0], sig.args[0], types.int64), ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return types.float32(i), codegen


@intrinsic
def _bits64(typingctx, x):
    """float64 -> its IEEE bits as int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits64(typingctx, i):
    """int64 -> float64 with those IEEE bits."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(context.cast(builder, args[0], sig.args[0], types.int64), ir.DoubleType())

    return types.float64(i), codegen


# ---------------------------------------------------------------- float32
F32 = np.float32
_INF32, _NAN32 = F32(np.inf), F32(np.nan)
_EXP_HI32, _EXP_LO32 = F32(89.0), F32(-104.0)  # beyond: inf / rounds to 0
_SHIFT32 = F32(12582912.0)  # 1.5 * 2^23: adding it rounds to an integer held in the low bits
_SHIFT32_BITS = 0x4B400000
_LOG2E32 = F32(1.4426950408889634)
_LN2HI32, _LN2LO32 = F32(0.693359375), F32(-2.1219444005469058e-4)
_EXPQ32 = (F32(0.5), F32(0.16666577025597988), F32(0.041666554662050534), F32(0.008363173074513711),
           F32(0.0013926176119935579))
_SQRTH32_BITS = 0x3F3504F3  # bits of sqrt(1/2)
_MIN_NORMAL32, _SUB_SCALE32 = F32(1.1754943508222875e-38), F32(16777216.0)  # 2^-126, 2^24
_LOGR32 = (F32(0.33333342519787927), F32(0.1999439028301099), F32(0.14789974695986392))
_ZERO32, _ONE32, _TWO32 = F32(0.0), F32(1.0), F32(2.0)


@njit(cache=True)
def _exp32(x):
    x = _EXP_HI32 if x > _EXP_HI32 else x  # comparisons keep NaN
    x = _EXP_LO32 if x < _EXP_LO32 else x
    t = x * _LOG2E32 + _SHIFT32
    n = t - _SHIFT32
    k = _bits32(t) - _SHIFT32_BITS
    r = (x - n * _LN2HI32) - n * _LN2LO32
    q = _EXPQ32[0] + r * (_EXPQ32[1] + r * (_EXPQ32[2] + r * (_EXPQ32[3] + r * _EXPQ32[4])))
    p = _ONE32 + (r + r * r * q)
    k1 = k >> 1
    return p * _from_bits32((k1 + 127) << 23) * _from_bits32((k - k1 + 127) << 23)


@njit(cache=True)
def _log32_core(x):
    """log(x) for finite x > 0 (subnormals included)."""
    sub = x < _MIN_NORMAL32
    x = x * _SUB_SCALE32 if sub else x
    ix = _bits32(x) - _SQRTH32_BITS
    k = (ix >> 23) - (24 if sub else 0)
    m = _from_bits32((ix & 0x7FFFFF) + _SQRTH32_BITS)
    f = m - _ONE32  # exact: m in [sqrt(1/2), sqrt(2))
    s = f / (_TWO32 + f)
    z = s * s
    r = (z + z) * (_LOGR32[0] + z * (_LOGR32[1] + z * _LOGR32[2]))
    logm = f - s * (f - r)  # = 2s + 2s z R(z), since 2s = f - s f; the exact f leads
    kf = F32(k)
    return kf * _LN2HI32 + (kf * _LN2LO32 + logm)


# ---------------------------------------------------------------- float64
F64 = np.float64
_INF64, _NAN64 = F64(np.inf), F64(np.nan)
_EXP_HI64, _EXP_LO64 = 710.0, -746.0
_SHIFT64 = 6755399441055744.0  # 1.5 * 2^52
_SHIFT64_BITS = 0x4338000000000000
_LOG2E64 = 1.4426950408889634
_LN2HI64, _LN2LO64 = 0.6931471803691238, 1.9082149292705878e-10
_EXPQ64 = (0.5000000000000001, 0.16666666666666667, 0.04166666666662416, 0.00833333333333006,
           0.0013888888917196719, 0.00019841269863040545, 2.4801521322368693e-05, 2.7557268480310026e-06,
           2.7620075879983367e-07, 2.5100375832561234e-08)
_SQRTH64_BITS = 0x3FE6A09E667F3BCD
_MIN_NORMAL64, _SUB_SCALE64 = 2.2250738585072014e-308, 18014398509481984.0  # 2^-1022, 2^54
_LOGR64 = (0.3333333333333335, 0.1999999999994975, 0.14285714312987742, 0.1111110556739754,
           0.09091444562630861, 0.07665860800278021, 0.07308224842521703)


@njit(cache=True)
def _exp64(x):
    x = _EXP_HI64 if x > _EXP_HI64 else x
    x = _EXP_LO64 if x < _EXP_LO64 else x
    t = x * _LOG2E64 + _SHIFT64
    n = t - _SHIFT64
    k = _bits64(t) - _SHIFT64_BITS
    r = (x - n * _LN2HI64) - n * _LN2LO64
    c = _EXPQ64
    q = c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * (c[6] + r * (
        c[7] + r * (c[8] + r * c[9]))))))))
    p = 1.0 + (r + r * r * q)
    k1 = k >> 1
    return p * _from_bits64((k1 + 1023) << 52) * _from_bits64((k - k1 + 1023) << 52)


@njit(cache=True)
def _log64_core(x):
    sub = x < _MIN_NORMAL64
    x = x * _SUB_SCALE64 if sub else x
    ix = _bits64(x) - _SQRTH64_BITS
    k = (ix >> 52) - (54 if sub else 0)
    m = _from_bits64((ix & 0xFFFFFFFFFFFFF) + _SQRTH64_BITS)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    c = _LOGR64
    r = (z + z) * (c[0] + z * (c[1] + z * (c[2] + z * (c[3] + z * (c[4] + z * (c[5] + z * c[6]))))))
    logm = f - s * (f - r)
    kf = F64(k)
    return kf * _LN2HI64 + (kf * _LN2LO64 + logm)


# ---------------------------------------------------------------- dtype-generic entry points
def _pick(x, f32, f64):
    if x == types.float32:
        return f32
    if x == types.float64:
        return f64
    return None


def exp(x):
    """exp(x), vectorisable; call from numba code (float32 or float64)."""
    raise TypeError("rlmba.backends.numba.fastmath.exp is for numba code; use exp_array from Python")


def log(x):
    """log(x), vectorisable; call from numba code."""
    raise TypeError("rlmba.backends.numba.fastmath.log is for numba code; use log_array from Python")


def log1p(x):
    """log(1 + x), vectorisable; call from numba code."""
    raise TypeError("rlmba.backends.numba.fastmath.log1p is for numba code; use log1p_array from Python")


def softplus(x):
    """max(x, 0) + log1p(exp(-|x|)), vectorisable; call from numba code."""
    raise TypeError("rlmba.backends.numba.fastmath.softplus is for numba code; use softplus_array from Python")


def as_float(value, like):
    """``value`` as the float type of ``like`` (a float scalar or array): keeps float32 code float32."""
    raise TypeError("as_float is for numba code")


@overload(exp, jit_options={"cache": True})
def _ol_exp(x):
    f32 = lambda x: _exp32(x)  # noqa: E731
    f64 = lambda x: _exp64(x)  # noqa: E731
    return _pick(x, f32, f64)


def _log_impl(core, zero, one, inf, nan):
    def impl(x):
        finite_pos = x > zero and x < inf
        r = core(x if finite_pos else one)
        r = -inf if x == zero else r
        r = inf if x == inf else r
        return nan if (x != x or x < zero) else r
    return impl


@overload(log, jit_options={"cache": True})
def _ol_log(x):
    return _pick(x, _log_impl(_log32_core, _ZERO32, _ONE32, _INF32, _NAN32),
                 _log_impl(_log64_core, 0.0, 1.0, _INF64, _NAN64))


def _log1p_impl(core, zero, one, inf, nan):
    def impl(x):
        u = one + x
        bv = u - one  # TwoSum(1, x): u + err == 1 + x exactly
        err = (one - (u - bv)) + (x - bv)
        ok = u > zero and u < inf
        us = u if ok else one
        r = core(us) + err / us
        r = -inf if u == zero else r
        r = inf if u == inf else r
        return nan if (u != u or u < zero) else r
    return impl


@overload(log1p, jit_options={"cache": True})
def _ol_log1p(x):
    return _pick(x, _log1p_impl(_log32_core, _ZERO32, _ONE32, _INF32, _NAN32),
                 _log1p_impl(_log64_core, 0.0, 1.0, _INF64, _NAN64))


def _softplus_impl(exp_fn, core, zero, one):
    def impl(x):
        # y = exp(-|x|) in [0, 1], so u = 1 + y in [1, 2]: log1p without its special cases.
        # NaN flows through y, err; -inf: y = 0, result 0; +inf: max part inf, y = 0.
        y = exp_fn(-abs(x))
        u = one + y
        err = y - (u - one)  # Fast2Sum, 1 >= y: u + err == 1 + y exactly
        return (x if x > zero else zero) + (core(u) + err / u)
    return impl


@overload(softplus, jit_options={"cache": True})
def _ol_softplus(x):
    return _pick(x, _softplus_impl(_exp32, _log32_core, _ZERO32, _ONE32),
                 _softplus_impl(_exp64, _log64_core, 0.0, 1.0))


@overload(as_float, jit_options={"cache": True})
def _ol_as_float(value, like):
    dtype = like.dtype if isinstance(like, types.Array) else like
    return _pick(dtype, lambda value, like: F32(value), lambda value, like: F64(value))


# ---------------------------------------------------------------- array wrappers (tests, Python use)
@njit(cache=True)
def exp_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = exp(x[i])
    return out


@njit(cache=True)
def log_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = log(x[i])
    return out


@njit(cache=True)
def log1p_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = log1p(x[i])
    return out


@njit(cache=True)
def softplus_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = softplus(x[i])
    return out
