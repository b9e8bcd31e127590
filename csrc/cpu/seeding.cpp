// k-means++ seeding on factored gradient embeddings (BADGE, BMMAL), C++/OpenMP CPU backend.
//
// Contract: src/rlmba/ops/seeding.py; spec: src/rlmba/reference/seeding.py; per-element math:
// rlmba/seeding.h; D^2 pick: rlmba/kmeanspp.h. One call runs the whole selection: prepare (y, a per point), first pick,
// then b - 1 steps of [update D with the newest pick + block sums] -> [serial D^2 pick].
//
// Parallel mapping: OpenMP threads claim fixed blocks of kBlock = 2048 points; each block's D sum
// is sequential inside the block, so results do not depend on the thread count or on which thread
// took which block. All steps share one parallel region (see kmeanspp). Pools of one block run
// serially (a parallel region costs more than the work there).
// Bytes per step: every point reads its probs row (C * sizeof(T)) and feature rows
// (sum_m h_m * sizeof(T)) plus y, a, D (24 B) and writes D; the newest pick's rows stay in cache.
// N = 1e5, C = 10, h = 64, float32: ~32 MB per step, about the L3 size of a server CPU.
// (A norm-bound skip, |g_i - g_c| >= ||g_i| - |g_c||, was tried and dropped: it ruled out ~30% of
// the points on softmax/Gaussian pools, and its unpredictable branch cost more than it saved.)
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "rlmba/bindings.h"
#include "rlmba/cpu_runtime.h"
#include "rlmba/host.h"
#include "rlmba/kmeanspp.h"
#include "rlmba/seeding.h"

namespace py = pybind11;

namespace rlmba {
namespace cpu {
namespace {

using seeding::kBlock;

// The pool: probs [N, C], M feature matrices [N, h_m], scales [N or 1, M] (row stride 0 = global).
template <class T>
struct Pool {
  const T* p;
  int64_t N, C, M;
  std::vector<const T*> h;
  std::vector<int64_t> dim;
  const double* s;
  int64_t s_stride;

