// C++/OpenMP CPU kernels of the scoring ops: rlmba::cpu::{fuse_evidence, dirichlet_uncertainty,
// efda_scores, uncertainty_scores, bald}, float32 and float64, bound as _C.cpu_<op>.
//
// Layout ("row lanes", rlmba/cpu_lanes.h): rows are processed in groups of R (32 for C < 16, else
// 16); within a group the rows are the SIMD lanes and the classes are walked one at a time, so
// every per-row reduction (S = sum_c alpha_c, max, entropy sums) is a vertical vector add however
// small C is (with the classes as lanes, C = 10 would fill 10 of 16 lanes). The group's rows are
// first transposed into a [C][R] tile that stays in L1; the math then runs over the tile as one
// long contiguous loop, and the per-row passes read it back. Each input element is read from
// memory once; alpha is never written out. The last group is shifted back to end at row n, so
// results never depend on how a pool is chunked.
//
// Threads: OpenMP, each thread one contiguous range of groups (static schedule).
// ISA: every group loop is compiled three times (baseline x86-64, AVX2+FMA, AVX-512) from the
// same always-inline body (RLMBA_ISA_CLONES), and the best one the CPU supports runs
// (__builtin_cpu_supports); never -march=native. RLMBA_CPU_ISA (or the isa= argument) forces
// baseline / avx2 / avx512, or "rows": the one-row-at-a-time helpers of rlmba/math.h that the
// CUDA kernels run.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/cpu_lanes.h"
#include "rlmba/host.h"
#include "rlmba/math.h"

namespace py = pybind11;

