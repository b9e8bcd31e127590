// Thread split and ISA clones of the CPU selection kernels (csrc/cpu/topb.cpp, kcenter.cpp).
//
// Threads: OpenMP, each thread owns one contiguous slice of rows (Slices, in index order), and
// callers combine per-thread results in slice order, so results do not depend on the thread
// count. ISA: RLMBA_CLONES compiles a hot loop for x86-64-v4, -v3 and the baseline and picks one
// at run time (GCC function multiversioning); never -march=native. Everything here is inline.
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef RLMBA_WITH_OPENMP
#include <omp.h>
#endif

#define RLMBA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace rlmba {
namespace cpu {

// Threads for `work` units, one per `grain` units, at most the OpenMP maximum and at least one.
inline int threads_for(int64_t work, int64_t grain) {
#ifdef RLMBA_WITH_OPENMP
  const int64_t t = std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, work / grain));
  return static_cast<int>(t);
#else
  (void)work, (void)grain;
  return 1;
#endif
}

inline int thread_id() {
#ifdef RLMBA_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Thread t's contiguous slice [lo(t), hi(t)) of n items; slices are in index order.
struct Slices {
  int64_t n;
  int T;
  int64_t lo(int t) const { return n * t / T; }
  int64_t hi(int t) const { return n * (t + 1) / T; }
};

}  // namespace cpu
}  // namespace rlmba
