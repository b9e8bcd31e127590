// Clustering kernels on the CPU: the nearest-centroid epilogue of a GEMM tile, k-means++ seeding
// and the per-cluster sums of a Lloyd update.
//
// Every result is independent of the thread count: reductions are split into fixed blocks or by
// column, never by thread. Hot loops have baseline, AVX2 and AVX-512 variants chosen per call
// (rlmba/cpu_runtime.h).
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
#include "rlmba/cpu_runtime.h"
#include "rlmba/half_rows.h"  // has_avx2_f16c, sqdist16
#include "rlmba/host.h"
#include "rlmba/kmeanspp.h"
#include "rlmba/select.h"

namespace py = pybind11;

namespace rlmba {
namespace cpu {
namespace {  // file-local helpers

// |row - c|^2 with 16 partial sums and a halving tree (an omp-simd reduction would end every row
// with 16 dependent scalar adds, which costs more than reading a short row).
template <class S, class C> RLMBA_INLINE C sqdist(const S* row, const C* c, int64_t d) {
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

RLMBA_INLINE F8 load_f8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

RLMBA_INLINE int64_t first_argmin(const float* g, const float* cent_sq, int64_t k) {
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

RLMBA_INLINE int64_t first_argmin(const double* g, const double* cent_sq, int64_t k) {
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
RLMBA_INLINE void nearest_range(const C* g, const C* xt, const C* cent, const C* cent_sq, int64_t k, int64_t d,
                                int64_t lo, int64_t hi, C* dist, int64_t* idx) {
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t j = first_argmin(g + i * k, cent_sq, k);
    idx[i] = j;
    dist[i] = std::sqrt(sqdist(xt + i * d, cent + j * d, d));
  }
}
RLMBA_ISA_VARIANTS(nearest_range)

template <class C>
void nearest_centroid(const C* g, const C* xt, const C* cent, const C* cent_sq, int64_t m, int64_t k, int64_t d,
                      C* dist, int64_t* idx, int threads, Isa isa) {
  parallel_slices(m, threads_for(threads, m * k, 1 << 15), [&](int64_t lo, int64_t hi, int) {
    nearest_range_isa(isa, g, xt, cent, cent_sq, k, d, lo, hi, dist, idx);
  });
}

// ================================================================ k-means++ seeding
// Arthur & Vassilvitskii (2007) D^2 sampling, with the random numbers drawn by the caller:
// pick 0 = floor(u[0] * n); pick s >= 1 = the D^2 pick of rlmba/kmeanspp.h with u[s], w the
// squared distance to the nearest pick; so every thread count (and the torch reference) gives
// the same bits.
// Each step is one pass over the rows, block by block: w = min(w, |x - c|^2) (direct form,
// exactly 0 for duplicates of a pick), the nearest pick a, and the block's sum. Rows whose
// nearest pick a is far from c (Elkan's test on d(a, c)^2 >= 4 w) are not read: on clustered data
// most rows are skipped after the first few picks. Float32 pools that Elkan's test barely thins
// get a second, float16 test (HalfBound below). Bytes per step: w and a (12 bytes a row), the
// D * 2 bytes float16 row of every row Elkan's test keeps (once the copy exists), plus the
// D * sizeof(storage) row of every row that the tests cannot skip.
using kmeanspp::kBlock;

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
RLMBA_INLINE double seeding_block(const S* x, int64_t d, int64_t lo, int64_t hi, const C* c, const C* cc2,
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
RLMBA_ISA_VARIANTS(seeding_block)

// HalfBound needs a float32 pool, an AVX2 + F16C CPU and a variant above the baseline.
template <class S> bool half_supported(Isa isa) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<S, float>) return vector_isa(isa) != Isa::kBaseline && has_avx2_f16c();
#endif
  (void)isa;
  return false;
}

// The float16 copy of a float32 pool (HalfBound above), built in parallel; callers check
// half_supported<S>() first.
template <class S>
void build_half(const S* x, int64_t n, int64_t d, std::vector<uint16_t>& xh, std::vector<float>& err, int threads) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<S, float>) {
    RLMBA_NOTE_VARIANT("kmeans_plusplus_half_bound", Isa::kAvx2);
    xh.resize(n * d);
    err.resize(n);
    const int64_t nb = (n + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads_for(threads, nb, 1)) schedule(static)
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
void kmeans_plusplus(const S* x, int64_t n, int64_t d, int64_t k, const double* u, int64_t* seeds, C* w, int64_t* a,
                     int half_bound, int threads, Isa isa) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<uint16_t> xh;
  std::vector<float> err;
  std::vector<int64_t> stats(2 * nb);  // per block: rows Elkan's test kept, rows that came closer
  const bool half_on = half_bound == 1 && half_supported<S>(isa);
  const bool half_auto = half_bound == -1 && d >= 16 && half_supported<S>(isa);
  if (half_on) build_half(x, n, d, xh, err, threads);
  std::vector<double> block_sum(nb);
  std::vector<uint8_t> picked(n, 0);
  std::vector<C> c(d), cc2(k);
  // Elkan's test compares computed squared distances: allow for their rounding (about d ulps).
  const C margin = std::max(C(1e-4), C(8) * C(d) * std::numeric_limits<C>::epsilon());
  int64_t pick = std::min<int64_t>(n - 1, static_cast<int64_t>(u[0] * static_cast<double>(n)));
  for (int64_t s = 0; s < k; ++s) {
    if (half_auto && xh.empty() && s >= kHalfAfter && half_pays(stats, n))
      build_half(x, n, d, xh, err, threads);
    const uint16_t* xhp = xh.empty() ? nullptr : xh.data();
    seeds[s] = pick;
    picked[pick] = 1;
    for (int64_t j = 0; j < d; ++j) c[j] = C(rlmba::select::load(x[pick * d + j]));
    for (int64_t p = 0; p < s; ++p) cc2[p] = sqdist(x + seeds[p] * d, c.data(), d);
#pragma omp parallel for num_threads(threads_for(threads, n * d, 1 << 16)) schedule(static)
    for (int64_t b = 0; b < nb; ++b)
      block_sum[b] = seeding_block_isa(isa, x, d, b * kBlock, std::min(n, (b + 1) * kBlock), c.data(), cc2.data(), margin,
                                   s, w, a, xhp, err.data(), &stats[2 * b]);
    if (s + 1 < k) pick = kmeanspp::d2_pick(w, block_sum.data(), n, u[s + 1], picked.data());
  }
}

// ================================================================ Lloyd update: cluster sums
// sums[a_i] += x_i (float64), counts[a_i] += 1. Threads split the columns (16 at a time), each
// adding its columns of every row in row order: the float64 sums have a fixed order whatever the
// thread count. Bytes: one read of x and a; sums (k * D float64) stay in cache.
template <class S>
RLMBA_INLINE void sums_columns(const S* x, int64_t n, int64_t d, const int64_t* a, int64_t j0, int64_t j1,
                               double* sums) {
  for (int64_t i = 0; i < n; ++i) {
    const S* row = x + i * d;
    double* acc = sums + a[i] * d;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) acc[j] += static_cast<double>(rlmba::select::load(row[j]));
  }
}
RLMBA_ISA_VARIANTS(sums_columns)

template <class S>
void cluster_sums(const S* x, int64_t n, int64_t d, const int64_t* a, double* sums, int64_t* counts, int threads,
                  Isa isa) {
  constexpr int64_t kCols = 16;
  const int64_t nc = (d + kCols - 1) / kCols;
#pragma omp parallel for num_threads(threads_for(threads, nc, 1)) schedule(static)
  for (int64_t cb = 0; cb < nc; ++cb) sums_columns_isa(isa, x, n, d, a, cb * kCols, std::min(d, (cb + 1) * kCols), sums);
  for (int64_t i = 0; i < n; ++i) ++counts[a[i]];
}

}  // namespace cpu
}  // namespace rlmba

