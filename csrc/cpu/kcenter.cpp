// k-center greedy (Core-set) on the CPU and its helpers: inverse row norms, the pool mean, and the
// labeled-set GEMM epilogue; bound as _C.{kcenter_greedy, inv_norms, pool_mean, labeled_min}.
//
// No libtorch: Python (rlmba.backends.cpp.selection) passes data_ptr()s of validated,
// contiguous buffers and int64 sizes; every entry point releases the GIL. Threads: OpenMP, each
// thread owns a contiguous slice of rows (or, for the mean, of columns), and every reduction is
// combined in a fixed order, so the results do not depend on the thread count. Hot loops are
// compiled for x86-64-v4, -v3 and the baseline, picked at run time (RLMBA_CLONES,
// rlmba/cpu_threads.h); 16-bit pools also have an explicit AVX2/F16C loop; never -march=native.
//
// One pass per pick (the Core-set greedy step): for every pool row i, the distance to the newest
// center c, mind[i] = min(mind[i], d), and the arg-max of mind (ties: lowest index). Excluded
// rows (centers already) hold mind = -inf, which min() keeps. Distances in the direct form,
// no cancellation: euclidean sum_j (x_ij - c_j)^2; cosine 0.5 sum_j (x_ij / |x_i| - c_j)^2 =
// 1 - cos (c normalised). Bytes per pick: one read of the pool (N * D * sizeof storage) plus
// mind (read + write) and, for cosine, the inverse norms.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/cpu_threads.h"
#include "rlmba/half_rows.h"
#include "rlmba/select.h"
#include "rlmba/storage.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace py = pybind11;