namespace rlmba {
namespace cpu {
using namespace rlmba::math;

// ---------------------------------------------------------------- Dirichlet lane passes
template <class T, int kKind> RLMBA_INLINE T dirichlet_term(T a, T S) {
  return kKind == kVariance ? variance_term(a, S) : xlogx(a / S);
}
template <class T, int kKind> RLMBA_INLINE T dirichlet_finish(T acc, T S, int64_t C) {
  return kKind == kVariance ? variance_finish(acc, S, C) : kKind == kVacuity ? static_cast<T>(C) / S : -acc;
}

// u[r] of the Dirichlet with alpha = one + X[.][r] (one = 1 for an evidence tile, 0 for alpha):
// the sum pass, then (except for vacuity) the per-term pass.
template <class T, int R, int kKind>
RLMBA_INLINE void lane_uncertainty(const T* __restrict X, int64_t C, T one, T* __restrict u) {
  alignas(64) T S[R] = {}, acc[R] = {};
  for (int64_t c = 0; c < C; ++c) {
    RLMBA_SIMD
    for (int r = 0; r < R; ++r) S[r] += X[c * R + r];
  }
  RLMBA_SIMD
  for (int r = 0; r < R; ++r) S[r] += static_cast<T>(C) * one;
  if (kKind != kVacuity)
    for (int64_t c = 0; c < C; ++c) {
      RLMBA_SIMD
      for (int r = 0; r < R; ++r) acc[r] += dirichlet_term<T, kKind>(one + X[c * R + r], S[r]);
    }
  RLMBA_SIMD
  for (int r = 0; r < R; ++r) u[r] = dirichlet_finish<T, kKind>(acc[r], S[r], C);
}

template <class T, int R, int kKind> RLMBA_INLINE void store_uncertainty(const T* X, int64_t C, T one, const Lanes& g, T* out) {
  alignas(64) T u[R];
  lane_uncertainty<T, R, kKind>(X, C, one, u);
  store_lanes<T, R>(u, g, out);
}

// ---------------------------------------------------------------- efda_scores
// Grid: groups of R rows. Per group and modality: the logits are transposed into lanes and
// turned into evidence e_m = softplus(z_m / T_m) once per logit (tile E [C][R]), added into the
// fused evidence tile E_f = sum_m w_m e_m, and E goes through the sum and per-term passes while
// it is in L1; E_f last. Bytes: reads M N C logits once, writes (M + 1) N scores.
template <class T> struct EfdaJob {
  const T* const* zs;
  int64_t M, n, C;
  const T* w;
  const T* inv_t;
  int kind;
  T* u_fused;  // [n]
  T* u_modal;  // [M, n]
};

template <class T, int R, int kKind>
RLMBA_INLINE void efda_group(const EfdaJob<T>& j, const Lanes& g, T* scratch) {
  const int64_t C = j.C, tile = C * R;
  T* __restrict E = scratch;          // evidence of the current modality
  T* __restrict Ef = scratch + tile;  // fused evidence sum_m w_m e_m (alpha_f = 1 + E_f)
  for (int64_t i = 0; i < tile; ++i) Ef[i] = 0;
  for (int64_t m = 0; m < j.M; ++m) {
    const T it = j.inv_t[m], wm = j.w[m];
    gather_lanes<T, R>(j.zs[m] + g.start * C, C, E, [it](T z) { return z * it; });
    RLMBA_SIMD
    for (int64_t i = 0; i < tile; ++i) {
      E[i] = softplus(E[i]);
      Ef[i] += wm * E[i];
    }
    store_uncertainty<T, R, kKind>(E, C, T(1), g, j.u_modal + m * j.n);
  }
  store_uncertainty<T, R, kKind>(Ef, C, T(1), g, j.u_fused);
}

template <class T, int R>
RLMBA_INLINE void efda_groups(const EfdaJob<T>& j, int64_t g0, int64_t g1, T* scratch) {
  for (int64_t g = g0; g < g1; ++g) {
    const Lanes lanes = group_lanes<R>(g, j.n);
    if (j.kind == kVariance) efda_group<T, R, kVariance>(j, lanes, scratch);
    else if (j.kind == kVacuity) efda_group<T, R, kVacuity>(j, lanes, scratch);
    else efda_group<T, R, kEntropy>(j, lanes, scratch);
  }
}
RLMBA_ISA_CLONES(efda_groups, EfdaJob, RLMBA_BY_WIDTH(efda_groups))

template <class T> void efda_scores(const EfdaJob<T>& j, Isa isa, int threads) {
  if (j.n == 0) return;
  const int64_t work = j.M * j.n * j.C;
  if (isa == Isa::kRows) {
    parallel_ranges(j.n, threads, work, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) {
        j.u_fused[i] = dirichlet_row<T>(FusedAlpha<T>{j.zs, i * j.C, j.M, j.w, j.inv_t}, j.C, j.kind);
        for (int64_t m = 0; m < j.M; ++m)
          j.u_modal[m * j.n + i] = dirichlet_row<T>(ModalAlpha<T>{j.zs[m] + i * j.C, j.inv_t[m]}, j.C, j.kind);
      }
    });
    return;
  }
  std::vector<T> pad(j.n < kPad ? j.M * kPad * j.C : 0);
  std::vector<const T*> padded;
  EfdaJob<T> jp = j;
  if (j.n < kPad) {
    for (int64_t m = 0; m < j.M; ++m) {
      pad_rows(j.zs[m], j.n, j.C, pad.data() + m * kPad * j.C);
      padded.push_back(pad.data() + m * kPad * j.C);
    }
    jp.zs = padded.data();
  }
  run_groups<T>(efda_groups_for<T>(isa), jp, j.n, j.C, 2, threads, work);
}

// ---------------------------------------------------------------- dirichlet_uncertainty
// Grid: groups of R rows; alpha is transposed into a tile, then the sum and per-term passes.
// Bytes: reads N C alpha, writes N.
template <class T> struct DirichletJob {
  const T* alpha;
  int64_t n, C;
  int kind;
  T* out;
};

template <class T, int R>
RLMBA_INLINE void dirichlet_groups(const DirichletJob<T>& j, int64_t g0, int64_t g1, T* A) {
  for (int64_t g = g0; g < g1; ++g) {
    const Lanes lanes = group_lanes<R>(g, j.n);
    gather_lanes<T, R>(j.alpha + lanes.start * j.C, j.C, A, [](T a) { return a; });
    if (j.kind == kVariance) store_uncertainty<T, R, kVariance>(A, j.C, T(0), lanes, j.out);
    else if (j.kind == kVacuity) store_uncertainty<T, R, kVacuity>(A, j.C, T(0), lanes, j.out);
    else store_uncertainty<T, R, kEntropy>(A, j.C, T(0), lanes, j.out);
  }
}
RLMBA_ISA_CLONES(dirichlet_groups, DirichletJob, RLMBA_BY_WIDTH(dirichlet_groups))

