// The k-center greedy (Core-set) primitives on the CPU: one pass per pick, the picks loop,
// inverse row norms, and the labeled-set GEMM epilogue; bound as _C.cpu_kcenter_*.
//
// Threads: each thread owns a contiguous slice of rows, and every reduction is combined in slice
// order, so the results do not depend on the thread count. Hot loops have baseline, AVX2 and
// AVX-512 variants chosen per call (rlmba/cpu_runtime.h); 16-bit pools also have an AVX2/F16C loop.
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
#include "rlmba/cpu_runtime.h"
#include "rlmba/half_rows.h"
#include "rlmba/host.h"
#include "rlmba/select.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace py = pybind11;

namespace rlmba {
namespace cpu {

enum Metric : int { kEuclidean = 0, kCosine = 1 };

template <class S, class C>
RLMBA_INLINE C row_distance(const S* row, const C* c, int64_t d, C scale, bool cosine) {
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
RLMBA_INLINE void kcenter_range(const S* x, int64_t d, int64_t lo, int64_t hi, const C* c, const C* inv_norm,
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
RLMBA_ISA_VARIANTS(kcenter_range)

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
                       bool update, C* mind, C* best, int64_t* best_i, Isa isa) {
#if defined(__x86_64__)
  constexpr bool kHalf = std::is_same_v<S, rlmba::select::Half16>;
  if constexpr (kHalf || std::is_same_v<S, rlmba::select::BFloat16>) {
    if (vector_isa(isa) != Isa::kBaseline && has_avx2_f16c()) {
      RLMBA_NOTE_VARIANT("kcenter_range_16bit", Isa::kAvx2);
      return kcenter_range_16bit<kHalf>(reinterpret_cast<const uint16_t*>(x), d, lo, hi, c, inv_norm, cosine,
                                        update, mind, best, best_i);
    }
  }
#endif
  kcenter_range_isa(isa, x, d, lo, hi, c, inv_norm, cosine, update, mind, best, best_i);
}

// One pass over the rows: fold c into mind (update) or just score d(x, c), and return the arg-max
// (value, index); index -1 when every row is at -inf.
template <class S, class C>
std::pair<C, int64_t> kcenter_pass(const S* x, int64_t n, int64_t d, const C* c, const C* inv_norm, bool cosine,
                                   bool update, C* mind, int threads, Isa isa) {
  const int T = threads_for(threads, n * d, 1 << 16);
  std::vector<C> best(T);
  std::vector<int64_t> best_i(T);
  parallel_slices(n, T, [&](int64_t lo, int64_t hi, int t) {
    kcenter_range_any(x, d, lo, hi, c, inv_norm, cosine, update, mind, &best[t], &best_i[t], isa);
  });
  C bv = -std::numeric_limits<C>::infinity();
  int64_t bi = -1;
  for (int t = 0; t < T; ++t)  // slice order: a later slice wins only if strictly better
    if (best_i[t] >= 0 && (bi < 0 || best[t] > bv)) bv = best[t], bi = best_i[t];
  return {bv, bi};
}

// The picks loop from `first`. mind [n] arrives initialised (+inf, or the distance to the
// labeled set; -inf at excluded rows). Returns how many picks were made: fewer than b only when
// every row is at -inf before the b-th.
template <class S, class C>
int64_t kcenter_greedy(const S* x, int64_t n, int64_t d, int64_t first, int64_t b, bool cosine, const C* inv_norm,
                       C* mind, int64_t* out, int threads, Isa isa) {
  std::vector<C> c(d);
  int64_t pick = first;
  for (int64_t step = 0; step < b; ++step) {
    if (pick < 0) return step;
    out[step] = pick;
    mind[pick] = -std::numeric_limits<C>::infinity();
    if (step + 1 == b) break;
    const C scale = cosine ? inv_norm[pick] : C(1);
    for (int64_t j = 0; j < d; ++j) c[j] = C(rlmba::select::load(x[pick * d + j])) * scale;
    pick = kcenter_pass(x, n, d, c.data(), inv_norm, cosine, true, mind, threads, isa).second;
  }
  return b;
}

// Inverse row norms 1 / |x_i| (cosine); 0-norm rows give inf (Python rejects them first).
template <class S, class C>
RLMBA_INLINE void inv_norms_range(const S* x, int64_t d, int64_t lo, int64_t hi, C* out) {
  using rlmba::select::load;
  for (int64_t i = lo; i < hi; ++i) {
    C acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t j = 0; j < d; ++j) acc += C(load(x[i * d + j])) * C(load(x[i * d + j]));
    out[i] = C(1) / std::sqrt(acc);
  }
}
RLMBA_ISA_VARIANTS(inv_norms_range)

// Labeled-set initialisation, one tile of m pool rows at a time. g = x_tile @ lab^T [m, L]
// comes from torch's GEMM; this epilogue turns it into the nearest distance and folds it into
// mind: euclidean min_j (|l_j|^2 - 2 g_ij) + |x_i|^2, cosine 1 - max_j g_ij / |x_i| (lab rows
// normalised). Where that value is below refine_tol * scale, cancellation may dominate it (a
// duplicate of a labeled point gives ~1e-7 instead of 0), so the arg-min's distance is recomputed
// in the direct form. Bytes: the tile of g (m * L) and of x, once.
template <class C>
RLMBA_INLINE void labeled_min_range(const C* g, const C* xt, const C* lab, const C* lab_sq, const C* inv_norm,
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
RLMBA_ISA_VARIANTS(labeled_min_range)

template <class C>
void labeled_min(const C* g, const C* xt, const C* lab, const C* lab_sq, const C* inv_norm, int64_t m,
                 int64_t L, int64_t d, bool cosine, C refine_tol, C* mind, int threads, Isa isa) {
  parallel_slices(m, threads_for(threads, m * L, 1 << 15), [&](int64_t lo, int64_t hi, int) {
    labeled_min_range_isa(isa, g, xt, lab, lab_sq, inv_norm, L, d, cosine, refine_tol, lo, hi, mind);
  });
}

}  // namespace cpu
}  // namespace rlmba

// ================================================================ bindings
namespace {
namespace h = rlmba::host;

bool cosine_of(const std::string& metric) {
  if (metric != "euclidean" && metric != "cosine")
    throw py::value_error("metric: expected euclidean or cosine, got '" + metric + "'");
  return metric == "cosine";
}

// The pool [n, d] (CPU, rows contiguous, any float dtype) and a vector [n] of its compute dtype.
h::Array pool_of(py::handle obj) {
  h::Array x = h::array(obj, "pool");
  h::need_device(x, h::kDLCPU), h::need_shape(x, {-1, -1}), h::need_rows(x);
  return x;
}
h::Array per_row(py::handle obj, const char* name, const h::Array& x, int64_t n) {
  h::Array v = h::array(obj, name);
  h::need_device(v, h::kDLCPU), h::need_dtype(v, {h::compute_of(x.dtype)});
  h::need_shape(v, {n}), h::need_contiguous(v);
  return v;
}
// 1 / |x_i| [n]: required for cosine, ignored (may be None) for euclidean.
h::Array inv_norm_of(py::handle obj, bool cosine, const h::Array& x) {
  if (!cosine) return h::Array{};
  if (obj.is_none()) throw py::value_error("inv_norm: required for the cosine metric");
  return per_row(obj, "inv_norm", x, x.size(0));
}
}  // namespace

RLMBA_BINDINGS(cpu_kcenter) {
  m.def("cpu_kcenter_pass", [](py::handle pool, py::handle centre, py::handle inv_norm, py::handle mind,
                               const std::string& metric, bool update, int threads) {
    const bool cosine = cosine_of(metric);
    const h::Array x = pool_of(pool), mv = per_row(mind, "mind", x, x.size(0));
    const h::Array c = per_row(centre, "centre", x, x.size(1)), inv = inv_norm_of(inv_norm, cosine, x);
    const auto isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    std::pair<double, int64_t> best;
    h::by_storage(x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      best = rlmba::cpu::kcenter_pass(xs, x.size(0), x.size(1), c.ptr<const C>(), inv.ptr<const C>(), cosine, update,
                                      mv.ptr<C>(), threads, isa);
    });
    return best;
  }, py::arg("pool"), py::arg("centre"), py::arg("inv_norm"), py::arg("mind"), py::arg("metric"), py::arg("update"),
     py::arg("threads"),
     "One pass over pool [n, d]: mind = min(mind, d(., centre)) (or, update=False, just d), returns the "
     "(value, index) of the first maximum; index -1 when every row is at -inf.");