namespace rlmba {
namespace cpu {

enum Metric : int { kEuclidean = 0, kCosine = 1 };

template <class S, class C>
inline C row_distance(const S* row, const C* c, int64_t d, C scale, bool cosine) {
  // 16 partial sums (two 8-lane vectors for float) and a halving tree at the end: an omp-simd
  // reduction would end every row with a chain of 16 dependent scalar adds, which costs more
  // than reading the row.
  constexpr int kLanes = 16;
  C part[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= d; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const C t = C(rlmba::select::load(row[j + l])) * scale - c[j + l];
      part[l] += t * t;
    }
  for (int64_t r = 0; j < d; ++j, ++r) {
    const C t = C(rlmba::select::load(row[j])) * scale - c[j];
    part[r] += t * t;
  }
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) part[l] += part[l + w];
  return cosine ? C(0.5) * part[0] : part[0];
}

// Rows [lo, hi): update mind with c (or, update=false, just score d(x, c)) and return the arg-max.
template <class S, class C>
RLMBA_CLONES void kcenter_range(const S* x, int64_t d, int64_t lo, int64_t hi, const C* c, const C* inv_norm,
                                bool cosine, bool update, C* mind, C* best, int64_t* best_i) {
  C bv = -std::numeric_limits<C>::infinity();
  int64_t bi = -1;
  for (int64_t i = lo; i < hi; ++i) {
    const C dist = row_distance(x + i * d, c, d, cosine ? inv_norm[i] : C(1), cosine);
    C v = dist;
    if (update) {
      v = std::min(mind[i], dist);
      mind[i] = v;
    }
    if (v > bv) bv = v, bi = i;  // ascending scan + strict >: lowest index among equals
  }
  *best = bv, *best_i = bi;
}

#if defined(__x86_64__)
// 16-bit pools on AVX2 CPUs: float16 through F16C (one vcvtph2ps per 8 halves), bfloat16 by a
// zero-extend and shift. The generic loop converts with integer arithmetic and, on one core, is
// compute-bound at about twice the time of reading the halves; this one runs at the read.
// Same rows, same tie rule; the sums differ from the generic clone only in rounding order.
template <bool kHalf>
__attribute__((target("arch=x86-64-v3"))) void kcenter_range_16bit(
    const uint16_t* x, int64_t d, int64_t lo, int64_t hi, const float* c, const float* inv_norm, bool cosine,
    bool update, float* mind, float* best, int64_t* best_i) {
  float bv = -std::numeric_limits<float>::infinity();
  int64_t bi = -1;
  for (int64_t i = lo; i < hi; ++i) {
    const float acc = sqdist16<kHalf>(x + i * d, c, d, cosine ? inv_norm[i] : 1.0f);
    const float dist = cosine ? 0.5f * acc : acc;
    float v = dist;
    if (update) {
      v = std::min(mind[i], dist);
      mind[i] = v;
    }
    if (v > bv) bv = v, bi = i;  // ascending scan + strict >: lowest index among equals
  }
  *best = bv, *best_i = bi;
}
#endif

// Rows [lo, hi) of kcenter_range, through the 16-bit fast path where it applies.
template <class S, class C>
void kcenter_range_any(const S* x, int64_t d, int64_t lo, int64_t hi, const C* c, const C* inv_norm, bool cosine,
                       bool update, C* mind, C* best, int64_t* best_i) {
#if defined(__x86_64__)
  constexpr bool kHalf = std::is_same_v<S, rlmba::select::Half16>;
  if constexpr (kHalf || std::is_same_v<S, rlmba::select::BFloat16>) {
    if (has_avx2_f16c())
      return kcenter_range_16bit<kHalf>(reinterpret_cast<const uint16_t*>(x), d, lo, hi, c, inv_norm, cosine,
                                        update, mind, best, best_i);
  }
#endif
  kcenter_range(x, d, lo, hi, c, inv_norm, cosine, update, mind, best, best_i);
}

template <class S, class C>
int64_t kcenter_pass(const S* x, int64_t n, int64_t d, const C* c, const C* inv_norm, bool cosine,
                     bool update, C* mind) {
  const Slices s{n, threads_for(n * d, 1 << 16)};
  std::vector<C> best(s.T);
  std::vector<int64_t> best_i(s.T);
#pragma omp parallel num_threads(s.T)
  {
    const int t = thread_id();
    kcenter_range_any(x, d, s.lo(t), s.hi(t), c, inv_norm, cosine, update, mind, &best[t], &best_i[t]);
  }
  C bv = -std::numeric_limits<C>::infinity();
  int64_t bi = -1;
  for (int t = 0; t < s.T; ++t)  // slice order: a later slice wins only if strictly better
    if (best_i[t] >= 0 && (bi < 0 || best[t] > bv)) bv = best[t], bi = best_i[t];
  return bi;
}

// The picks loop. mind [n] arrives initialised (+inf, or the distance to the labeled set, -inf
// at excluded rows). With `mean` given (no labeled set), pick 0 is the row farthest from it.
template <class S, class C>
void kcenter_greedy(const S* x, int64_t n, int64_t d, int64_t b, bool cosine, const C* inv_norm,
                    const C* mean, C* mind, int64_t* out) {
  std::vector<C> c(d);
  int64_t pick = -1;
  if (mean != nullptr) {
    pick = kcenter_pass(x, n, d, mean, inv_norm, cosine, false, mind);
  } else {
    C bv = -std::numeric_limits<C>::infinity();
    for (int64_t i = 0; i < n; ++i)
      if (mind[i] > bv) bv = mind[i], pick = i;
  }
  for (int64_t step = 0; step < b; ++step) {
    out[step] = pick;
    mind[pick] = -std::numeric_limits<C>::infinity();
    if (step + 1 == b) break;
    const C scale = cosine ? inv_norm[pick] : C(1);
    for (int64_t j = 0; j < d; ++j) c[j] = C(rlmba::select::load(x[pick * d + j])) * scale;
    pick = kcenter_pass(x, n, d, c.data(), inv_norm, cosine, true, mind);
  }
}

// Inverse row norms 1 / |x_i| (cosine); 0-norm rows give inf (Python rejects them first).
template <class S, class C>
RLMBA_CLONES void inv_norms_range(const S* x, int64_t d, int64_t lo, int64_t hi, C* out) {
  using rlmba::select::load;
  for (int64_t i = lo; i < hi; ++i) {
    C acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t j = 0; j < d; ++j) acc += C(load(x[i * d + j])) * C(load(x[i * d + j]));
    out[i] = C(1) / std::sqrt(acc);
  }
}