template <class T> void dirichlet_uncertainty(const DirichletJob<T>& j, Isa isa, int threads) {
  if (j.n == 0) return;
  if (isa == Isa::kRows) {
    parallel_ranges(j.n, threads, j.n * j.C, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) j.out[i] = dirichlet_row<T>(RowAlpha<T>{j.alpha + i * j.C}, j.C, j.kind);
    });
    return;
  }
  run_padded<T>(dirichlet_groups_for<T>(isa), j, &DirichletJob<T>::alpha, 1, threads, j.n * j.C);
}

// ---------------------------------------------------------------- uncertainty_scores
// Grid: groups of R rows. Logits: pass 1 finds the top two of each row in the transposed tile,
// pass 2 exponentiates once per logit (see logit_scores_finish in math.h). Probabilities: one
// pass. Bytes: reads N C, writes 3 N.
template <class T> struct ClassJob {
  const T* x;
  int64_t n, C;
  bool from_logits;
  T* out;  // [3, n]
};

template <class T, int R>
RLMBA_INLINE void class_group(const ClassJob<T>& j, const Lanes& g, T* __restrict X) {
  alignas(64) T m1[R], m2[R], k[R] = {}, rest[R] = {}, h[R] = {}, nan[R] = {}, o[3][R];
  gather_lanes<T, R>(j.x + g.start * j.C, j.C, X, [](T v) { return v; });
  for (int r = 0; r < R; ++r) m1[r] = m2[r] = -infinity<T>();
  for (int64_t c = 0; c < j.C; ++c) {
    const T* __restrict x = X + c * R;
    if (j.from_logits) {
      RLMBA_SIMD
      for (int r = 0; r < R; ++r) top2_step(x[r], m1[r], m2[r]);
    } else {
      RLMBA_SIMD
      for (int r = 0; r < R; ++r) {
        top2_step(x[r], m1[r], m2[r]);
        h[r] += xlogx(x[r]);
        nan[r] = math::select(x[r] != x[r], x[r], nan[r]);
      }
    }
  }
  if (j.from_logits) {
    for (int64_t c = 0; c < j.C; ++c) {
      const T* __restrict x = X + c * R;
      RLMBA_SIMD
      for (int r = 0; r < R; ++r) {
        const T d = x[r] - m1[r], ed = exp_nonpositive(d);
        k[r] += math::select(d == T(0), T(1), T(0));
        rest[r] += math::select(d == T(0), T(0), ed);
        h[r] += math::select(ed > T(0), ed * d, T(0));
      }
    }
    RLMBA_SIMD
    for (int r = 0; r < R; ++r) {
      const Scores3<T> sc = logit_scores_finish(k[r], rest[r], h[r], m1[r], m2[r]);
      o[0][r] = sc.entropy, o[1][r] = sc.margin, o[2][r] = sc.least_confidence;
    }
  } else {
    RLMBA_SIMD
    for (int r = 0; r < R; ++r) {
      o[0][r] = -h[r];
      o[1][r] = (m1[r] - m2[r]) + nan[r];
      o[2][r] = (T(1) - m1[r]) + nan[r];
    }
  }
  for (int row = 0; row < 3; ++row) store_lanes<T, R>(o[row], g, j.out + row * j.n);
}

template <class T, int R>
RLMBA_INLINE void class_groups(const ClassJob<T>& j, int64_t g0, int64_t g1, T* scratch) {
  for (int64_t g = g0; g < g1; ++g) class_group<T, R>(j, group_lanes<R>(g, j.n), scratch);
}
RLMBA_ISA_CLONES(class_groups, ClassJob, RLMBA_BY_WIDTH(class_groups))