  const T* prow(int64_t i) const { return p + i * C; }
  const T* hrow(int64_t m, int64_t i) const { return h[m] + i * dim[m]; }
  double scale(int64_t i, int64_t m) const { return s[i * s_stride + m]; }
};

// Per-point state, float64: a = |g|^2, D = squared distance to the nearest pick.
struct State {
  std::vector<int64_t> y;
  std::vector<double> a, D, block_sum;
  std::vector<uint8_t> picked;
  explicit State(int64_t N) : y(N), a(N), D(N), block_sum((N + kBlock - 1) / kBlock), picked(N, 0) {}
};

template <class T>
inline double cross_h(const Pool<T>& P, int64_t i, int64_t c) {
  double s = 0.0;
  for (int64_t m = 0; m < P.M; ++m)
    s += (P.scale(i, m) * P.scale(c, m)) * seeding::dot64(P.hrow(m, i), P.hrow(m, c), P.dim[m]);
  return s;
}

// Points [i0, i1): y, a and D = inf; returns the block's first argmax of a (lowest index on ties).
template <class T>
int64_t prepare_block(const Pool<T>& P, State& S, int64_t i0, int64_t i1) {
  int64_t best = i0;
  for (int64_t i = i0; i < i1; ++i) {
    int64_t y = seeding::argmax_class(P.prow(i), P.C);
    S.y[i] = y;
    // A duplicate of a pick gets d ~ 1e-16 (a_i + a_c) (ISA clones may contract to FMA
    // differently from this loop): far below kDuplicateRtol, so it becomes exactly 0.
    S.a[i] = seeding::q_dot(P.prow(i), y, P.prow(i), y, P.C) * cross_h(P, i, i);
    S.D[i] = std::numeric_limits<double>::infinity();
    if (S.a[i] > S.a[best]) best = i;
  }
  return best;
}

// The newest pick c, unpacked once per step: q_c in float64 and its feature rows.
template <class T>
struct Centre {
  int64_t c;
  double a;
  std::vector<double> q;
  std::vector<const T*> h;
  Centre(const Pool<T>& P, const State& S, int64_t c_) : c(c_), a(S.a[c_]), q(P.C) {
    for (int64_t k = 0; k < P.C; ++k) q[k] = double(P.prow(c)[k]) - (k == S.y[c] ? 1.0 : 0.0);
    for (int64_t m = 0; m < P.M; ++m) h.push_back(P.hrow(m, c));
  }
};

// D_i <- min(D_i, d(i, c)) for i in [i0, i1); returns the block's sequential D sum. The centre's
// q row is precomputed (same arithmetic as seeding::q_term); out-of-order execution overlaps the
// FMA chains of consecutive points (for float32 on AVX2 the intrinsics loop below interleaves
// 4 points by hand, which measured 1.5x faster).
template <class T>  // always-inline: its body is compiled inside each ISA clone below
RLMBA_INLINE double update_block(const Pool<T>& P, State& S, const Centre<T>& ce, int64_t i0, int64_t i1) {
  const T* __restrict__ probs = P.p;
  const int64_t C = P.C, M = P.M, s_stride = P.s_stride;
  const int64_t* __restrict__ y = S.y.data();
  const double* __restrict__ a = S.a.data();
  const double* __restrict__ qc = ce.q.data();
  const double* __restrict__ sc = P.s + ce.c * s_stride;
  double* __restrict__ D = S.D.data();
  double sum = 0.0;
  for (int64_t i = i0; i < i1; ++i) {
    const T* p = probs + i * C;
    double qd = 0.0;
    for (int64_t k = 0; k < C; ++k) qd += (double(p[k]) - (k == y[i] ? 1.0 : 0.0)) * qc[k];
    double hd = 0.0;
    for (int64_t m = 0; m < M; ++m)
      hd += (P.s[i * s_stride + m] * sc[m]) * seeding::dot64(P.hrow(m, i), ce.h[m], P.dim[m]);
    // picked points have D = 0 and d >= 0, so they stay at 0
    const double d = std::min(D[i], seeding::grad_dist2(a[i], ce.a, qd, hd));
    D[i] = d;
    sum += d;
  }
  return sum;
}

// The generic hot loop, picked by the run-time ISA (never -march=native): float32 runs it only
// below AVX2 (or for RLMBA_CPU_ISA=baseline/rows), as the AVX2 intrinsics loop below takes over
// there; float64 runs an x86-64-v3 build of it on AVX2 CPUs.
double update_block_base(const Pool<float>& P, State& S, const Centre<float>& ce, int64_t i0, int64_t i1) {
  return update_block(P, S, ce, i0, i1);
}
double update_block_base(const Pool<double>& P, State& S, const Centre<double>& ce, int64_t i0, int64_t i1) {
  return update_block(P, S, ce, i0, i1);
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("arch=x86-64-v3")))
double update_block_v3(const Pool<double>& P, State& S, const Centre<double>& ce, int64_t i0, int64_t i1) {
  return update_block(P, S, ce, i0, i1);
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
// ---- float32 hot loop, AVX2 + FMA intrinsics (chosen at run time: Isa::kAvx2 or better; the
// generic loop above runs for RLMBA_CPU_ISA=baseline/rows and on older CPUs). Same per-element math as update_block: the float -> double conversion is exact, q is
// formed as double(p_k) - 1 at the label, products and sums in float64. Only the order of the
// float64 dot-product sums differs (4 lanes, then a fixed pairwise reduction): ~1e-16 relative,
// which the contract allows; D's block sum stays sequential (matches seeding::pick_in_block).
// The newest pick in float64, zero-padded to whole vectors: q to 4 lanes, each h row to 4 lanes.
struct Centre64 {
  double a;
  const double* s;  // the pick's scales row
  std::vector<double> q;
  std::vector<std::vector<double>> h;
  Centre64(const Pool<float>& P, const State& S, int64_t c) : a(S.a[c]), s(P.s + c * P.s_stride) {
    q.assign((P.C + 3) / 4 * 4, 0.0);
    for (int64_t k = 0; k < P.C; ++k) q[k] = double(P.prow(c)[k]) - (k == S.y[c] ? 1.0 : 0.0);
    for (int64_t m = 0; m < P.M; ++m) {
      h.emplace_back((P.dim[m] + 3) / 4 * 4, 0.0);
      for (int64_t k = 0; k < P.dim[m]; ++k) h[m][k] = double(P.hrow(m, c)[k]);
    }
  }
};

// The first n of 4 float lanes (n < 4: a masked load, which never reads past the row).
RLMBA_AVX2 RLMBA_INLINE __m256d load4(const float* x, int64_t n) {
  if (n >= 4) return _mm256_cvtps_pd(_mm_loadu_ps(x));
  const __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32(int(n)), _mm_setr_epi32(0, 1, 2, 3));
  return _mm256_cvtps_pd(_mm_maskload_ps(x, mask));
}

// [sum v0, sum v1, sum v2, sum v3], each as (x0 + x1) + (x2 + x3).
RLMBA_AVX2 RLMBA_INLINE __m256d reduce4(__m256d v0, __m256d v1, __m256d v2, __m256d v3) {
  const __m256d t0 = _mm256_hadd_pd(v0, v1), t1 = _mm256_hadd_pd(v2, v3);
  return _mm256_add_pd(_mm256_permute2f128_pd(t0, t1, 0x20), _mm256_permute2f128_pd(t0, t1, 0x31));
}

// Four points at once, so that the FMA latency chains of different points interleave and each
// centre vector is loaded once per four points. r[j]: the row of point j.
// q_j.q_c = sum_k (p_jk - [k = y_j]) q_ck, lane j of the result.
RLMBA_AVX2 RLMBA_INLINE __m256d q_dot4(const float* const r[4], const int64_t y[4], const double* qc,
                                              int64_t C) {
  const __m256d one = _mm256_set1_pd(1.0), four = _mm256_set1_pd(4.0);
  __m256d yv[4], acc[4], kv = _mm256_setr_pd(0.0, 1.0, 2.0, 3.0);
  for (int j = 0; j < 4; ++j) yv[j] = _mm256_set1_pd(double(y[j])), acc[j] = _mm256_setzero_pd();
  for (int64_t k = 0; k < C; k += 4) {
    const __m256d c = _mm256_loadu_pd(qc + k);
    for (int j = 0; j < 4; ++j) {
      const __m256d label = _mm256_and_pd(_mm256_cmp_pd(kv, yv[j], _CMP_EQ_OQ), one);
      acc[j] = _mm256_fmadd_pd(_mm256_sub_pd(load4(r[j] + k, C - k), label), c, acc[j]);
    }
    kv = _mm256_add_pd(kv, four);
  }
  return reduce4(acc[0], acc[1], acc[2], acc[3]);
}

// h_j.h_c, lane j of the result; two accumulators per point (8 independent chains).
RLMBA_AVX2 RLMBA_INLINE __m256d h_dot4(const float* const r[4], const double* hc, int64_t n) {
  __m256d acc[8];
  for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_pd();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256d c0 = _mm256_loadu_pd(hc + k), c1 = _mm256_loadu_pd(hc + k + 4);
    for (int j = 0; j < 4; ++j) {
      acc[2 * j] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(r[j] + k)), c0, acc[2 * j]);
      acc[2 * j + 1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(r[j] + k + 4)), c1, acc[2 * j + 1]);
    }
  }
  for (; k < n; k += 4) {
    const __m256d c = _mm256_loadu_pd(hc + k);
    for (int j = 0; j < 4; ++j) acc[2 * j] = _mm256_fmadd_pd(load4(r[j] + k, n - k), c, acc[2 * j]);
  }
  return reduce4(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]),
                 _mm256_add_pd(acc[4], acc[5]), _mm256_add_pd(acc[6], acc[7]));
}