  m.def("cpu_kcenter_greedy", [](py::handle pool, py::handle inv_norm, py::handle mind, int64_t first,
                                 py::handle out, const std::string& metric, int threads) {
    const bool cosine = cosine_of(metric);
    const h::Array x = pool_of(pool), mv = per_row(mind, "mind", x, x.size(0)), inv = inv_norm_of(inv_norm, cosine, x);
    const h::Array o = h::array(out, "out");
    h::need_device(o, h::kDLCPU), h::need_dtype(o, {h::DType::kInt64}), h::need_shape(o, {-1}), h::need_contiguous(o);
    const int64_t n = x.size(0), b = o.size(0);
    h::need_count(first, "first", 0, n - 1);
    h::need_count(b, "b (the size of out)", 1, n);
    const auto isa = rlmba::cpu::resolve_isa("");
    int64_t done = 0;
    {
      py::gil_scoped_release release;
      h::by_storage(x, [&](auto xs, auto* tag) {
        using C = std::remove_pointer_t<decltype(tag)>;
        done = rlmba::cpu::kcenter_greedy(xs, n, x.size(1), first, b, cosine, inv.ptr<const C>(), mv.ptr<C>(),
                                          o.ptr<int64_t>(), threads, isa);
      });
    }
    if (done < b)
      throw py::value_error("b: only " + std::to_string(done) + " rows can be picked (the others are at -inf in "
                            "mind), b = " + std::to_string(b));
  }, py::arg("pool"), py::arg("inv_norm"), py::arg("mind"), py::arg("first"), py::arg("out"), py::arg("metric"),
     py::arg("threads"),
     "k-center greedy picks from `first` into out [b]; mind [n] initialised by the caller (+inf or the "
     "labeled distances, -inf at excluded rows).");

