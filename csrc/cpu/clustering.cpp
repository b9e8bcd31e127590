// Clustering kernels on the CPU: the nearest-centroid epilogue of a GEMM tile, k-means++ seeding
// and the per-cluster sums of a Lloyd update.
//
// No libtorch: Python (rlmba.backends.cpp.clustering) passes data_ptr()s of validated, contiguous
// buffers and int64 sizes; every entry point releases the GIL. Every result is independent of the
// thread count: reductions are split into fixed blocks or by column, never by thread.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/select.h"
#include "rlmba/storage.h"
#include "rlmba/half_rows.h"  // has_avx2_f16c, sqdist16
#ifdef RLMBA_WITH_OPENMP
#include <omp.h>
#endif

#define RLMBA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace py = pybind11;

namespace rlmba {
namespace cpu {
namespace {  // file-local helpers

int max_threads() {
#ifdef RLMBA_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// |row - c|^2 with 16 partial sums and a halving tree (an omp-simd reduction would end every row
// with 16 dependent scalar adds, which costs more than reading a short row).
template <class S, class C> inline C sqdist(const S* row, const C* c, int64_t d) {
  constexpr int kLanes = 16;
  C part[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= d; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const C t = C(rlmba::select::load(row[j + l])) - c[j + l];
      part[l] += t * t;
    }
  for (int l = 0; j < d; ++j, ++l) {
    const C t = C(rlmba::select::load(row[j])) - c[j];
    part[l] += t * t;
  }
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) part[l] += part[l + w];
  return part[0];
}

// First j minimising cent_sq[j] - 2 g[j]. Each of 16 lanes keeps its own (value, first index)
// with a strict <, then the lanes merge (equal values -> lower index). Written with GCC vector
// types: the loop vectoriser does not turn an arg-min into SIMD, and a min reduction followed by
// an index search would scan every row twice. float only; double takes the scalar loop.
typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

inline F8 load_f8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline int64_t first_argmin(const float* g, const float* cent_sq, int64_t k) {
  const float inf = std::numeric_limits<float>::infinity();
  F8 b0 = {inf, inf, inf, inf, inf, inf, inf, inf}, b1 = b0;
  I8 a0 = {0, 1, 2, 3, 4, 5, 6, 7}, a1 = a0 + 8, at0 = a0, at1 = a1;
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) {
    const F8 v0 = load_f8(cent_sq + j) - 2.0f * load_f8(g + j);
    const F8 v1 = load_f8(cent_sq + j + 8) - 2.0f * load_f8(g + j + 8);
    const I8 lt0 = v0 < b0, lt1 = v1 < b1;
    b0 = lt0 ? v0 : b0, a0 = lt0 ? at0 : a0;
    b1 = lt1 ? v1 : b1, a1 = lt1 ? at1 : a1;
    at0 += 16, at1 += 16;
  }
  float best = inf;
  int64_t bi = k;
  for (int l = 0; l < 8; ++l) {
    if (b0[l] < best || (b0[l] == best && a0[l] < bi)) best = b0[l], bi = a0[l];
    if (b1[l] < best || (b1[l] == best && a1[l] < bi)) best = b1[l], bi = a1[l];
  }
  for (; j < k; ++j) {  // tail: later indices, so a strict < keeps ties earlier
    const float v = cent_sq[j] - 2.0f * g[j];
    if (v < best) best = v, bi = j;
  }
  return bi;
}

inline int64_t first_argmin(const double* g, const double* cent_sq, int64_t k) {
  double best = std::numeric_limits<double>::infinity();
  int64_t bi = 0;
  for (int64_t j = 0; j < k; ++j) {
    const double v = cent_sq[j] - 2.0 * g[j];
    if (v < best) best = v, bi = j;
  }
  return bi;
}

}  // namespace

// ================================================================ nearest centroid (GEMM epilogue)
// g = x_tile @ centroids^T [m, k] comes from torch's GEMM. Per row: the arg-min of
// |c_j|^2 - 2 g_ij (|x|^2 is the same for every j; ties -> lowest j), then the distance to that
// centroid recomputed in the direct form sqrt(sum (x - c)^2): no cancellation, exactly 0 for a
// row equal to its centroid. Bytes: the tile of g (m * k) and of x, once; centroids stay cached.
template <class C>
RLMBA_CLONES void nearest_range(const C* g, const C* xt, const C* cent, const C* cent_sq, int64_t k, int64_t d,
                                int64_t lo, int64_t hi, C* dist, int64_t* idx) {
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t j = first_argmin(g + i * k, cent_sq, k);
    idx[i] = j;
    dist[i] = std::sqrt(sqdist(xt + i * d, cent + j * d, d));
  }
}