template <class T> void uncertainty_scores(const ClassJob<T>& j, Isa isa, int threads) {
  if (j.n == 0) return;
  if (isa == Isa::kRows) {
    parallel_ranges(j.n, threads, j.n * j.C, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) {
        const Scores3<T> sc = j.from_logits ? logit_scores_row(j.x + i * j.C, j.C) : prob_scores_row(j.x + i * j.C, j.C);
        j.out[i] = sc.entropy, j.out[j.n + i] = sc.margin, j.out[2 * j.n + i] = sc.least_confidence;
      }
    });
    return;
  }
  run_padded<T>(class_groups_for<T>(isa), j, &ClassJob<T>::x, 1, threads, j.n * j.C);
}

// ---------------------------------------------------------------- bald
// Grid: groups of R rows. Pass 1 sums the S samples per class into a mean tile; pass 2
// accumulates p log(p / mean) (math.h kl_term). Bytes: reads S N C twice (the second time
// from cache for moderate S C), writes N.
template <class T> struct BaldJob {
  const T* p;
  int64_t S, n, C, stride_s;
  T* out;
};

template <class T, int R>
RLMBA_INLINE void bald_groups(const BaldJob<T>& j, int64_t g0, int64_t g1, T* scratch) {
  const int64_t C = j.C, tile = C * R;
  T* __restrict mean = scratch;     // [C][R]
  T* __restrict P = scratch + tile;  // [C][R] one sample of the group
  for (int64_t g = g0; g < g1; ++g) {
    const Lanes lanes = group_lanes<R>(g, j.n);
    alignas(64) T acc[R] = {};
    for (int64_t i = 0; i < tile; ++i) mean[i] = 0;
    for (int64_t s = 0; s < j.S; ++s) {
      gather_lanes<T, R>(j.p + s * j.stride_s + lanes.start * C, C, P, [](T v) { return v; });
      RLMBA_SIMD
      for (int64_t i = 0; i < tile; ++i) mean[i] += P[i];
    }
    RLMBA_SIMD
    for (int64_t i = 0; i < tile; ++i) mean[i] = mean[i] / static_cast<T>(j.S);
    for (int64_t s = 0; s < j.S; ++s) {
      gather_lanes<T, R>(j.p + s * j.stride_s + lanes.start * C, C, P, [](T v) { return v; });
      for (int64_t c = 0; c < C; ++c) {
        RLMBA_SIMD
        for (int r = 0; r < R; ++r) acc[r] += kl_term(P[c * R + r], mean[c * R + r]);
      }
    }
    RLMBA_SIMD
    for (int r = 0; r < R; ++r) acc[r] = acc[r] / static_cast<T>(j.S);
    store_lanes<T, R>(acc, lanes, j.out);
  }
}
RLMBA_ISA_CLONES(bald_groups, BaldJob, RLMBA_BY_WIDTH(bald_groups))

template <class T> void bald(const BaldJob<T>& j, Isa isa, int threads) {
  if (j.n == 0) return;
  const int64_t work = j.S * j.n * j.C;
  if (isa == Isa::kRows) {
    parallel_ranges(j.n, threads, work, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) j.out[i] = bald_row(j.p + i * j.C, j.S, j.stride_s, j.C);
    });
    return;
  }
  std::vector<T> pad(j.n < kPad ? j.S * kPad * j.C : 0);
  BaldJob<T> jp = j;
  if (j.n < kPad) {
    for (int64_t s = 0; s < j.S; ++s) pad_rows(j.p + s * j.stride_s, j.n, j.C, pad.data() + s * kPad * j.C);
    jp.p = pad.data(), jp.stride_s = kPad * j.C;
  }
  run_groups<T>(bald_groups_for<T>(isa), jp, j.n, j.C, 2, threads, work);
}

// ---------------------------------------------------------------- fuse_evidence
// weighted: elementwise over the flat N C elements in tiles (no row structure needed);
// ds: tiles of whole rows, closed form per element (math.h fuse_ds_row), then a per-row NaN
// fill when a row holds non-finite evidence. Bytes: reads M N C, writes N C.
constexpr int64_t kTile = 2048;