  m.def("cpu_kcenter_inv_norms", [](py::handle pool, py::handle out, int threads) {
    const h::Array x = pool_of(pool), o = per_row(out, "out", x, x.size(0));
    const auto isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    h::by_storage(x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      const int64_t n = x.size(0), d = x.size(1);
      rlmba::cpu::parallel_slices(n, rlmba::cpu::threads_for(threads, n * d, 1 << 16), [&](int64_t lo, int64_t hi, int) {
        rlmba::cpu::inv_norms_range_isa(isa, xs, d, lo, hi, o.ptr<C>());
      });
    });
  }, py::arg("pool"), py::arg("out"), py::arg("threads"), "1 / |x_i| of every pool row into out [n] (compute dtype).");

  m.def("cpu_kcenter_labeled_min", [](py::handle g, py::handle xt, py::handle lab, py::handle lab_sq,
                                      py::handle inv_norm, py::handle mind, const std::string& metric,
                                      double refine_tol, int threads) {
    const bool cosine = cosine_of(metric);
    const h::Array ga = h::array(g, "g"), xa = h::array(xt, "xt"), la = h::array(lab, "lab");
    const h::Array sa = h::array(lab_sq, "lab_sq"), ma = h::array(mind, "mind");
    for (const h::Array* a : {&ga, &xa, &la, &sa, &ma}) {
      h::need_device(*a, h::kDLCPU), h::need_dtype(*a, {h::DType::kFloat32, h::DType::kFloat64});
      h::need_same_dtype(*a, ga), h::need_contiguous(*a);
    }
    h::need_shape(ga, {-1, -1}), h::need_shape(xa, {ga.size(0), -1}), h::need_shape(la, {ga.size(1), xa.size(1)});
    h::need_shape(sa, {ga.size(1)}), h::need_shape(ma, {-1});
    const int64_t m_rows = ga.size(0), L = ga.size(1), d = xa.size(1);
    if (ma.size(0) < m_rows) h::fail(ma, "has " + std::to_string(ma.size(0)) + " entries, fewer than the tile's rows");
    h::Array inv;
    if (cosine) {
      if (inv_norm.is_none()) throw py::value_error("inv_norm: required for the cosine metric");
      inv = h::array(inv_norm, "inv_norm");
      h::need_device(inv, h::kDLCPU), h::need_same_dtype(inv, ga), h::need_shape(inv, {-1}), h::need_contiguous(inv);
      if (inv.size(0) < m_rows) h::fail(inv, "has fewer entries than the tile's rows");
    }
    if (L < 1) h::fail(la, "no labeled rows (L = 0)");
    const auto isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    if (ga.dtype == h::DType::kFloat64)
      rlmba::cpu::labeled_min(ga.ptr<const double>(), xa.ptr<const double>(), la.ptr<const double>(),
                              sa.ptr<const double>(), inv.ptr<const double>(), m_rows, L, d, cosine, refine_tol,
                              ma.ptr<double>(), threads, isa);
    else
      rlmba::cpu::labeled_min(ga.ptr<const float>(), xa.ptr<const float>(), la.ptr<const float>(),
                              sa.ptr<const float>(), inv.ptr<const float>(), m_rows, L, d, cosine,
                              static_cast<float>(refine_tol), ma.ptr<float>(), threads, isa);
  }, py::arg("g"), py::arg("xt"), py::arg("lab"), py::arg("lab_sq"), py::arg("inv_norm"), py::arg("mind"),
     py::arg("metric"), py::arg("refine_tol"), py::arg("threads"),
     "Fold a tile's nearest labeled distance (from g = xt @ lab^T [m, L]) into mind [>= m].");
}