// Mean row in float64 (scaled by inv_norm for cosine, if given). Threads split the columns, 16
// at a time, and add their columns of every row in row order: a fixed order for any thread count.
template <class S, class C>
RLMBA_CLONES void mean_columns(const S* x, int64_t n, int64_t d, const C* inv_norm, int64_t j0, int64_t j1,
                               double* sums) {
  using rlmba::select::load;
  for (int64_t i = 0; i < n; ++i) {
    const double s = inv_norm ? static_cast<double>(inv_norm[i]) : 1.0;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) sums[j] += static_cast<double>(C(load(x[i * d + j]))) * s;
  }
}

template <class S, class C>
void pool_mean(const S* x, int64_t n, int64_t d, const C* inv_norm, C* mean) {
  constexpr int64_t kCols = 16;
  const int64_t nc = (d + kCols - 1) / kCols;
  std::vector<double> sums(d, 0.0);
  const int T = threads_for(nc, 1);
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t cb = 0; cb < nc; ++cb) mean_columns(x, n, d, inv_norm, cb * kCols, std::min(d, (cb + 1) * kCols), sums.data());
  for (int64_t j = 0; j < d; ++j) mean[j] = static_cast<C>(sums[j] / static_cast<double>(n));
}

// Labeled-set initialisation, one tile of m pool rows at a time. g = x_tile @ lab^T [m, L]
// comes from torch's GEMM; this epilogue turns it into the nearest distance and folds it into
// mind: euclidean min_j (|l_j|^2 - 2 g_ij) + |x_i|^2, cosine 1 - max_j g_ij / |x_i| (lab rows
// normalised). Where that value is below refine_tol * scale, cancellation may dominate it (a
// duplicate of a labeled point gives ~1e-7 instead of 0), so the arg-min's distance is recomputed
// in the direct form. Bytes: the tile of g (m * L) and of x, once.
template <class C>
RLMBA_CLONES void labeled_min_range(const C* g, const C* xt, const C* lab, const C* lab_sq, const C* inv_norm,
                                    int64_t L, int64_t d, bool cosine, C refine_tol, int64_t lo, int64_t hi,
                                    C* mind) {
  C lab_sq_max = 0;
  for (int64_t j = 0; j < L && !cosine; ++j) lab_sq_max = std::max(lab_sq_max, lab_sq[j]);
  for (int64_t i = lo; i < hi; ++i) {
    const C* gi = g + i * L;
    const C* xi = xt + i * d;
    C m = std::numeric_limits<C>::infinity();
    if (cosine) {
#pragma omp simd reduction(min : m)
      for (int64_t j = 0; j < L; ++j) m = std::min(m, -gi[j]);
    } else {
#pragma omp simd reduction(min : m)
      for (int64_t j = 0; j < L; ++j) m = std::min(m, lab_sq[j] - C(2) * gi[j]);
    }
    C xx = 0;
    if (!cosine) {
#pragma omp simd reduction(+ : xx)
      for (int64_t j = 0; j < d; ++j) xx += xi[j] * xi[j];
    }
    C v = cosine ? C(1) + m * inv_norm[i] : xx + m;
    if (v < refine_tol * (cosine ? C(1) : xx + lab_sq_max)) {  // rare: only then find the arg-min
      int64_t jmin = 0;  // first j reaching the minimum
      while (jmin + 1 < L && (cosine ? -gi[jmin] : lab_sq[jmin] - C(2) * gi[jmin]) != m) ++jmin;
      if (v < refine_tol * (cosine ? C(1) : xx + lab_sq[jmin]))
        v = row_distance(xi, lab + jmin * d, d, cosine ? inv_norm[i] : C(1), cosine);
    }
    mind[i] = std::min(mind[i], std::max(v, C(0)));
  }
}