template <class T> struct FuseJob {
  const T* const* zs;
  int64_t M, n, C;
  const T* w;  // weighted rule; nullptr for ds
  const T* inv_t;
  T* out;
};

template <class T>
RLMBA_INLINE void fuse_tiles(const FuseJob<T>& j, int64_t t0, int64_t t1, T*) {
  const int64_t rows_per_tile = std::max<int64_t>(1, kTile / j.C), total = j.n * j.C;
  const T inv_c = T(1) / static_cast<T>(j.C);
  for (int64_t t = t0; t < t1; ++t) {
    // weighted: tile = kTile elements; ds: tile = whole rows, so the NaN fill is per tile
    const int64_t i0 = j.w ? t * kTile : t * rows_per_tile * j.C;
    const int64_t i1 = std::min(total, j.w ? i0 + kTile : i0 + rows_per_tile * j.C);
    T* __restrict out = j.out + i0;
    const int64_t len = i1 - i0;
    for (int64_t i = 0; i < len; ++i) out[i] = 0;
    for (int64_t m = 0; m < j.M; ++m) {
      const T* __restrict z = j.zs[m] + i0;
      const T it = j.inv_t[m], wm = j.w ? j.w[m] : T(0);
      if (j.w) {
        RLMBA_SIMD
        for (int64_t i = 0; i < len; ++i) out[i] += wm * softplus(z[i] * it);
      } else {
        RLMBA_SIMD
        for (int64_t i = 0; i < len; ++i) out[i] = ds_step(out[i], softplus(z[i] * it), inv_c);
      }
    }
    T bad = 0;
    if (j.w) {
      RLMBA_SIMD
      for (int64_t i = 0; i < len; ++i) out[i] = T(1) + out[i];
    } else {
      RLMBA_SIMD_SUM(bad)
      for (int64_t i = 0; i < len; ++i) {
        bad += out[i] * T(0);  // NaN iff some evidence of the tile was inf or NaN
        out[i] = T(1) + out[i];
      }
    }
    if (j.M > 1 && bad != bad)  // rare: redo the tile row by row, as the literal TMC rule
      for (int64_t r = i0 / j.C; r < i1 / j.C; ++r) fuse_ds_row(j.zs, r * j.C, j.M, j.C, j.inv_t, j.out + r * j.C);
  }
}
RLMBA_ISA_CLONES(fuse_tiles, FuseJob, fuse_tiles<T>(j, g0, g1, s))

template <class T> void fuse_evidence(const FuseJob<T>& j, Isa isa, int threads) {
  if (j.n == 0) return;
  const int64_t work = j.M * j.n * j.C;
  if (isa == Isa::kRows) {
    parallel_ranges(j.n, threads, work, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) {
        if (!j.w) { fuse_ds_row(j.zs, i * j.C, j.M, j.C, j.inv_t, j.out + i * j.C); continue; }
        const FusedAlpha<T> alpha{j.zs, i * j.C, j.M, j.w, j.inv_t};
        for (int64_t c = 0; c < j.C; ++c) j.out[i * j.C + c] = alpha(c);
      }
    });
    return;
  }
  const int64_t rows_per_tile = std::max<int64_t>(1, kTile / j.C);
  const int64_t tiles = j.w ? (j.n * j.C + kTile - 1) / kTile : (j.n + rows_per_tile - 1) / rows_per_tile;
  GroupFn<T, FuseJob<T>> fn = fuse_tiles_for<T>(isa);
  parallel_ranges(tiles, threads, work, [&](int64_t t0, int64_t t1, int) { fn(j, t0, t1, nullptr); });
}

// ---------------------------------------------------------------- math probe (for tests)
template <class T> struct ProbeJob {
  const T* x;
  T* y;
  int fn;  // 0 exp, 1 log, 2 log1p, 3 softplus
};