template <class C>
void nearest_centroid(const C* g, const C* xt, const C* cent, const C* cent_sq, int64_t m, int64_t k, int64_t d,
                      C* dist, int64_t* idx) {
  const int T = static_cast<int>(std::min<int64_t>(max_threads(), std::max<int64_t>(1, m * k / (1 << 15))));
#pragma omp parallel for num_threads(T) schedule(static)
  for (int t = 0; t < T; ++t) nearest_range(g, xt, cent, cent_sq, k, d, m * t / T, m * (t + 1) / T, dist, idx);
}

// ================================================================ k-means++ seeding
// Arthur & Vassilvitskii (2007) D^2 sampling, with the random numbers drawn by the caller:
// pick 0 = floor(u[0] * n); pick s >= 1 = the first row whose float64 prefix sum of w (squared
// distance to the nearest pick) exceeds u[s] * total. The prefix sums have a fixed order, the
// spec of rlmba.reference.clustering.d2_pick: sequential within blocks of kBlock rows, then the
// block sums sequentially; so every thread count (and the torch reference) gives the same bits.
// Each step is one pass over the rows, block by block: w = min(w, |x - c|^2) (direct form,
// exactly 0 for duplicates of a pick), the nearest pick a, and the block's sum. Rows whose
// nearest pick a is far from c (Elkan's test on d(a, c)^2 >= 4 w) are not read: on clustered data
// most rows are skipped after the first few picks. Float32 pools that Elkan's test barely thins
// get a second, float16 test (HalfBound below). Bytes per step: w and a (12 bytes a row), the
// D * 2 bytes float16 row of every row Elkan's test keeps (once the copy exists), plus the
// D * sizeof(storage) row of every row that the tests cannot skip.
constexpr int64_t kBlock = 2048;

// ---- HalfBound, the float16 bound (float32 pools, AVX2 + F16C CPUs): on unclustered data
// (isotropic Gaussian) Elkan's test rules out almost nothing, so every step reads the pool. A float16
// copy xh (half the bytes) and e_i >= |x_i - xh_i| (float64, rounded up) give, by the triangle
// inequality, |x - c| >= |xh - c| - e_i. With |xh - c|^2 computed in float32 (rounding < margin),
// a row whose bound still exceeds sqrt(w (1 + margin)) would get an exact distance above w: its
// float32 row is not read. Rows that overflow float16 get e = inf (always read). The picks, w
// and a are the same bits with or without it. Extra memory: n d 2 + 4 n bytes.
#if defined(__x86_64__)
// Rows [lo, hi) of the copy: xh = x rounded to nearest float16, err = |x - xh| rounded up.
__attribute__((target("arch=x86-64-v3"))) void to_half_copy(const float* x, int64_t d, int64_t lo, int64_t hi,
                                                            uint16_t* xh, float* err) {
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t i = lo; i < hi; ++i) {
    const float* row = x + i * d;
    uint16_t* h = xh + i * d;
    __m256d e4 = _mm256_setzero_pd();
    int overflow = 0;
    int64_t j = 0;
    for (; j + 8 <= d; j += 8) {  // round to nearest; (x - back)^2 summed in float64
      const __m256 v = _mm256_loadu_ps(row + j);
      const __m128i h8 = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(h + j), h8);
      const __m256 back = _mm256_cvtph_ps(h8);
      overflow |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(back, abs_mask), inf, _CMP_EQ_OQ));
      const __m256d t0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),  // exact in float64
                                       _mm256_cvtps_pd(_mm256_castps256_ps128(back)));
      const __m256d t1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)),
                                       _mm256_cvtps_pd(_mm256_extractf128_ps(back, 1)));
      e4 = _mm256_fmadd_pd(t0, t0, _mm256_fmadd_pd(t1, t1, e4));
    }
    double e4s[4];
    _mm256_storeu_pd(e4s, e4);
    double e = (e4s[0] + e4s[1]) + (e4s[2] + e4s[3]);
    bool finite = overflow == 0;
    for (; j < d; ++j) {
      h[j] = _cvtss_sh(row[j], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const float back = _cvtsh_ss(h[j]);
      finite &= std::isfinite(back);
      const double t = double(row[j]) - double(back);
      e += t * t;
    }
    // float(sqrt) may round down by half an ulp: 1 + 2^-20 rounds it back up
    err[i] = finite ? float(std::sqrt(e)) * (1.0f + 1.0f / (1 << 20)) : std::numeric_limits<float>::infinity();
  }
}