// Points i .. i + n - 1 (1 <= n <= 4; a short group repeats its last point in the spare lanes):
// D <- min(D, d(., c)); returns sum plus their new D, added in index order.
RLMBA_AVX2 RLMBA_INLINE double update_group(const Pool<float>& P, State& S, const Centre64& ce,
                                                     int64_t i, int64_t n, double sum) {
  const float* r[4];
  int64_t y[4], at[4];
  for (int j = 0; j < 4; ++j) at[j] = i + std::min<int64_t>(j, n - 1), r[j] = P.prow(at[j]), y[j] = S.y[at[j]];
  const __m256d qd = q_dot4(r, y, ce.q.data(), P.C);
  __m256d hd = _mm256_setzero_pd();
  for (int64_t m = 0; m < P.M; ++m) {
    for (int j = 0; j < 4; ++j) r[j] = P.hrow(m, at[j]);
    const __m256d s = _mm256_mul_pd(_mm256_setr_pd(P.scale(at[0], m), P.scale(at[1], m), P.scale(at[2], m),
                                                   P.scale(at[3], m)), _mm256_set1_pd(ce.s[m]));
    hd = _mm256_add_pd(hd, _mm256_mul_pd(s, h_dot4(r, ce.h[m].data(), P.dim[m])));
  }
  double q4[4], h4[4];
  _mm256_storeu_pd(q4, qd);
  _mm256_storeu_pd(h4, hd);
  for (int j = 0; j < n; ++j) {
    const double d = std::min(S.D[i + j], seeding::grad_dist2(S.a[i + j], ce.a, q4[j], h4[j]));
    S.D[i + j] = d;
    sum += d;
  }
  return sum;
}

