// Per-element and per-row math shared by the C++ kernels (csrc/cpu) and the CUDA kernels
// (csrc/cuda). Everything here is an inline function marked RLMBA_HD (rlmba/config.h): __host__
// __device__ under nvcc, nothing under a plain C++ compiler, so the C++ tests exercise the same code the
// CUDA kernels run.
//
// float32 exp / log / log1p / softplus are plain polynomial arithmetic with range reduction:
// no libm call and no branch, so GCC vectorises loops that call them (glibc's vector log1pf is
// not available everywhere, and -ffast-math would break isinf(-inf) for masked logits). They
// are correct for +-inf, NaN, 0 and subnormal inputs. The polynomials are our own near-minimax
// fits (Lawson's iteratively reweighted least squares, float64, relative error, on 20001
// Chebyshev points of the reduced interval, then rounded to float32):
//   exp:   e^r = 1 + r + r^2 Q(r), deg Q = 4, r in [-ln2/2, ln2/2]: fit error 3.1e-9
//   log1p: log1p(f) = f - f^2/2 + f^3 Q(f), deg Q = 6, f in [sqrt(1/2)-1, sqrt(2)-1]: 3.2e-8
// Measured float32 errors are in tests/test_cpp_math.py. float64 calls the C math library.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "rlmba/config.h"
#include "rlmba/select.h"  // bit_cast