// ================================================================ bindings
namespace {
namespace h = rlmba::host;

h::Array cpu_rows(py::handle obj, const char* name) {
  h::Array a = h::array(obj, name);
  h::need_device(a, h::kDLCPU), h::need_shape(a, {-1, -1}), h::need_rows(a);
  return a;
}
h::Array cpu_vector(py::handle obj, const char* name, h::DType dtype, int64_t n) {
  h::Array a = h::array(obj, name);
  h::need_device(a, h::kDLCPU), h::need_dtype(a, {dtype}), h::need_shape(a, {n}), h::need_contiguous(a);
  return a;
}
}  // namespace

RLMBA_BINDINGS(cpu_clustering) {
  m.def("cpu_nearest_centroid", [](py::handle g, py::handle xt, py::handle centroids, py::handle cent_sq,
                                   py::handle dist, py::handle idx, int threads) {
    const h::Array ga = cpu_rows(g, "g"), xa = cpu_rows(xt, "xt"), ca = cpu_rows(centroids, "centroids");
    h::need_dtype(ga, {h::DType::kFloat32, h::DType::kFloat64}), h::need_same_dtype(xa, ga), h::need_same_dtype(ca, ga);
    const int64_t m_rows = ga.size(0), k = ga.size(1), d = xa.size(1);
    h::need_shape(xa, {m_rows, -1}), h::need_shape(ca, {k, d});
    if (k < 1) h::fail(ca, "no centroids (k = 0)");
    const h::Array sa = cpu_vector(cent_sq, "cent_sq", ga.dtype, k), da = cpu_vector(dist, "dist", ga.dtype, m_rows);
    const h::Array ia = cpu_vector(idx, "idx", h::DType::kInt64, m_rows);
    const auto isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    if (ga.dtype == h::DType::kFloat64)
      rlmba::cpu::nearest_centroid(ga.ptr<const double>(), xa.ptr<const double>(), ca.ptr<const double>(),
                                   sa.ptr<const double>(), m_rows, k, d, da.ptr<double>(), ia.ptr<int64_t>(), threads, isa);
    else
      rlmba::cpu::nearest_centroid(ga.ptr<const float>(), xa.ptr<const float>(), ca.ptr<const float>(),
                                   sa.ptr<const float>(), m_rows, k, d, da.ptr<float>(), ia.ptr<int64_t>(), threads, isa);
  }, py::arg("g"), py::arg("xt"), py::arg("centroids"), py::arg("cent_sq"), py::arg("dist"), py::arg("idx"),
     py::arg("threads"),
     "Nearest centroid (ties -> lowest index) and its Euclidean distance from a GEMM tile g = xt @ centroids^T.");

  m.def("cpu_kmeans_plusplus", [](py::handle x, py::handle u, py::handle seeds, py::handle w, py::handle nearest,
                                  int half_bound, int threads) {
    const h::Array xa = cpu_rows(x, "x");
    const int64_t n = xa.size(0), d = xa.size(1);
    const h::Array sa = h::array(seeds, "seeds");
    h::need_device(sa, h::kDLCPU), h::need_dtype(sa, {h::DType::kInt64}), h::need_shape(sa, {-1}), h::need_contiguous(sa);
    const int64_t k = sa.size(0);
    h::need_count(k, "k (the size of seeds)", 1, n);
    if (d < 1) h::fail(xa, "no feature dimensions (D = 0)");
    const h::Array ua = cpu_vector(u, "u", h::DType::kFloat64, k);
    const h::Array wa = cpu_vector(w, "w", h::compute_of(xa.dtype), n);
    const h::Array aa = cpu_vector(nearest, "nearest", h::DType::kInt64, n);
    if (half_bound < -1 || half_bound > 1) throw py::value_error("half_bound: expected -1, 0 or 1");
    const auto isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    h::by_storage(xa, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      rlmba::cpu::kmeans_plusplus(xs, n, d, k, ua.ptr<const double>(), sa.ptr<int64_t>(), wa.ptr<C>(),
                                  aa.ptr<int64_t>(), half_bound, threads, isa);
    });
  }, py::arg("x"), py::arg("u"), py::arg("seeds"), py::arg("w"), py::arg("nearest"), py::arg("half_bound"),
     py::arg("threads"),
     "k-means++ seeds [k] from the float64 uniforms u [k]; w [n] = squared distance to the nearest seed, "
     "nearest [n] = its position in seeds. half_bound: the float16 skip test for float32 pools (1 on, 0 off, "
     "-1 auto).");

  m.def("cpu_cluster_sums", [](py::handle x, py::handle nearest, py::handle sums, py::handle counts, int threads) {
    const h::Array xa = cpu_rows(x, "x");
    const int64_t n = xa.size(0), d = xa.size(1);
    const h::Array aa = cpu_vector(nearest, "nearest", h::DType::kInt64, n);
    const h::Array ca = h::array(counts, "counts");
    h::need_device(ca, h::kDLCPU), h::need_dtype(ca, {h::DType::kInt64}), h::need_shape(ca, {-1}), h::need_contiguous(ca);
    const int64_t k = ca.size(0);
    const h::Array sa = h::array(sums, "sums");
    h::need_device(sa, h::kDLCPU), h::need_dtype(sa, {h::DType::kFloat64}), h::need_shape(sa, {k, d});
    h::need_contiguous(sa);
    h::need_indices(aa, 0, k);
    const auto isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    h::by_storage(xa, [&](auto xs, auto*) {
      rlmba::cpu::cluster_sums(xs, n, d, aa.ptr<const int64_t>(), sa.ptr<double>(), ca.ptr<int64_t>(), threads, isa);
    });
  }, py::arg("x"), py::arg("nearest"), py::arg("sums"), py::arg("counts"), py::arg("threads"),
     "Add x's rows into sums[nearest_i] (float64 [k, D]) and count them into counts [k]; nearest in [0, k).");
}