// true when the float16 bound shows |x - c|^2 >= w: the row need not be read
__attribute__((target("arch=x86-64-v3"), always_inline)) inline bool half_skip(const uint16_t* h, const float* c,
                                                                               int64_t d, float err, float w,
                                                                               float margin) {
  const float v = sqdist16<true>(h, c, d, 1.0f);
  const float lb = std::sqrt(v * (1.0f - margin)) - err;
  return lb > 0.0f && lb * lb > w * (1.0f + margin);
}

// todo[0, count): keeps, in order, the rows half_skip cannot rule out; returns their count. The
// float16 rows (scattered once Elkan's test skips most) are prefetched a few ahead.
__attribute__((target("arch=x86-64-v3"))) int64_t half_filter(const uint16_t* xh, int64_t d, const float* c,
                                                             const float* err, const float* w, float margin,
                                                             int64_t* todo, int64_t count) {
  constexpr int64_t kAhead = 8;
  const int64_t row_bytes = d * int64_t(sizeof(uint16_t));
  int64_t kept = 0;
  for (int64_t t = 0; t < count; ++t) {
    if (t + kAhead < count) {
      const char* ahead = reinterpret_cast<const char*>(xh + todo[t + kAhead] * d);
      for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(ahead + off);
    }
    const int64_t i = todo[t];
    todo[kept] = i;
    kept += !half_skip(xh + i * d, c, d, err[i], w[i], margin);
  }
  return kept;
}
#endif

template <class S, class C>
RLMBA_CLONES double seeding_block(const S* x, int64_t d, int64_t lo, int64_t hi, const C* c, const C* cc2,
                                  C margin, int64_t s, C* w, int64_t* a, const uint16_t* xh, const float* err,
                                  int64_t* stats) {
  if (s == 0) {
    for (int64_t i = lo; i < hi; ++i) w[i] = sqdist(x + i * d, c, d), a[i] = 0;
    stats[0] = stats[1] = hi - lo;
  } else {
    // rows Elkan's test cannot skip, compacted without branches; then their distances, the
    // rows (scattered once most are skipped) prefetched a few ahead
    int64_t todo[kBlock];
    int64_t count = 0;
    for (int64_t i = lo; i < hi; ++i) {
      todo[count] = i;
      count += !rlmba::select::elkan_skip(cc2[a[i]], w[i], margin);
    }
    stats[0] = count;  // rows Elkan's test kept
#if defined(__x86_64__)
    if constexpr (std::is_same_v<S, float>) {
      if (xh) count = half_filter(xh, d, c, err, w, margin, todo, count);  // the float16 bound
    }
#endif
    constexpr int64_t kAhead = 4;
    int64_t improved = 0;
    const int64_t row_bytes = d * static_cast<int64_t>(sizeof(S));
    for (int64_t t = 0; t < count; ++t) {
      if (t + kAhead < count) {
        const char* ahead = reinterpret_cast<const char*>(x + todo[t + kAhead] * d);
        for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(ahead + off);
      }
      const int64_t i = todo[t];
      const C v = sqdist(x + i * d, c, d);
      if (v < w[i]) w[i] = v, a[i] = s, ++improved;  // ties keep the earlier pick: lowest centroid index
    }
    stats[1] = improved;  // rows the new pick came closer to
  }
  double q = 0;
  for (int64_t i = lo; i < hi; ++i) q += static_cast<double>(w[i]);  // sequential: the spec's order
  return q;
}