template <class C>
void labeled_min(const C* g, const C* xt, const C* lab, const C* lab_sq, const C* inv_norm, int64_t m,
                 int64_t L, int64_t d, bool cosine, C refine_tol, C* mind) {
  const Slices s{m, threads_for(m * L, 1 << 15)};
#pragma omp parallel num_threads(s.T)
  {
    const int t = thread_id();
    labeled_min_range(g, xt, lab, lab_sq, inv_norm, L, d, cosine, refine_tol, s.lo(t), s.hi(t), mind);
  }
}

}  // namespace cpu
}  // namespace rlmba

// ================================================================ bindings
RLMBA_BINDINGS(cpu_kcenter) {
  using rlmba::select::by_storage;
  using rlmba::select::ptr;
  m.def("kcenter_greedy", [](uintptr_t x, int storage, int64_t n, int64_t d, int64_t b, int metric,
                             uintptr_t inv_norm, uintptr_t mean, uintptr_t mind, uintptr_t out) {
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      rlmba::cpu::kcenter_greedy(xs, n, d, b, metric == rlmba::cpu::kCosine, ptr<const C>(inv_norm),
                                 ptr<const C>(mean), ptr<C>(mind), ptr<int64_t>(out));
    });
  }, "k-center greedy picks into out[b]; mind[n] initialised by the caller (+inf / labeled distances / "
     "-inf at excluded rows); mean (or 0) selects the first pick when there is no labeled set.");

  m.def("inv_norms", [](uintptr_t x, int storage, int64_t n, int64_t d, uintptr_t out) {
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      const rlmba::cpu::Slices s{n, rlmba::cpu::threads_for(n * d, 1 << 16)};
#pragma omp parallel num_threads(s.T)
      {
        const int t = rlmba::cpu::thread_id();
        rlmba::cpu::inv_norms_range(xs, d, s.lo(t), s.hi(t), ptr<C>(out));
      }
    });
  }, "1 / |x_i| of every row into out[n] (compute dtype).");

  m.def("pool_mean", [](uintptr_t x, int storage, int64_t n, int64_t d, uintptr_t inv_norm, uintptr_t out) {
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      rlmba::cpu::pool_mean(xs, n, d, ptr<const C>(inv_norm), ptr<C>(out));
    });
  }, "Mean row (float64 sums, rows scaled by inv_norm if given) into out[d] (compute dtype).");

  m.def("labeled_min", [](uintptr_t g, uintptr_t xt, uintptr_t lab, uintptr_t lab_sq, uintptr_t inv_norm,
                          int64_t m_rows, int64_t L, int64_t d, int metric, double refine_tol, uintptr_t mind,
                          bool is_double) {
    py::gil_scoped_release release;
    const bool cosine = metric == rlmba::cpu::kCosine;
    if (is_double)
      rlmba::cpu::labeled_min(ptr<const double>(g), ptr<const double>(xt), ptr<const double>(lab),
                              ptr<const double>(lab_sq), ptr<const double>(inv_norm), m_rows, L, d, cosine,
                              refine_tol, ptr<double>(mind));
    else
      rlmba::cpu::labeled_min(ptr<const float>(g), ptr<const float>(xt), ptr<const float>(lab),
                              ptr<const float>(lab_sq), ptr<const float>(inv_norm), m_rows, L, d, cosine,
                              static_cast<float>(refine_tol), ptr<float>(mind));
  }, "Fold a tile's nearest labeled distance (from g = x_tile @ lab^T) into mind.");
}