template <class T>
RLMBA_INLINE void probe_range(const ProbeJob<T>& j, int64_t i0, int64_t i1, T*) {
  const T* __restrict x = j.x;
  T* __restrict y = j.y;
  switch (j.fn) {
    case 0:
      RLMBA_SIMD
      for (int64_t i = i0; i < i1; ++i) y[i] = exp(x[i]);
      break;
    case 1:
      RLMBA_SIMD
      for (int64_t i = i0; i < i1; ++i) y[i] = log(x[i]);
      break;
    case 2:
      RLMBA_SIMD
      for (int64_t i = i0; i < i1; ++i) y[i] = log1p(x[i]);
      break;
    default:
      RLMBA_SIMD
      for (int64_t i = i0; i < i1; ++i) y[i] = softplus(x[i]);
  }
}
RLMBA_ISA_CLONES(probe_range, ProbeJob, probe_range<T>(j, g0, g1, s))

}  // namespace cpu
}  // namespace rlmba

// ---------------------------------------------------------------- bindings
namespace {
namespace h = rlmba::host;
using rlmba::cpu::Isa;

int kind_code(const std::string& kind) {
  if (kind == "variance") return rlmba::math::kVariance;
  if (kind == "vacuity") return rlmba::math::kVacuity;
  if (kind == "entropy") return rlmba::math::kEntropy;
  throw py::value_error("kind: expected variance, vacuity or entropy, got '" + kind + "'");
}

// A CPU float32/float64 input of `shape` (-1: any) with contiguous rows.
h::Array rows_in(py::handle obj, const std::string& name, std::initializer_list<int64_t> shape) {
  h::Array a = h::array(obj, name);
  h::need_device(a, h::kDLCPU), h::need_dtype(a, {h::DType::kFloat32, h::DType::kFloat64});
  h::need_shape(a, shape), h::need_rows(a);
  return a;
}
// A contiguous CPU output of `shape` in the dtype of `like`.
h::Array out_like(py::handle obj, const std::string& name, const h::Array& like, std::initializer_list<int64_t> shape) {
  h::Array a = h::array(obj, name);
  h::need_device(a, h::kDLCPU), h::need_same_dtype(a, like), h::need_shape(a, shape), h::need_contiguous(a);
  return a;
}

// The M logit matrices [n, C] of one dtype, and per-modality parameters in the compute type:
// weights (may be empty) and 1 / temperature.
struct Modalities {
  std::vector<h::Array> zs;
  std::vector<double> w, t;
  Modalities(const std::vector<py::handle>& logits, const std::vector<double>& weights,
             const std::vector<double>& temperatures, bool weighted) : w(weights), t(temperatures) {
    if (logits.empty()) throw py::value_error("zs: no modalities (M = 0)");
    for (size_t m = 0; m < logits.size(); ++m) {
      zs.push_back(rows_in(logits[m], "zs[" + std::to_string(m) + "]", {-1, -1}));
      h::need_same_dtype(zs[m], zs[0]), h::need_shape(zs[m], {zs[0].size(0), zs[0].size(1)});
    }
    if (zs[0].size(1) < 1) h::fail(zs[0], "no classes (C = 0)");
    if (t.size() != zs.size()) throw py::value_error("temperatures: expected one per modality");
    for (double v : t)
      if (!(v > 0)) throw py::value_error("temperatures: must be > 0");
    if (weighted ? w.size() != zs.size() : !w.empty())
      throw py::value_error(weighted ? "weights: expected one per modality" : "weights: must be empty for 'ds'");
  }
  int64_t M() const { return static_cast<int64_t>(zs.size()); }
  int64_t n() const { return zs[0].size(0); }
  int64_t C() const { return zs[0].size(1); }
  bool f64() const { return zs[0].dtype == h::DType::kFloat64; }
  template <class T> struct Typed {
    std::vector<const T*> z;
    std::vector<T> w, inv_t;
  };
  template <class T> Typed<T> typed() const {
    Typed<T> out;
    for (const h::Array& z : zs) out.z.push_back(z.ptr<const T>());
    for (double v : w) out.w.push_back(static_cast<T>(v));
    for (double v : t) out.inv_t.push_back(static_cast<T>(1.0 / v));
    return out;
  }
};
}  // namespace