// The row holding the D^2 sample for target u * total (see rlmba.reference.clustering.d2_pick).
template <class C>
int64_t d2_pick(const C* w, const std::vector<double>& block_sum, int64_t n, double u,
                const std::vector<char>& picked) {
  const int64_t nb = static_cast<int64_t>(block_sum.size());
  std::vector<double> ends(nb);
  double o = 0;
  for (int64_t b = 0; b < nb; ++b) ends[b] = o = o + block_sum[b];
  const double total = o;
  if (!(total > 0)) {  // every row duplicates a pick: the lowest unpicked row
    int64_t i = 0;
    while (picked[i]) ++i;
    return i;
  }
  const double target = u * total;
  const int64_t b = std::upper_bound(ends.begin(), ends.end(), target) - ends.begin();
  if (b < nb) {
    const double offset = b == 0 ? 0.0 : ends[b - 1];
    double q = 0;
    for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) {
      q += static_cast<double>(w[i]);
      if (offset + q > target) return i;
    }
  }
  int64_t i = n - 1;  // rounding left no prefix above the target: the last row with w > 0
  while (i > 0 && !(w[i] > 0)) --i;
  return i;
}

// HalfBound needs a float32 pool and an AVX2 + F16C CPU.
template <class S> bool half_supported() {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<S, float>) return has_avx2_f16c();
#endif
  return false;
}

// The float16 copy of a float32 pool (HalfBound above), built in parallel; callers check
// half_supported<S>() first.
template <class S>
void build_half(const S* x, int64_t n, int64_t d, std::vector<uint16_t>& xh, std::vector<float>& err) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<S, float>) {
    xh.resize(n * d);
    err.resize(n);
    const int64_t nb = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; ++b) to_half_copy(x, d, b * kBlock, std::min(n, (b + 1) * kBlock), xh.data(), err.data());
  }
#endif
}

// half_bound: 1 on from the first step, 0 off, -1 auto: on once a step (from kHalfAfter on) had
// Elkan's test keep over a quarter of the rows yet under a quarter of those come closer: then
// most rows read are read in vain, and the bound would rule them out (float32 pools, d >= 16).
constexpr int64_t kHalfAfter = 16;

inline bool half_pays(const std::vector<int64_t>& stats, int64_t n) {
  int64_t kept = 0, improved = 0;
  for (size_t b = 0; b < stats.size(); b += 2) kept += stats[b], improved += stats[b + 1];
  return 4 * kept > n && 4 * improved < kept;
}

template <class S, class C>
void kmeanspp(const S* x, int64_t n, int64_t d, int64_t k, const double* u, int64_t* seeds, C* w, int64_t* a,
              int half_bound) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<uint16_t> xh;
  std::vector<float> err;
  std::vector<int64_t> stats(2 * nb);  // per block: rows Elkan's test kept, rows that came closer
  const bool half_on = half_bound == 1 && half_supported<S>();
  const bool half_auto = half_bound == -1 && d >= 16 && half_supported<S>();
  if (half_on) build_half(x, n, d, xh, err);
  std::vector<double> block_sum(nb);
  std::vector<char> picked(n, 0);
  std::vector<C> c(d), cc2(k);
  // Elkan's test compares computed squared distances: allow for their rounding (about d ulps).
  const C margin = std::max(C(1e-4), C(8) * C(d) * std::numeric_limits<C>::epsilon());
  int64_t pick = std::min<int64_t>(n - 1, static_cast<int64_t>(u[0] * static_cast<double>(n)));
  for (int64_t s = 0; s < k; ++s) {
    if (half_auto && xh.empty() && s >= kHalfAfter && half_pays(stats, n))
      build_half(x, n, d, xh, err);
    const uint16_t* xhp = xh.empty() ? nullptr : xh.data();
    seeds[s] = pick;
    picked[pick] = 1;
    for (int64_t j = 0; j < d; ++j) c[j] = C(rlmba::select::load(x[pick * d + j]));
    for (int64_t p = 0; p < s; ++p) cc2[p] = sqdist(x + seeds[p] * d, c.data(), d);
    const int T = static_cast<int>(std::min<int64_t>(max_threads(), std::max<int64_t>(1, n * d / (1 << 16))));
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t b = 0; b < nb; ++b)
      block_sum[b] = seeding_block(x, d, b * kBlock, std::min(n, (b + 1) * kBlock), c.data(), cc2.data(), margin,
                                   s, w, a, xhp, err.data(), &stats[2 * b]);
    if (s + 1 < k) pick = d2_pick(w, block_sum, n, u[s + 1], picked);
  }
}