namespace rlmba {
namespace math {

// Uncertainty kinds of the Dirichlet ops (same order as rlmba.reference.scoring.KINDS).
enum Kind : int { kVariance = 0, kVacuity = 1, kEntropy = 2 };

// ---------------------------------------------------------------- bit casts
RLMBA_HD RLMBA_INLINE uint32_t bits(float x) { return select::bit_cast<uint32_t>(x); }
RLMBA_HD RLMBA_INLINE float from_bits(uint32_t u) { return select::bit_cast<float>(u); }

template <class T> RLMBA_HD RLMBA_INLINE T quiet_nan();
template <> RLMBA_HD RLMBA_INLINE float quiet_nan<float>() { return from_bits(0x7fc00000u); }
template <> RLMBA_HD RLMBA_INLINE double quiet_nan<double>() { return static_cast<double>(from_bits(0x7fc00000u)); }

template <class T> RLMBA_HD RLMBA_INLINE T infinity() { return static_cast<T>(from_bits(0x7f800000u)); }

// c ? a : b without a branch. Written as a ternary, GCC sinks an operand computed only for that
// branch into it and, under -ftrapping-math (the default), will not speculate the floating-point
// work back out: the loop then has control flow and is not vectorised (AVX-512 masking hides this,
// SSE2/AVX2 do not). Both operands are always computed; the bit mask picks one.
RLMBA_HD RLMBA_INLINE float select(bool c, float a, float b) {
#if defined(__CUDA_ARCH__)
  return c ? a : b;
#else
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return from_bits((bits(a) & m) | (bits(b) & ~m));
#endif
}
RLMBA_HD RLMBA_INLINE double select(bool c, double a, double b) { return c ? a : b; }  // libm: scalar anyway

RLMBA_HD RLMBA_INLINE float abs(float x) { return from_bits(bits(x) & 0x7fffffffu); }
RLMBA_HD RLMBA_INLINE double abs(double x) { return x < 0.0 ? -x : x; }

// ---------------------------------------------------------------- float32 exp
// e^r for r in [-ln2/2, ln2/2]: 1 + r + r^2 Q(r) in Horner form.
RLMBA_HD RLMBA_INLINE float exp_reduced(float r) {
  float q = 1.38146128e-3f;
  q = q * r + 8.36871006e-3f;
  q = q * r + 4.16683890e-2f;
  q = q * r + 1.66665211e-1f;
  q = q * r + 4.99999940e-1f;
  return 1.0f + r * (1.0f + r * q);
}

// e^x = 2^n e^r with n = round(x / ln2), r = x - n ln2 (Cody-Waite: ln2 split in a part with
// trailing zero bits, so n * kLn2Hi is exact for |n| <= 2^8, and the rest). Rounding to the
// nearest integer is the add-and-subtract 1.5 * 2^23 trick, whose low mantissa bits are n.
// 2^n is applied in two halves so that results down to the smallest subnormal (n = -150) and
// up to overflow (n = 128) come out of ordinary multiplies: no special cases except clamping
// x into [-104, 89], where the multiplies round to 0 and overflow to inf by themselves; NaN
// passes both clamps (comparisons with NaN are false) and propagates.
RLMBA_HD RLMBA_INLINE float exp(float x) {
  const float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float kShifter = 12582912.0f;  // 1.5 * 2^23
  float xc = select(x > 89.0f, 89.0f, x);
  xc = select(xc < -104.0f, -104.0f, xc);
  const float t = xc * kLog2e + kShifter;
  const int32_t n = static_cast<int32_t>(bits(t) - bits(kShifter));
  const float nf = t - kShifter;
  const float p = exp_reduced(xc - nf * kLn2Hi - nf * kLn2Lo);
  const int32_t n1 = n >> 1, n2 = n - n1;  // both in [-75, 64]: 2^n1, 2^n2 are normal floats
  const float s1 = from_bits(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = from_bits(static_cast<uint32_t>(n2 + 127) << 23);
  return p * s1 * s2;
}

// e^x for x <= 0 (or NaN) with one scale 2^n, n in [-127, 0]: 2^-127 has the bit pattern 0,
// so results for x < -87.7 flush to zero and clamping x at -88 is the only special case. For
// softplus and softmax, whose exp argument is never positive and where such a tiny term is lost
// against the others anyway. About 8 operations cheaper than exp.
RLMBA_HD RLMBA_INLINE float exp_nonpositive(float x) {
  const float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float kShifter = 12582912.0f;  // 1.5 * 2^23
  const float xc = select(x < -88.0f, -88.0f, x);
  const float t = xc * kLog2e + kShifter;
  const int32_t n = static_cast<int32_t>(bits(t) - bits(kShifter));
  const float nf = t - kShifter;
  const float p = exp_reduced(xc - nf * kLn2Hi - nf * kLn2Lo);
  return p * from_bits(static_cast<uint32_t>(n + 127) << 23);
}

// ---------------------------------------------------------------- float32 log1p / log
// log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]. Near 0 the result is f - f^2/2 + O(f^3), so
// tiny and subnormal f come out exact.
RLMBA_HD RLMBA_INLINE float log1p_reduced(float f) {
  float q = 8.70043635e-2f;
  q = q * f - 1.42674878e-1f;
  q = q * f + 1.49147674e-1f;
  q = q * f - 1.65775850e-1f;
  q = q * f + 1.99630633e-1f;
  q = q * f - 2.50013381e-1f;
  q = q * f + 3.33339095e-1f;
  return f + (f * f) * (f * q - 0.5f);
}

// x = 2^k m with m in [sqrt(1/2), sqrt(2)): adding 1 - sqrt(1/2) to the bit pattern moves the
// exponent boundary from 1 to sqrt(1/2); the mantissa bits plus sqrt(1/2)'s bits give m.
// Valid for positive normal x.
RLMBA_HD RLMBA_INLINE void split_exponent(float x, float& m, float& k) {
  const uint32_t kSqrtHalf = 0x3f3504f3u;  // sqrt(1/2)
  const uint32_t ix = bits(x) + (0x3f800000u - kSqrtHalf);
  k = static_cast<float>(static_cast<int32_t>(ix >> 23) - 127);
  m = from_bits((ix & 0x007fffffu) + kSqrtHalf);
}

// log(x) = k ln2 + log1p(m - 1); m - 1 is exact. Subnormal x is scaled by 2^23 first.
RLMBA_HD RLMBA_INLINE float log(float x) {
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const bool sub = x < 1.17549435e-38f;
  float m, k;
  split_exponent(select(sub, x * 8388608.0f, x), m, k);
  k = select(sub, k - 23.0f, k);
  float r = k * kLn2Hi + (log1p_reduced(m - 1.0f) + k * kLn2Lo);
  r = select(x == 0.0f, -infinity<float>(), r);
  r = select(x < 0.0f, quiet_nan<float>(), r);
  r = select(x == infinity<float>(), x, r);
  return select(x != x, x, r);
}

// log1p(x) = log(u), u = 1 + x = 2^k m. When k = 0 (u in [sqrt(1/2), sqrt(2))) the reduced
// argument is x itself, exact, so small x keep full relative accuracy. Otherwise f = m - 1 is
// exact and the rounding error of u, c = x - (u - 1), enters as c / u (first-order term).
RLMBA_HD RLMBA_INLINE float log1p(float x) {
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float u = 1.0f + x;
  float m, k;
  split_exponent(u, m, k);
  const float c = x - (u - 1.0f);
  const float f = select(k == 0.0f, x, m - 1.0f);
  const float corr = select(k == 0.0f, 0.0f, c / u);
  float r = k * kLn2Hi + (log1p_reduced(f) + (k * kLn2Lo + corr));
  r = select(x == -1.0f, -infinity<float>(), r);
  r = select(x < -1.0f, quiet_nan<float>(), r);
  r = select(x == infinity<float>(), x, r);
  return select(x != x, x, r);
}

// softplus(x) = max(x, 0) + log1p(t), t = e^-|x| in [0, 1]: no overflow, exact for |x| large,
// 0 at -inf, inf at +inf, NaN at NaN; results for x < -87.7 flush to zero (exp_nonpositive).
// log1p on [0, 1] needs no exponent split: for t > sqrt(2) - 1, 1 + t = 2 (1 + (t - 1) / 2) and
// (t - 1) / 2 is exact.
RLMBA_HD RLMBA_INLINE float softplus(float x) {
  const float kLn2 = 0.693147180559945309f;
  const float t = exp_nonpositive(from_bits(bits(x) | 0x80000000u));  // e^-|x|
  const bool big = t > 0.414213562f;
  const float f = select(big, (t - 1.0f) * 0.5f, t);
  const float l = log1p_reduced(f) + select(big, kLn2, 0.0f);
  return select(x > 0.0f, x, 0.0f) + l;
}

// ---------------------------------------------------------------- float64: the C library
RLMBA_HD RLMBA_INLINE double exp(double x) { return ::exp(x); }
RLMBA_HD RLMBA_INLINE double exp_nonpositive(double x) { return ::exp(x); }
RLMBA_HD RLMBA_INLINE double log(double x) { return ::log(x); }
RLMBA_HD RLMBA_INLINE double log1p(double x) { return ::log1p(x); }
RLMBA_HD RLMBA_INLINE double softplus(double x) { return (x > 0.0 ? x : 0.0) + ::log1p(::exp(-abs(x))); }

// ---------------------------------------------------------------- per-element pieces
// p log p with 0 log 0 = 0; NaN and negative p give NaN (as torch.special.xlogy(p, p)).
template <class T> RLMBA_HD RLMBA_INLINE T xlogx(T p) { return select(p == T(0), T(0), p * log(p)); }

// One term of sum_c a_c (S - a_c). Kept per term: S^2 - sum_c a_c^2 cancels catastrophically
// when one a_c carries most of S (a logit of 80 against nine of -80).
template <class T> RLMBA_HD RLMBA_INLINE T variance_term(T a, T S) { return a * (S - a); }

// U = (1/C) sum_c a_c (S - a_c) / (S^2 (S + 1)), in the reference's order of operations.
template <class T> RLMBA_HD RLMBA_INLINE T variance_finish(T acc, T S, int64_t C) {
  return acc / (S * S * (S + T(1))) / static_cast<T>(C);
}

// One term of the BALD mutual information in KL form: I = (1/S) sum_s sum_c p log(p / mean_c)
// equals H(mean) - mean_s H(p_s) term by term but has no cancellation between two entropies.
// p = 0 adds 0; p < 0 or NaN gives NaN (the reference's xlogy does the same).
template <class T> RLMBA_HD RLMBA_INLINE T kl_term(T p, T mean) {
  return select(p > T(0), p * log(p / mean), select(p == T(0), T(0), quiet_nan<T>()));
}

// ---------------------------------------------------------------- per-row helpers
// One row at a time; used by the CUDA kernels (one thread per row) and by the CPU "rows" path.
// Alpha is a functor c -> alpha_c, evaluated twice (sum first, terms second) so nothing of the
// row is stored: on a GPU recomputing softplus is cheaper than spilling per-class registers.
template <class T, class Alpha>
RLMBA_HD RLMBA_INLINE T dirichlet_row(const Alpha& alpha, int64_t C, int kind) {
  T S = 0;
  for (int64_t c = 0; c < C; ++c) S += alpha(c);
  if (kind == kVacuity) return static_cast<T>(C) / S;
  T acc = 0;
  if (kind == kVariance) {
    for (int64_t c = 0; c < C; ++c) acc += variance_term(alpha(c), S);
    return variance_finish(acc, S, C);
  }
  for (int64_t c = 0; c < C; ++c) acc += xlogx(alpha(c) / S);
  return -acc;
}

template <class T> struct RowAlpha {  // alpha given
  const T* a;
  RLMBA_HD T operator()(int64_t c) const { return a[c]; }
};

template <class T> struct ModalAlpha {  // alpha_m = 1 + softplus(z_m / T_m)
  const T* z;
  T inv_t;
  RLMBA_HD T operator()(int64_t c) const { return T(1) + softplus(z[c] * inv_t); }
};

template <class T> struct FusedAlpha {  // alpha_f = 1 + sum_m w_m softplus(z_m / T_m)
  const T* const* zs;
  int64_t offset;  // row * C
  int64_t M;
  const T* w;
  const T* inv_t;
  RLMBA_HD T operator()(int64_t c) const {
    T e = 0;
    for (int64_t m = 0; m < M; ++m) e += w[m] * softplus(zs[m][offset + c] * inv_t[m]);
    return T(1) + e;
  }
};

// TMC's reduced Dempster-Shafer rule, folded over M opinions, in closed form per class:
// 1 + e_f / C = prod_m (1 + e_m / C) (the conflict term cancels). With E = C (prod - 1) the
// fold is E <- E + e + E e / C, which never subtracts and gives E = e exactly for M = 1. As in
// the literal formula, a non-finite evidence anywhere in the row makes the whole fused row NaN
// when M >= 2.
template <class T> RLMBA_HD RLMBA_INLINE T ds_step(T E, T e, T inv_c) { return E + e + E * (e * inv_c); }

template <class T>
RLMBA_HD RLMBA_INLINE void fuse_ds_row(const T* const* zs, int64_t offset, int64_t M, int64_t C,
                                       const T* inv_t, T* out) {
  const T inv_c = T(1) / static_cast<T>(C);
  T bad = 0;
  for (int64_t c = 0; c < C; ++c) {
    T E = 0;
    for (int64_t m = 0; m < M; ++m) {
      const T e = softplus(zs[m][offset + c] * inv_t[m]);
      E = ds_step(E, e, inv_c);
      bad += e * T(0);  // NaN iff some e is inf or NaN
    }
    out[c] = T(1) + E;
  }
  if (M > 1 && bad != bad)
    for (int64_t c = 0; c < C; ++c) out[c] = quiet_nan<T>();
}

// Entropy, margin and least confidence of one row of logits, from e_c = exp(z_c - max):
// Z = k + rest (k = how many classes attain the max, rest = the other e_c), entropy =
// log Z - sum_c e_c (z_c - max) / Z with log Z = log1p(k - 1 + rest) (exact near Z = 1),
// least confidence = (k - 1 + rest) / Z without the 1 - 1/Z cancellation, margin = (1 - e_(2))
// / Z, or 0 on a tie. Masked (-inf) classes have e = 0 and add nothing; a NaN or +inf logit
// makes every score NaN (through Z).
template <class T> struct Scores3 {
  T entropy, margin, least_confidence;
};

template <class T> RLMBA_HD RLMBA_INLINE Scores3<T> logit_scores_finish(T k, T rest, T h, T m1, T m2) {
  const T Z = k + rest, other = (k - T(1)) + rest;
  const T margin = select(k > T(1), T(0), (T(1) - exp_nonpositive(m2 - m1)) / Z);
  return {log1p(other) - h / Z, select(Z != Z, Z, margin), other / Z};
}

// Running top two of a row (ties count twice, so a tied maximum gives m2 = m1).
template <class T> RLMBA_HD RLMBA_INLINE void top2_step(T v, T& m1, T& m2) {
  m2 = select(v > m2, select(v < m1, v, m1), m2);
  m1 = select(v > m1, v, m1);
}

template <class T> RLMBA_HD RLMBA_INLINE Scores3<T> logit_scores_row(const T* x, int64_t C) {
  T m1 = -infinity<T>(), m2 = -infinity<T>();
  for (int64_t c = 0; c < C; ++c) top2_step(x[c], m1, m2);
  T k = 0, rest = 0, h = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T d = x[c] - m1, ed = exp_nonpositive(d);
    k += select(d == T(0), T(1), T(0));
    rest += select(d == T(0), T(0), ed);
    h += select(ed > T(0), ed * d, T(0));
  }
  return logit_scores_finish(k, rest, h, m1, m2);
}

// The same scores of one row of probabilities: entropy -sum p log p, p_(1) - p_(2), 1 - p_(1).
// A NaN probability makes all three NaN (torch.topk ranks NaN first).
template <class T> RLMBA_HD RLMBA_INLINE Scores3<T> prob_scores_row(const T* x, int64_t C) {
  T m1 = -infinity<T>(), m2 = -infinity<T>(), h = 0, nan = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T v = x[c];
    top2_step(v, m1, m2);
    h += xlogx(v);
    nan = select(v != v, v, nan);
  }
  return {-h, (m1 - m2) + nan, (T(1) - m1) + nan};
}

// BALD of one row: probs at p[s * stride_s + c]. The mean of class c is recomputed per class
// (S reads, cached) so nothing per class is stored.
template <class T> RLMBA_HD RLMBA_INLINE T bald_row(const T* p, int64_t S, int64_t stride_s, int64_t C) {
  T acc = 0;
  for (int64_t c = 0; c < C; ++c) {
    T mean = 0;
    for (int64_t s = 0; s < S; ++s) mean += p[s * stride_s + c];
    mean = mean / static_cast<T>(S);
    for (int64_t s = 0; s < S; ++s) acc += kl_term(p[s * stride_s + c], mean);
  }
  return acc / static_cast<T>(S);
}

}  // namespace math
}  // namespace rlmba