RLMBA_BINDINGS(cpu_scoring) {
  using namespace rlmba::cpu;
  m.def("cpu_isa", [](const std::string& isa) { return std::string(isa_name(resolve_isa(isa))); }, py::arg("isa") = "",
        "The kernel path the CPU kernels take: isa='' reads $RLMBA_CPU_ISA (default auto).");
  m.def("cpu_variants", [](bool reset) {
    VariantTrace& t = variant_trace();
    py::dict out;
    std::lock_guard<std::mutex> guard(t.lock);
    for (size_t id = 0; id < t.names.size() && id < 64; ++id) {
      const uint32_t bits = reset ? t.seen[id].exchange(0) : t.seen[id].load();
      py::list ran;
      for (int i = 0; i < 4; ++i)
        if (bits >> i & 1u) ran.append(isa_name(static_cast<Isa>(i)));
      if (bits) out[py::str(t.names[id])] = ran;
    }
    return out;
  }, py::arg("reset") = false,
     "The variants (baseline, avx2, avx512, rows) each CPU kernel ran since the last reset, by kernel name.");
  m.def("cpu_efda_scores",
        [](const std::vector<py::handle>& zs, const std::vector<double>& w, const std::vector<double>& t,
           const std::string& kind, py::handle u_fused, py::handle u_modal, int threads, const std::string& isa) {
          const Modalities mod(zs, w, t, true);
          const int k = kind_code(kind);
          const h::Array uf = out_like(u_fused, "u_fused", mod.zs[0], {mod.n()});
          const h::Array um = out_like(u_modal, "u_modal", mod.zs[0], {mod.M(), mod.n()});
          const Isa path = resolve_isa(isa);
          auto run = [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const auto p = mod.typed<T>();
            py::gil_scoped_release release;
            efda_scores<T>({p.z.data(), mod.M(), mod.n(), mod.C(), p.w.data(), p.inv_t.data(), k, uf.ptr<T>(),
                            um.ptr<T>()}, path, threads);
          };
          mod.f64() ? run(static_cast<double*>(nullptr)) : run(static_cast<float*>(nullptr));
        },
        py::arg("zs"), py::arg("weights"), py::arg("temperatures"), py::arg("kind"), py::arg("u_fused"),
        py::arg("u_modal"), py::arg("threads"), py::arg("isa") = "",
        "EFDA scores of M logit matrices zs[m] [n, C] into u_fused [n] and u_modal [M, n].");
  m.def("cpu_fuse_evidence",
        [](const std::vector<py::handle>& zs, const std::vector<double>& w, const std::vector<double>& t,
           const std::string& rule, py::handle out, int threads, const std::string& isa) {
          if (rule != "weighted" && rule != "ds") throw py::value_error("rule: expected weighted or ds, got '" + rule + "'");
          const Modalities mod(zs, w, t, rule == "weighted");
          const h::Array o = out_like(out, "out", mod.zs[0], {mod.n(), mod.C()});
          const Isa path = resolve_isa(isa);
          auto run = [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const auto p = mod.typed<T>();
            py::gil_scoped_release release;
            fuse_evidence<T>({p.z.data(), mod.M(), mod.n(), mod.C(), p.w.empty() ? nullptr : p.w.data(),
                              p.inv_t.data(), o.ptr<T>()}, path, threads);
          };
          mod.f64() ? run(static_cast<double*>(nullptr)) : run(static_cast<float*>(nullptr));
        },
        py::arg("zs"), py::arg("weights"), py::arg("temperatures"), py::arg("rule"), py::arg("out"), py::arg("threads"),
        py::arg("isa") = "", "Fused Dirichlet parameters out [n, C] of M logit matrices (weights empty for 'ds').");
  m.def("cpu_dirichlet_uncertainty",
        [](py::handle alpha, const std::string& kind, py::handle out, int threads, const std::string& isa) {
          const h::Array a = rows_in(alpha, "alpha", {-1, -1});
          if (a.size(1) < 1) h::fail(a, "no classes (C = 0)");
          const h::Array o = out_like(out, "out", a, {a.size(0)});
          const int k = kind_code(kind);
          const Isa path = resolve_isa(isa);
          py::gil_scoped_release release;
          if (a.dtype == h::DType::kFloat64)
            dirichlet_uncertainty<double>({a.ptr<const double>(), a.size(0), a.size(1), k, o.ptr<double>()}, path, threads);
          else
            dirichlet_uncertainty<float>({a.ptr<const float>(), a.size(0), a.size(1), k, o.ptr<float>()}, path, threads);
        },
        py::arg("alpha"), py::arg("kind"), py::arg("out"), py::arg("threads"), py::arg("isa") = "",
        "Dirichlet uncertainty out [n] of alpha [n, C].");
  m.def("cpu_uncertainty_scores",
        [](py::handle x, bool from_logits, py::handle out, int threads, const std::string& isa) {
          const h::Array a = rows_in(x, "x", {-1, -1});
          if (a.size(1) < 1) h::fail(a, "no classes (C = 0)");
          const h::Array o = out_like(out, "out", a, {3, a.size(0)});
          const Isa path = resolve_isa(isa);
          py::gil_scoped_release release;
          if (a.dtype == h::DType::kFloat64)
            uncertainty_scores<double>({a.ptr<const double>(), a.size(0), a.size(1), from_logits, o.ptr<double>()}, path,
                                       threads);
          else
            uncertainty_scores<float>({a.ptr<const float>(), a.size(0), a.size(1), from_logits, o.ptr<float>()}, path,
                                      threads);
        },
        py::arg("x"), py::arg("from_logits"), py::arg("out"), py::arg("threads"), py::arg("isa") = "",
        "Entropy, margin, least confidence out [3, n] of rows x [n, C].");
  m.def("cpu_bald",
        [](py::handle probs, py::handle out, int threads, const std::string& isa) {
          const h::Array p = rows_in(probs, "probs", {-1, -1, -1});
          const int64_t S = p.size(0), n = p.size(1), C = p.size(2);
          if (S < 1) h::fail(p, "no MC samples (S = 0)");
          if (C < 1) h::fail(p, "no classes (C = 0)");
          if (S > 1 && p.strides[0] < n * C) h::fail(p, "samples overlap (stride of dim 0 < n * C)");
          const h::Array o = out_like(out, "out", p, {n});
          const Isa path = resolve_isa(isa);
          py::gil_scoped_release release;
          if (p.dtype == h::DType::kFloat64)
            bald<double>({p.ptr<const double>(), S, n, C, p.strides[0], o.ptr<double>()}, path, threads);
          else
            bald<float>({p.ptr<const float>(), S, n, C, p.strides[0], o.ptr<float>()}, path, threads);
        },
        py::arg("probs"), py::arg("out"), py::arg("threads"), py::arg("isa") = "",
        "BALD mutual information out [n] of probs [S, n, C] (rows contiguous, any sample stride).");
  m.def("cpu_math_probe",
        [](const std::string& fn, py::handle x, py::handle y, const std::string& isa) {
          const int code = fn == "exp" ? 0 : fn == "log" ? 1 : fn == "log1p" ? 2 : fn == "softplus" ? 3 : -1;
          if (code < 0) throw py::value_error("fn: expected exp, log, log1p or softplus, got '" + fn + "'");
          const h::Array xa = h::array(x, "x"), ya = h::array(y, "y");
          for (const h::Array* a : {&xa, &ya})
            h::need_device(*a, h::kDLCPU), h::need_dtype(*a, {h::DType::kFloat32}), h::need_shape(*a, {-1}),
                h::need_contiguous(*a);
          h::need_shape(ya, {xa.size(0)});
          const Isa path = vector_isa(resolve_isa(isa));
          py::gil_scoped_release release;
          probe_range_for<float>(path)({xa.ptr<const float>(), ya.ptr<float>(), code}, 0, xa.size(0), nullptr);
        },
        py::arg("fn"), py::arg("x"), py::arg("y"), py::arg("isa") = "",
        "y = fn(x) over float32 vectors with the vectorised math of rlmba/math.h (for tests).");
}
