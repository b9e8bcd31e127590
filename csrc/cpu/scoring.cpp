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
  std::vector<T> pad(j.n < kPad ? kPad * j.C : 0);
  DirichletJob<T> jp = j;
  if (j.n < kPad) pad_rows(j.alpha, j.n, j.C, pad.data()), jp.alpha = pad.data();
  run_groups<T>(dirichlet_groups_for<T>(isa), jp, j.n, j.C, 1, threads, j.n * j.C);
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
        nan[r] = select(x[r] != x[r], x[r], nan[r]);
      }
    }
  }
  if (j.from_logits) {
    for (int64_t c = 0; c < j.C; ++c) {
      const T* __restrict x = X + c * R;
      RLMBA_SIMD
      for (int r = 0; r < R; ++r) {
        const T d = x[r] - m1[r], ed = exp_nonpositive(d);
        k[r] += select(d == T(0), T(1), T(0));
        rest[r] += select(d == T(0), T(0), ed);
        h[r] += select(ed > T(0), ed * d, T(0));
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
  std::vector<T> pad(j.n < kPad ? kPad * j.C : 0);
  ClassJob<T> jp = j;
  if (j.n < kPad) pad_rows(j.x, j.n, j.C, pad.data()), jp.x = pad.data();
  run_groups<T>(class_groups_for<T>(isa), jp, j.n, j.C, 1, threads, j.n * j.C);
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
using rlmba::cpu::Isa;

template <class T> const T* cptr(uintptr_t p) { return reinterpret_cast<const T*>(p); }
template <class T> T* mptr(uintptr_t p) { return reinterpret_cast<T*>(p); }

void check_sizes(int64_t n, int64_t C) {
  if (n < 0) throw py::value_error("n: must be >= 0, got " + std::to_string(n));
  if (C < 1) throw py::value_error("C: must be >= 1, got " + std::to_string(C));
}

int kind_code(const std::string& kind) {
  if (kind == "variance") return rlmba::math::kVariance;
  if (kind == "vacuity") return rlmba::math::kVacuity;
  if (kind == "entropy") return rlmba::math::kEntropy;
  throw py::value_error("kind: expected variance, vacuity or entropy, got '" + kind + "'");
}

// Per-modality parameters in the compute type: weights (may be empty) and 1 / temperature.
template <class T> struct Modalities {
  std::vector<const T*> zs;
  std::vector<T> w, inv_t;
  Modalities(const std::vector<uintptr_t>& ptrs, const std::vector<double>& weights, const std::vector<double>& temps) {
    if (ptrs.empty()) throw py::value_error("zs: no modalities (M = 0)");
    if (temps.size() != ptrs.size()) throw py::value_error("temperatures: expected one per modality");
    if (!weights.empty() && weights.size() != ptrs.size()) throw py::value_error("weights: expected one per modality");
    for (uintptr_t p : ptrs) zs.push_back(cptr<T>(p));
    for (double v : weights) w.push_back(static_cast<T>(v));
    for (double t : temps) inv_t.push_back(static_cast<T>(1.0 / t));
  }
};

template <class T>
void efda(const std::vector<uintptr_t>& zs, int64_t n, int64_t C, const std::vector<double>& w,
          const std::vector<double>& t, int kind, uintptr_t uf, uintptr_t um, int threads, Isa isa) {
  if (w.size() != zs.size()) throw py::value_error("weights: expected one per modality");
  Modalities<T> mod(zs, w, t);
  py::gil_scoped_release release;
  rlmba::cpu::efda_scores<T>({mod.zs.data(), static_cast<int64_t>(zs.size()), n, C, mod.w.data(), mod.inv_t.data(),
                              kind, mptr<T>(uf), mptr<T>(um)}, isa, threads);
}

template <class T>
void fuse(const std::vector<uintptr_t>& zs, int64_t n, int64_t C, const std::vector<double>& w,
          const std::vector<double>& t, uintptr_t out, int threads, Isa isa) {
  Modalities<T> mod(zs, w, t);
  py::gil_scoped_release release;
  rlmba::cpu::fuse_evidence<T>({mod.zs.data(), static_cast<int64_t>(zs.size()), n, C,
                                w.empty() ? nullptr : mod.w.data(), mod.inv_t.data(), mptr<T>(out)}, isa, threads);
}
}  // namespace

RLMBA_BINDINGS(cpu_scoring) {
  using namespace rlmba::cpu;
  m.def("cpu_isa", [](const std::string& isa) { return std::string(isa_name(resolve_isa(isa))); }, py::arg("isa") = "",
        "The kernel path the CPU scoring ops take: isa='' reads $RLMBA_CPU_ISA (default auto).");
  m.def("cpu_efda_scores",
        [](const std::vector<uintptr_t>& zs, int64_t n, int64_t C, const std::vector<double>& w,
           const std::vector<double>& t, const std::string& kind, uintptr_t u_fused, uintptr_t u_modal, bool f64,
           int threads, const std::string& isa) {
          check_sizes(n, C);
          const int k = kind_code(kind);
          const Isa path = resolve_isa(isa);
          if (f64) efda<double>(zs, n, C, w, t, k, u_fused, u_modal, threads, path);
          else efda<float>(zs, n, C, w, t, k, u_fused, u_modal, threads, path);
        },
        py::arg("zs"), py::arg("n"), py::arg("C"), py::arg("weights"), py::arg("temperatures"), py::arg("kind"),
        py::arg("u_fused"), py::arg("u_modal"), py::arg("f64"), py::arg("threads"), py::arg("isa") = "",
        "EFDA scores of M row-contiguous [n, C] logit buffers into u_fused [n] and u_modal [M, n].");
  m.def("cpu_fuse_evidence",
        [](const std::vector<uintptr_t>& zs, int64_t n, int64_t C, const std::vector<double>& w,
           const std::vector<double>& t, const std::string& rule, uintptr_t out, bool f64, int threads,
           const std::string& isa) {
          check_sizes(n, C);
          if (rule != "weighted" && rule != "ds") throw py::value_error("rule: expected weighted or ds, got '" + rule + "'");
          if ((rule == "ds") != w.empty()) throw py::value_error("weights: required by 'weighted', empty for 'ds'");
          const Isa path = resolve_isa(isa);
          if (f64) fuse<double>(zs, n, C, w, t, out, threads, path);
          else fuse<float>(zs, n, C, w, t, out, threads, path);
        },
        py::arg("zs"), py::arg("n"), py::arg("C"), py::arg("weights"), py::arg("temperatures"), py::arg("rule"),
        py::arg("out"), py::arg("f64"), py::arg("threads"), py::arg("isa") = "",
        "Fused Dirichlet parameters [n, C] of M logit buffers (weights empty for the ds rule).");
  m.def("cpu_dirichlet_uncertainty",
        [](uintptr_t alpha, int64_t n, int64_t C, const std::string& kind, uintptr_t out, bool f64, int threads,
           const std::string& isa) {
          check_sizes(n, C);
          const int k = kind_code(kind);
          const Isa path = resolve_isa(isa);
          py::gil_scoped_release release;
          if (f64) dirichlet_uncertainty<double>({cptr<double>(alpha), n, C, k, mptr<double>(out)}, path, threads);
          else dirichlet_uncertainty<float>({cptr<float>(alpha), n, C, k, mptr<float>(out)}, path, threads);
        },
        py::arg("alpha"), py::arg("n"), py::arg("C"), py::arg("kind"), py::arg("out"), py::arg("f64"),
        py::arg("threads"), py::arg("isa") = "", "Dirichlet uncertainty [n] of row-contiguous alpha [n, C].");
  m.def("cpu_uncertainty_scores",
        [](uintptr_t x, int64_t n, int64_t C, bool from_logits, uintptr_t out, bool f64, int threads,
           const std::string& isa) {
          check_sizes(n, C);
          const Isa path = resolve_isa(isa);
          py::gil_scoped_release release;
          if (f64) uncertainty_scores<double>({cptr<double>(x), n, C, from_logits, mptr<double>(out)}, path, threads);
          else uncertainty_scores<float>({cptr<float>(x), n, C, from_logits, mptr<float>(out)}, path, threads);
        },
        py::arg("x"), py::arg("n"), py::arg("C"), py::arg("from_logits"), py::arg("out"), py::arg("f64"),
        py::arg("threads"), py::arg("isa") = "", "Entropy, margin, least confidence [3, n] of rows x [n, C].");
  m.def("cpu_bald",
        [](uintptr_t p, int64_t S, int64_t n, int64_t C, int64_t stride_s, uintptr_t out, bool f64, int threads,
           const std::string& isa) {
          check_sizes(n, C);
          if (S < 1) throw py::value_error("S: no MC samples");
          if (stride_s < n * C && S > 1) throw py::value_error("stride_s: samples overlap (stride_s < n * C)");
          const Isa path = resolve_isa(isa);
          py::gil_scoped_release release;
          if (f64) bald<double>({cptr<double>(p), S, n, C, stride_s, mptr<double>(out)}, path, threads);
          else bald<float>({cptr<float>(p), S, n, C, stride_s, mptr<float>(out)}, path, threads);
        },
        py::arg("probs"), py::arg("S"), py::arg("n"), py::arg("C"), py::arg("stride_s"), py::arg("out"),
        py::arg("f64"), py::arg("threads"), py::arg("isa") = "",
        "BALD mutual information [n] of probs [S, n, C] (rows contiguous, sample stride stride_s).");
  m.def("math_probe",
        [](const std::string& fn, uintptr_t x, uintptr_t y, int64_t n, const std::string& isa) {
          const int code = fn == "exp" ? 0 : fn == "log" ? 1 : fn == "log1p" ? 2 : fn == "softplus" ? 3 : -1;
          if (code < 0) throw py::value_error("fn: expected exp, log, log1p or softplus, got '" + fn + "'");
          if (n < 0) throw py::value_error("n: must be >= 0");
          Isa path = resolve_isa(isa);
          path = path == Isa::kRows ? Isa::kBaseline : path;
          py::gil_scoped_release release;
          probe_range_for<float>(path)({cptr<float>(x), mptr<float>(y), code}, 0, n, nullptr);
        },
        py::arg("fn"), py::arg("x"), py::arg("y"), py::arg("n"), py::arg("isa") = "",
        "y[i] = fn(x[i]) over float32 buffers with the vectorised math of rlmba/math.h (for tests).");
}