// ================================================================ Lloyd update: cluster sums
// sums[a_i] += x_i (float64), counts[a_i] += 1. Threads split the columns (16 at a time), each
// adding its columns of every row in row order: the float64 sums have a fixed order whatever the
// thread count. Bytes: one read of x and a; sums (k * D float64) stay in cache.
template <class S>
RLMBA_CLONES void sums_columns(const S* x, int64_t n, int64_t d, const int64_t* a, int64_t j0, int64_t j1,
                               double* sums) {
  for (int64_t i = 0; i < n; ++i) {
    const S* row = x + i * d;
    double* acc = sums + a[i] * d;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) acc[j] += static_cast<double>(rlmba::select::load(row[j]));
  }
}

template <class S>
void cluster_sums(const S* x, int64_t n, int64_t d, const int64_t* a, double* sums, int64_t* counts) {
  constexpr int64_t kCols = 16;
  const int64_t nc = (d + kCols - 1) / kCols;
  const int T = static_cast<int>(std::min<int64_t>(max_threads(), nc));
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t cb = 0; cb < nc; ++cb) sums_columns(x, n, d, a, cb * kCols, std::min(d, (cb + 1) * kCols), sums);
  for (int64_t i = 0; i < n; ++i) ++counts[a[i]];
}

}  // namespace cpu
}  // namespace rlmba

// ================================================================ bindings
namespace {
using rlmba::select::BFloat16;
using rlmba::select::Half16;

using rlmba::select::by_storage;
using rlmba::select::ptr;

}  // namespace

RLMBA_BINDINGS(cpu_clustering) {
  m.def("nearest_centroid", [](uintptr_t g, uintptr_t xt, uintptr_t cent, uintptr_t cent_sq, int64_t m_rows,
                               int64_t k, int64_t d, uintptr_t dist, uintptr_t idx, bool is_double) {
    py::gil_scoped_release release;
    if (is_double)
      rlmba::cpu::nearest_centroid(ptr<const double>(g), ptr<const double>(xt), ptr<const double>(cent),
                                   ptr<const double>(cent_sq), m_rows, k, d, ptr<double>(dist), ptr<int64_t>(idx));
    else
      rlmba::cpu::nearest_centroid(ptr<const float>(g), ptr<const float>(xt), ptr<const float>(cent),
                                   ptr<const float>(cent_sq), m_rows, k, d, ptr<float>(dist), ptr<int64_t>(idx));
  }, "Nearest centroid (ties -> lowest index) and its Euclidean distance from a GEMM tile g = x @ C^T.");

  m.def("kmeanspp", [](uintptr_t x, int storage, int64_t n, int64_t d, int64_t k, uintptr_t u, uintptr_t seeds,
                       uintptr_t w, uintptr_t a, int half_bound) {
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      rlmba::cpu::kmeanspp(xs, n, d, k, ptr<const double>(u), ptr<int64_t>(seeds), ptr<C>(w), ptr<int64_t>(a),
                           half_bound);
    });
  }, "k-means++ seeds[k] from the float64 uniforms u[k]; w[n] = squared distance to the nearest seed, "
     "a[n] = its position in seeds. half_bound: the float16 skip test for float32 pools (1 on, 0 off, -1 auto).");

  m.def("cluster_sums", [](uintptr_t x, int storage, int64_t n, int64_t d, uintptr_t a, uintptr_t sums,
                           uintptr_t counts) {
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto*) {
      rlmba::cpu::cluster_sums(xs, n, d, ptr<const int64_t>(a), ptr<double>(sums), ptr<int64_t>(counts));
    });
  }, "Add x's rows into sums[a_i] (float64 [k, D], zeroed by the caller) and count them into counts[k].");
}
