"""Vectorisable exp, log, log1p and softplus for numba kernels, in float32 and float64.

numba 0.68 lowers ``math.exp``/``math.log1p`` to scalar libm calls, which LLVM cannot vectorise;
loops built on them run slower than eager PyTorch (docs/method.md). These versions are straight-line
polynomial arithmetic plus integer arithmetic on the float's bits (an LLVM ``bitcast``), with every
special case a select, so a loop calling them vectorises to SIMD once LLVM inlines them.

Numerics (polynomials fitted with mpmath; accuracy tested in ``tests/test_numba_math.py``):

- exp(x) = 2^n exp(r): n = round(x log2 e) by the 1.5 * 2^p "shifter" trick (no float->int
  conversion, so NaN cannot become poison), r = x - n ln2_hi - n ln2_lo (ln2_hi has few significant
  bits, so n ln2_hi and the subtraction are exact; |r| <= ln2/2). exp(r) = 1 + r + r^2 q(r), q the
  Chebyshev interpolant of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2] (degree 4 / 9 for float32 /
  float64: 1e-8 / 2e-17 relative), so exp(0) = 1 exactly. 2^n is applied as two power-of-two
  factors: subnormal results round once, x above ln(max) overflows to inf. x is first clamped
  by comparisons, which keep NaN: exp(-inf) = 0, exp(+inf) = inf, exp(NaN) = NaN.
- log(x) = k ln2 + log1p(f), x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)) cut from the bits
  (f exact); log1p(f) = 2 atanh(s) = f - s (f - 2z R(z)), s = f / (2 + f), z = s^2, R the
  Chebyshev interpolant of (atanh(s)/s - 1)/z on z in [0, 0.04] (degree 2 / 7: 1e-8 / 5e-19);
  the exact f leads. Subnormal x is scaled by 2^24 / 2^54 first. log(0) = -inf, log(x < 0) = NaN,
  log(inf) = inf, log(NaN) = NaN.
- log1p(y) = log(u) + err / u with u + err = 1 + y exactly (TwoSum): the bits of y lost in
  rounding 1 + y come back to first order. log1p(-1) = -inf, log1p(y < -1) = NaN.
- softplus(x) = max(x, 0) + log1p(exp(-|x|)), the reference's stable form. Here y = exp(-|x|) is in
  [0, 1], so 1 + y = 2^k (1 + f) with f = y (k = 0) or (y - 1) / 2 (k = 1, y > 1/2), both exact:
  no TwoSum, no second division. softplus(-inf) = 0, softplus(inf) = inf, softplus(NaN) = NaN.

Only the ``contract`` fast-math flag (FMA): the others would let LLVM assume no inf/NaN and break
the masked-class (-inf) semantics. Measured max errors: float32 exp 1.04 ulp, log 0.95, log1p
1.44, softplus 1.66; float64 1.06, 1.15, 1.48, 1.67 ulp (6 * 10^6 points each).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# error_model="numpy": x / 0 gives inf/NaN instead of raising ZeroDivisionError, whose branch
# stops LLVM from vectorising. fastmath={"contract"} only: a * b + c may become one fused
# multiply-add (one rounding instead of two; 20% faster softplus here). It assumes nothing about
# inf/NaN, unlike "nnan"/"ninf"/"fast", and none of the exact steps below (the shifter, the
# TwoSum) multiplies. The kernels of this backend compile with the same options.
OPTS = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


# ---------------------------------------------------------------- bit casts (one instruction each)
@intrinsic
def _bits32(typingctx, x):
    """float32 -> its IEEE bits, sign-extended to int64 (numba's integer arithmetic is int64)."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.sext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def _from_bits32(typingctx, i):
    """The float32 whose IEEE bits are the low 32 bits of the integer i."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        wide = context.cast(builder, args[0], sig.args[0], types.int64)
        return builder.bitcast(builder.trunc(wide, ir.IntType(32)), ir.FloatType())

    return types.float32(i), codegen


@intrinsic
def _bits64(typingctx, x):
    """float64 -> its IEEE bits as int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def _from_bits64(typingctx, i):
    """The float64 whose IEEE bits are the integer i."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        wide = context.cast(builder, args[0], sig.args[0], types.int64)
        return builder.bitcast(wide, ir.DoubleType())

    return types.float64(i), codegen


# ---------------------------------------------------------------- float32
F32 = np.float32
_ZERO32, _HALF32, _ONE32, _TWO32 = F32(0.0), F32(0.5), F32(1.0), F32(2.0)
_INF32, _NAN32 = F32(np.inf), F32(np.nan)
_EXP_HI32, _EXP_LO32 = F32(89.0), F32(-104.0)  # beyond: the result is inf / rounds to 0
_SHIFT32, _SHIFT32_BITS = F32(12582912.0), 0x4B400000  # 1.5 * 2^23
_LOG2E32 = F32(1.4426950408889634)
_LN2HI32, _LN2LO32 = F32(0.693359375), F32(-2.1219444005469058e-4)
_EXPQ32 = (F32(0.5), F32(0.16666577025597988), F32(0.041666554662050534), F32(0.008363173074513711),
           F32(0.0013926176119935579))
_SQRTH32_BITS = 0x3F3504F3  # bits of sqrt(1/2)
_MIN_NORMAL32, _SUB_SCALE32 = F32(1.1754943508222875e-38), F32(16777216.0)  # 2^-126, 2^24
_LOGR32 = (F32(0.3333335668952203), F32(0.19989508857322278), F32(0.14977802158010885))


@njit(**OPTS)
def _exp32(x):
    x = _EXP_HI32 if x > _EXP_HI32 else x
    x = _EXP_LO32 if x < _EXP_LO32 else x
    t = x * _LOG2E32 + _SHIFT32
    n = t - _SHIFT32
    k = _bits32(t) - _SHIFT32_BITS
    r = (x - n * _LN2HI32) - n * _LN2LO32
    c = _EXPQ32
    p = _ONE32 + (r + r * r * (c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * c[4])))))
    k1 = k >> 1
    return p * _from_bits32((k1 + 127) << 23) * _from_bits32((k - k1 + 127) << 23)


@njit(**OPTS)
def _log1p_small32(f):
    """log(1 + f) for f in [-0.3, 0.5]."""
    s = f / (_TWO32 + f)
    z = s * s
    r = (z + z) * (_LOGR32[0] + z * (_LOGR32[1] + z * _LOGR32[2]))
    return f - s * (f - r)  # = 2s + 2s z R(z), since 2s = f - s f


@njit(**OPTS)
def _log32_core(x):
    """log(x) for finite x > 0, subnormals included."""
    sub = x < _MIN_NORMAL32
    x = x * _SUB_SCALE32 if sub else x
    ix = _bits32(x) - _SQRTH32_BITS
    k = (ix >> 23) - (24 if sub else 0)
    m = _from_bits32((ix & 0x7FFFFF) + _SQRTH32_BITS)
    kf = F32(k)
    return kf * _LN2HI32 + (kf * _LN2LO32 + _log1p_small32(m - _ONE32))


@njit(**OPTS)
def _softplus32(x):
    y = _exp32(-abs(x))
    big = y > _HALF32
    lg = _log1p_small32((y - _ONE32) * _HALF32 if big else y)
    lg = _LN2HI32 + (_LN2LO32 + lg) if big else lg
    return (x if x > _ZERO32 else _ZERO32) + lg  # NaN x: y is NaN


# ---------------------------------------------------------------- float64
F64 = np.float64
_INF64, _NAN64 = F64(np.inf), F64(np.nan)
_EXP_HI64, _EXP_LO64 = 710.0, -746.0
_SHIFT64, _SHIFT64_BITS = 6755399441055744.0, 0x4338000000000000  # 1.5 * 2^52
_LOG2E64 = 1.4426950408889634
_LN2HI64, _LN2LO64 = 0.6931471803691238, 1.9082149292705878e-10
_EXPQ64 = (0.5000000000000001, 0.16666666666666667, 0.04166666666662416, 0.00833333333333006,
           0.0013888888917196719, 0.00019841269863040545, 2.4801521322368693e-05, 2.7557268480310026e-06,
           2.7620075879983367e-07, 2.5100375832561234e-08)
_SQRTH64_BITS = 0x3FE6A09E667F3BCD
_MIN_NORMAL64, _SUB_SCALE64 = 2.2250738585072014e-308, 18014398509481984.0  # 2^-1022, 2^54
_LOGR64 = (0.3333333333333333, 0.200000000000039, 0.14285714283669595, 0.1111111151890362,
           0.09090869227361513, 0.07694417338900958, 0.0660518024256631, 0.06802007853562039)


@njit(**OPTS)
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


@njit(**OPTS)
def _log1p_small64(f):
    s = f / (2.0 + f)
    z = s * s
    c = _LOGR64
    r = (z + z) * (c[0] + z * (c[1] + z * (c[2] + z * (c[3] + z * (c[4] + z * (c[5] + z * (c[6] + z * c[7])))))))
    return f - s * (f - r)


@njit(**OPTS)
def _log64_core(x):
    sub = x < _MIN_NORMAL64
    x = x * _SUB_SCALE64 if sub else x
    ix = _bits64(x) - _SQRTH64_BITS
    k = (ix >> 52) - (54 if sub else 0)
    m = _from_bits64((ix & 0xFFFFFFFFFFFFF) + _SQRTH64_BITS)
    kf = F64(k)
    return kf * _LN2HI64 + (kf * _LN2LO64 + _log1p_small64(m - 1.0))


@njit(**OPTS)
def _softplus64(x):
    y = _exp64(-abs(x))
    big = y > 0.5
    lg = _log1p_small64((y - 1.0) * 0.5 if big else y)
    lg = _LN2HI64 + (_LN2LO64 + lg) if big else lg
    return (x if x > 0.0 else 0.0) + lg


# ---------------------------------------------------------------- dtype-generic entry points
def exp(x):
    """exp(x) of a float32/float64 scalar; numba code only (from Python: :func:`exp_array`)."""
    raise TypeError("fastmath.exp is callable from numba code only; use exp_array")


def log(x):
    """log(x); numba code only."""
    raise TypeError("fastmath.log is callable from numba code only; use log_array")


def log1p(x):
    """log(1 + x); numba code only."""
    raise TypeError("fastmath.log1p is callable from numba code only; use log1p_array")


def softplus(x):
    """max(x, 0) + log1p(exp(-|x|)); numba code only."""
    raise TypeError("fastmath.softplus is callable from numba code only; use softplus_array")


def as_float(value, like):
    """``value`` in the float type of ``like`` (scalar or array), so float32 code stays float32
    (numba types a Python literal as float64 and would promote the whole expression)."""
    raise TypeError("fastmath.as_float is callable from numba code only")


def _pick(x, f32, f64):
    return {types.float32: f32, types.float64: f64}.get(x)


def _log_impl(core, zero, one, inf, nan):
    def impl(x):
        r = core(x if (x > zero and x < inf) else one)
        r = -inf if x == zero else r
        r = inf if x == inf else r
        return nan if (x != x or x < zero) else r
    return impl


def _log1p_impl(core, zero, one, inf, nan):
    def impl(x):
        u = one + x
        bv = u - one  # TwoSum(1, x): u + err == 1 + x exactly
        err = (one - (u - bv)) + (x - bv)
        us = u if (u > zero and u < inf) else one
        r = core(us) + err / us
        r = -inf if u == zero else r
        r = inf if u == inf else r
        return nan if (u != u or u < zero) else r
    return impl


@overload(exp, jit_options=OPTS)
def _ol_exp(x):
    return _pick(x, lambda x: _exp32(x), lambda x: _exp64(x))


@overload(log, jit_options=OPTS)
def _ol_log(x):
    return _pick(x, _log_impl(_log32_core, _ZERO32, _ONE32, _INF32, _NAN32),
                 _log_impl(_log64_core, 0.0, 1.0, _INF64, _NAN64))


@overload(log1p, jit_options=OPTS)
def _ol_log1p(x):
    return _pick(x, _log1p_impl(_log32_core, _ZERO32, _ONE32, _INF32, _NAN32),
                 _log1p_impl(_log64_core, 0.0, 1.0, _INF64, _NAN64))


@overload(softplus, jit_options=OPTS)
def _ol_softplus(x):
    return _pick(x, lambda x: _softplus32(x), lambda x: _softplus64(x))


@overload(as_float, jit_options=OPTS)
def _ol_as_float(value, like):
    dtype = like.dtype if isinstance(like, types.Array) else like
    return _pick(dtype, lambda value, like: F32(value), lambda value, like: F64(value))


# ---------------------------------------------------------------- array versions (tests, Python)
@njit(**OPTS)
def exp_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = exp(x[i])
    return out


@njit(**OPTS)
def log_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = log(x[i])
    return out


@njit(**OPTS)
def log1p_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = log1p(x[i])
    return out


@njit(**OPTS)
def softplus_array(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = softplus(x[i])
    return out
