// Row-lane machinery of the CPU scoring kernels (csrc/cpu/scoring.cpp), nothing op-specific: ISA
// clones of a group loop, the OpenMP range split, and the tiles of a row group.
//
// Row lanes: rows are processed in groups of R (group_width: 32 for C < 16, else 16); a group's
// rows are transposed into a [C][R] tile (gather_lanes) so that the rows are the SIMD lanes and
// every per-row reduction is a vertical vector add however small C is. The last group is shifted
// back to end at row n (group_lanes; its extra lanes recompute rows of the previous group bit for
// bit and are not stored), so results never depend on how a pool is chunked; pools of fewer than
// kPad rows are padded first (pad_rows).
//
// ISA: RLMBA_ISA_CLONES compiles one always-inline group-loop body three times (baseline x86-64,
// AVX2+FMA, AVX-512; the targets of rlmba/cpu_runtime.h) and name_for<T>(isa) picks one at run time
// and records it in the variant trace; never -march=native. Only the clones carry target attributes, and they are expanded in the .cpp
// file that names them; everything defined here is a template, inline or constexpr (no ODR
// issue), and the lane helpers are always-inline, so they compile for the ISA of each clone.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "rlmba/cpu_runtime.h"
#include "rlmba/math.h"

namespace rlmba {
namespace cpu {

constexpr int kPad = 32;                       // inputs of fewer rows are padded to this many
constexpr int64_t kMinParallelWork = 1 << 15;  // elements below which one thread runs
constexpr int64_t kWideC = 16;                 // C from which groups are 16 rows, not 32
inline int group_width(int64_t C) { return C < kWideC ? 32 : 16; }

template <class T, class J> using GroupFn = void (*)(const J&, int64_t, int64_t, T*);

// Three clones of a loop over groups g0 .. g1, each running `call` (which names j, g0, g1, s),
// and name_for<T>(isa) to pick one. Inlining the always-inline body into each clone compiles
// it, and the math.h functions in it, for that clone's ISA.
#define RLMBA_ISA_CLONES(name, Job, call)                                                         \
  template <class T> void name##_baseline(const Job<T>& j, int64_t g0, int64_t g1, T* s) { call; } \
  template <class T> RLMBA_AVX2 void name##_avx2(const Job<T>& j, int64_t g0, int64_t g1, T* s) {  \
    call;                                                                                          \
  }                                                                                                \
  template <class T> RLMBA_AVX512 void name##_avx512(const Job<T>& j, int64_t g0, int64_t g1, T* s) { \
    call;                                                                                          \
  }                                                                                                \
  template <class T> GroupFn<T, Job<T>> name##_for(Isa isa) {                                      \
    static const int id = kernel_id(#name);                                                        \
    note_variant(id, vector_isa(isa));                                                             \
    return isa == Isa::kAvx512 ? &name##_avx512<T> : isa == Isa::kAvx2 ? &name##_avx2<T>           \
                                                                       : &name##_baseline<T>;      \
  }
// The group loop instantiated for both group widths, the width chosen by C.
#define RLMBA_BY_WIDTH(name) \
  (group_width(j.C) == 32 ? name<T, 32>(j, g0, g1, s) : name<T, 16>(j, g0, g1, s))

// ---------------------------------------------------------------- threading and groups
// fn(i0, i1, tid) over a static split of [0, count) into one contiguous range per thread.
template <class Fn> void parallel_ranges(int64_t count, int threads, int64_t work, const Fn& fn) {
  parallel_slices(count, static_cast<int>(std::min<int64_t>(threads_for(threads, work, kMinParallelWork),
                                                            std::max<int64_t>(count, 1))), fn);
}

// Runs a group loop over all groups of n rows with per-thread scratch of `tiles` [C][R] tiles.
template <class T, class J>
void run_groups(GroupFn<T, J> fn, const J& job, int64_t n, int64_t C, int64_t tiles, int threads, int64_t work) {
  const int R = group_width(C);
  const int64_t groups = (n + R - 1) / R, stride = (tiles * C * R + 15) / 16 * 16;
  std::vector<T> scratch(static_cast<size_t>(stride * std::max(threads, 1) + 16));
  T* base = scratch.data() + (16 - (reinterpret_cast<uintptr_t>(scratch.data()) / sizeof(T)) % 16) % 16;
  parallel_ranges(groups, threads, work, [&](int64_t g0, int64_t g1, int tid) { fn(job, g0, g1, base + tid * stride); });
}

// Group g covers rows [start, start + R) and stores lanes [first, last) (see the file header).
struct Lanes {
  int64_t start;
  int first, last;
};
template <int R> RLMBA_INLINE Lanes group_lanes(int64_t g, int64_t n) {
  const int64_t start = std::min(g * R, std::max<int64_t>(n, kPad) - R);
  const int64_t end = std::min(g * R + R, n);
  return {start, static_cast<int>(g * R - start), static_cast<int>(end - start)};
}

// Copies the n < kPad rows of an [n, C] block to kPad rows at dst, the last row repeated.
template <class T> void pad_rows(const T* x, int64_t n, int64_t C, T* dst) {
  for (int64_t r = 0; r < kPad; ++r) std::copy(x + std::min(r, n - 1) * C, x + std::min(r, n - 1) * C + C, dst + r * C);
}

// run_groups for a job whose one input (the member `rows`, [n, C]) may have fewer than kPad rows:
// such an input is padded first (pad_rows).
template <class T, class J>
void run_padded(GroupFn<T, J> fn, J j, const T* J::*rows, int64_t tiles, int threads, int64_t work) {
  std::vector<T> pad(j.n < kPad ? kPad * j.C : 0);
  if (j.n < kPad) pad_rows(j.*rows, j.n, j.C, pad.data()), j.*rows = pad.data();
  run_groups<T>(fn, j, j.n, j.C, tiles, threads, work);
}

// dst[c][r] = f(x[r * C + c]): the group's rows transposed into lanes. Narrow rows: strided
// loads, class by class (the R rows' lines stay in L1). Wide rows: row by row, so the loads
// stream in order instead of touching R lines at once.
template <class T, int R, class F>
RLMBA_INLINE void gather_lanes(const T* __restrict x, int64_t C, T* __restrict dst, const F& f) {
  if (C < kWideC) {
    for (int64_t c = 0; c < C; ++c) {
      RLMBA_SIMD
      for (int r = 0; r < R; ++r) dst[c * R + r] = f(x[r * C + c]);
    }
  } else {
    for (int r = 0; r < R; ++r) {
      RLMBA_SIMD
      for (int64_t c = 0; c < C; ++c) dst[c * R + r] = f(x[r * C + c]);
    }
  }
}

template <class T, int R> RLMBA_INLINE void store_lanes(const T* u, const Lanes& g, T* out) {
  for (int r = g.first; r < g.last; ++r) out[g.start + r] = u[r];
}

}  // namespace cpu
}  // namespace rlmba
