// AVX2 + F16C distances on 16-bit rows, shared by k-center on float16/bfloat16 pools
// (csrc/cpu/kcenter.cpp) and the float16 bound of k-means++ seeding (csrc/cpu/clustering.cpp).
// x86-64 only; callers check the CPU (has_avx2_f16c) before calling.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "rlmba/select.h"

namespace rlmba {
namespace cpu {

inline bool has_avx2_f16c() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return yes;
}

// 8 values of a float16 (kHalf) or bfloat16 row as floats: one vcvtph2ps, or a zero-extend and
// shift (bfloat16 is the top half of a float32). Both conversions are exact.
template <bool kHalf>
__attribute__((target("arch=x86-64-v3"))) inline __m256 load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kHalf) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// sum_j (scale row_j - c_j)^2 in float32: two 8-lane FMA chains over 16 columns a step, a fixed
// halving sum, then the tail in order (scale = 1: fmsub gives exactly row_j - c_j, rounded once).
template <bool kHalf>
__attribute__((target("arch=x86-64-v3"))) inline float sqdist16(const uint16_t* row, const float* c, int64_t d,
                                                                float scale) {
  const __m256 sc = _mm256_set1_ps(scale);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= d; j += 16) {
    const __m256 t0 = _mm256_fmsub_ps(load8<kHalf>(row + j), sc, _mm256_loadu_ps(c + j));
    const __m256 t1 = _mm256_fmsub_ps(load8<kHalf>(row + j + 8), sc, _mm256_loadu_ps(c + j + 8));
    a0 = _mm256_fmadd_ps(t0, t0, a0);
    a1 = _mm256_fmadd_ps(t1, t1, a1);
  }
  const __m256 a = _mm256_add_ps(a0, a1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  float acc = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
  for (; j < d; ++j) {
    const float v = kHalf ? rlmba::select::half_to_float(row[j]) : rlmba::select::bfloat16_to_float(row[j]);
    const float t = v * scale - c[j];
    acc += t * t;
  }
  return acc;
}

}  // namespace cpu
}  // namespace rlmba
#endif
