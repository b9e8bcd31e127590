// Per-element helpers of the selection and clustering kernels, shared by the C++ kernels
// (csrc/cpu/topb.cpp, kcenter.cpp, clustering.cpp) and the CUDA kernels
// (csrc/cuda/selection.cu, clustering.cu). Every function is inline and RLMBA_HD (__host__
// __device__ under nvcc).
//
// - order keys: a float maps to an unsigned integer whose order is the order of "better"
//   scores, so top-b selection is a radix select on integers (NaN -> key 0, never selected).
// - half storage: float16 / bfloat16 bits -> float32 with integer arithmetic only (vectorises
//   without F16C; exact for every finite value, inf and NaN).
// - the tie rule of every selection: equal values -> the lower index wins.
// - Elkan's triangle-inequality test, used to skip rows in the k-means++ seeding pass.
#pragma once

#include <cstdint>
#include <cstring>

#include "rlmba/config.h"

namespace rlmba {
namespace select {

template <class F> struct KeyOf;
template <> struct KeyOf<float> { using type = uint32_t; };
template <> struct KeyOf<double> { using type = uint64_t; };

template <class To, class From> RLMBA_HD RLMBA_INLINE To bit_cast(From x) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast: sizes differ");
  To y;
  memcpy(&y, &x, sizeof y);  // nvcc and gcc turn this into a register move
  return y;
}

// Order key of a score: larger key = better score. For largest=true the IEEE bit pattern is
// made monotone (negative floats: flip all bits; non-negative: set the sign bit); for
// largest=false the key is complemented. -0.0 is first turned into +0.0 (x + 0 is exact and
// maps -0 to +0 under round-to-nearest), so the two zeros tie as the spec says. NaN gets key 0;
// no other value can (key 0 would need the all-ones pattern, itself a NaN), so "key > 0" means
// "not NaN".
template <class F>
RLMBA_HD inline typename KeyOf<F>::type order_key(F x, bool largest) {
  using K = typename KeyOf<F>::type;
  const K top = K(1) << (8 * sizeof(K) - 1);
  const F canon = x + F(0);
  const K u = bit_cast<K>(canon);
  const K k = (u & top) ? K(~u) : K(u | top);
  const K kk = largest ? k : K(~k);
  return (x != x) ? K(0) : kk;
}

// float16 bits -> float32. Normal and subnormal halves: shift the exponent and mantissa into
// place and rescale by 2^112 (the exponent-bias difference 127 - 15); the multiply also
// normalises subnormals exactly. inf / NaN (exponent 31) get exponent 255 directly.
RLMBA_HD inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t em = uint32_t(h & 0x7fffu);
  const float scaled = bit_cast<float>(em << 13) * 5.192296858534828e33f;  // 2^112
  const uint32_t special = (em << 13) | 0x7f800000u;
  const uint32_t mag = em >= 0x7c00u ? special : bit_cast<uint32_t>(scaled);
  return bit_cast<float>(sign | mag);
}

// float16 bits -> float32 for finite halves only (what the kernels read: pools are validated
// finite): the same arithmetic without the inf/NaN select, which costs mask-register traffic in
// vectorised loops.
RLMBA_HD inline float half_to_float_finite(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const float scaled = bit_cast<float>(uint32_t(h & 0x7fffu) << 13) * 5.192296858534828e33f;  // 2^112
  return bit_cast<float>(sign | bit_cast<uint32_t>(scaled));
}

// bfloat16 bits -> float32: bfloat16 is the top half of a float32.
RLMBA_HD inline float bfloat16_to_float(uint16_t h) { return bit_cast<float>(uint32_t(h) << 16); }

// Storage types of a pool and load() of one element in its compute type (half pools compute in
// float32; pools are finite, validated by the Python layer).
enum Storage : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

struct Half16 { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

RLMBA_HD inline float load(float v) { return v; }
RLMBA_HD inline double load(double v) { return v; }
RLMBA_HD inline float load(Half16 v) { return half_to_float_finite(v.bits); }  // finite pools only
RLMBA_HD inline float load(BFloat16 v) { return bfloat16_to_float(v.bits); }

// Tie rule of every arg-max / arg-min: the strictly better value wins, equal values -> lower index.
template <class T> RLMBA_HD inline bool better_max(T v, int64_t i, T best, int64_t best_i) {
  return v > best || (v == best && i < best_i);
}
template <class T> RLMBA_HD inline bool better_min(T v, int64_t i, T best, int64_t best_i) {
  return v < best || (v == best && i < best_i);
}

// Elkan (2003), lemma 1, on squared distances: if d(a, c)^2 >= 4 d(x, a)^2 then
// d(x, c) >= d(x, a), so a new center c cannot lower x's nearest distance and x's row need not
// be read. `cc2` = d(a, c)^2 and `w` = d(x, a)^2 are computed values; `margin` (relative) covers
// their rounding, so a skipped row is one whose computed distance would not have been smaller.
template <class T> RLMBA_HD inline bool elkan_skip(T cc2, T w, T margin) {
  return cc2 > T(4) * w * (T(1) + margin);
}

}  // namespace select
}  // namespace rlmba