RLMBA_AVX2 double update_block_avx2(const Pool<float>& P, State& S, const Centre64& ce, int64_t i0, int64_t i1) {
  double sum = 0.0;
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) sum = update_group(P, S, ce, i, 4, sum);
  if (i < i1) sum = update_group(P, S, ce, i, i1 - i, sum);
  return sum;
}

#endif

// One D update with pick c: `blocks(update)` runs update(i0, i1) on the blocks this thread claims.
template <class Blocks>
void update_step(const Pool<double>& P, State& S, int64_t c, Isa isa, Blocks&& blocks) {
  const Centre<double> ce(P, S, c);
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512) {
    RLMBA_NOTE_VARIANT("seeding_update_float64", Isa::kAvx2);
    blocks([&](int64_t i0, int64_t i1) { return update_block_v3(P, S, ce, i0, i1); });
    return;
  }
#endif
  RLMBA_NOTE_VARIANT("seeding_update_float64", Isa::kBaseline);
  blocks([&](int64_t i0, int64_t i1) { return update_block_base(P, S, ce, i0, i1); });
}
template <class Blocks>
void update_step(const Pool<float>& P, State& S, int64_t c, Isa isa, Blocks&& blocks) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512) {
    RLMBA_NOTE_VARIANT("seeding_update_float32", Isa::kAvx2);
    const Centre64 ce(P, S, c);
    blocks([&](int64_t i0, int64_t i1) { return update_block_avx2(P, S, ce, i0, i1); });
    return;
  }
#endif
  RLMBA_NOTE_VARIANT("seeding_update_float32", Isa::kBaseline);
  const Centre<float> ce(P, S, c);
  blocks([&](int64_t i0, int64_t i1) { return update_block_base(P, S, ce, i0, i1); });
}

// argmax a, ties -> lowest index: the blocks' first maxima, combined in block order.
int64_t first_pick(const State& S, const std::vector<int64_t>& best) {
  int64_t j = best[0];
  for (int64_t k = 1; k < static_cast<int64_t>(best.size()); ++k)
    if (S.a[best[k]] > S.a[j]) j = best[k];
  return j;
}

// Spin briefly, then yield: a waiting thread must not starve a busy machine's other work.
template <class Ready>
void wait_until(Ready ready) {
  for (int spins = 0; !ready(); ++spins) {
    if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// The whole seeding runs inside ONE parallel region with no barrier per step. Step 0 prepares the
// points; step t >= 1 updates D with pick t - 1. Thread 0 publishes each step (after marking the
// previous pick), every thread claims blocks of the step from an atomic counter, and thread 0
// picks once all blocks of the step are done. A thread the OS has descheduled simply claims
// nothing, instead of stalling a per-step barrier.
// Claims and completions are counted per step, so a late thread never touches another step.
template <class T>
void kmeanspp_gradient(const Pool<T>& P, const double* u, int64_t b, Isa isa, int threads, int64_t* out) {
  State S(P.N);
  const int64_t nb = static_cast<int64_t>(S.block_sum.size());
  auto end = [&](int64_t k) { return std::min(P.N, (k + 1) * kBlock); };
  std::vector<int64_t> best(nb);
  std::vector<std::atomic<int64_t>> next(b), done(b);
  for (int64_t t = 0; t < b; ++t) next[t].store(0), done[t].store(0);
  std::atomic<int64_t> step{0};  // last published step; b = finished
  bool failed = false;
#pragma omp parallel num_threads(threads_for(threads, nb, 1))
  {
#ifdef RLMBA_WITH_OPENMP
    const bool lead = omp_get_thread_num() == 0;
#else
    const bool lead = true;
#endif
    for (int64_t t = 0; t < b; ++t) {
      if (lead && t > 0) {
        S.picked[out[t - 1]] = 1;
        S.D[out[t - 1]] = 0.0;
        step.store(t, std::memory_order_release);
      } else if (!lead) {
        wait_until([&] { return step.load(std::memory_order_acquire) >= t; });
        t = step.load(std::memory_order_acquire);  // a late thread joins the current step
        if (t >= b) break;
      }
      if (t == 0) {
        for (int64_t k; (k = next[0].fetch_add(1, std::memory_order_relaxed)) < nb;) {
          best[k] = prepare_block(P, S, k * kBlock, end(k));
          done[0].fetch_add(1, std::memory_order_release);
        }
      } else {
        update_step(P, S, out[t - 1], isa, [&](auto update) {
          for (int64_t k; (k = next[t].fetch_add(1, std::memory_order_relaxed)) < nb;) {
            S.block_sum[k] = update(k * kBlock, end(k));
            done[t].fetch_add(1, std::memory_order_release);
          }
        });
      }
      if (lead) {
        wait_until([&] { return done[t].load(std::memory_order_acquire) == nb; });
        out[t] = t == 0 ? first_pick(S, best) : kmeanspp::d2_pick(S.D.data(), S.block_sum.data(), P.N, u[t - 1], S.picked.data());
        if (out[t] < 0) {
          failed = true;
          break;
        }
      }
    }
    if (lead) step.store(b, std::memory_order_release);
  }
  if (failed) throw std::logic_error("seeding: no point left to pick (inconsistent state)");
}

}  // namespace
}  // namespace cpu
}  // namespace rlmba

RLMBA_BINDINGS(cpu_seeding) {
  namespace h = rlmba::host;
  m.def(
      "cpu_kmeanspp_gradient",
      [](py::handle probs, const std::vector<py::handle>& hs, py::handle scales, py::handle u, py::handle out,
         int threads) {
        const h::Array p = h::array(probs, "probs"), s = h::array(scales, "scales"), ua = h::array(u, "u");
        const h::Array o = h::array(out, "out");
        h::need_device(p, h::kDLCPU), h::need_dtype(p, {h::DType::kFloat32, h::DType::kFloat64});
        h::need_shape(p, {-1, -1}), h::need_rows(p);
        const int64_t N = p.size(0), C = p.size(1), M = static_cast<int64_t>(hs.size());
        if (M < 1) throw py::value_error("hs: no feature matrices (M = 0)");
        std::vector<h::Array> feats;
        for (int64_t m = 0; m < M; ++m) {
          feats.push_back(h::array(hs[m], "hs[" + std::to_string(m) + "]"));
          const h::Array& f = feats.back();
          h::need_device(f, h::kDLCPU), h::need_same_dtype(f, p), h::need_shape(f, {N, -1}), h::need_rows(f);
          if (f.size(1) < 1) h::fail(f, "no feature dimensions");
        }
        h::need_device(s, h::kDLCPU), h::need_dtype(s, {h::DType::kFloat64}), h::need_contiguous(s);
        if (!(s.ndim() == 2 && s.size(1) == M && (s.size(0) == 1 || s.size(0) == N)))
          h::fail(s, "expected shape [1, M] or [N, M] with M = " + std::to_string(M) + ", got " + h::shape_str(s.shape));
        h::need_device(o, h::kDLCPU), h::need_dtype(o, {h::DType::kInt64}), h::need_shape(o, {-1}), h::need_contiguous(o);
        const int64_t b = o.size(0);
        h::need_count(b, "b (the size of out)", 1, N);
        if (C < 1) h::fail(p, "no classes (C = 0)");
        h::need_device(ua, h::kDLCPU), h::need_dtype(ua, {h::DType::kFloat64}), h::need_contiguous(ua);
        h::need_shape(ua, {b - 1});
        const rlmba::cpu::Isa isa = rlmba::cpu::resolve_isa("");  // $RLMBA_CPU_ISA, may raise
        auto run = [&](auto* tag) {
          using T = std::remove_pointer_t<decltype(tag)>;
          rlmba::cpu::Pool<T> P{p.ptr<const T>(), N, C, M, {}, {}, s.ptr<const double>(), s.size(0) > 1 ? M : 0};
          for (const h::Array& f : feats) P.h.push_back(f.ptr<const T>()), P.dim.push_back(f.size(1));
          py::gil_scoped_release release;
          rlmba::cpu::kmeanspp_gradient(P, ua.ptr<const double>(), b, isa, threads, o.ptr<int64_t>());
        };
        if (p.dtype == h::DType::kFloat64) run(static_cast<double*>(nullptr));
        else run(static_cast<float*>(nullptr));
      },
      py::arg("probs"), py::arg("hs"), py::arg("scales"), py::arg("u"), py::arg("out"), py::arg("threads"),
      "k-means++ seeding on factored gradient embeddings: probs [N, C] and hs[m] [N, h_m] of one dtype, "
      "float64 scales [1 or N, M], float64 u [b - 1]; writes int64 out [b].");
}
