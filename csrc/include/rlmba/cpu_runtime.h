// The CPU kernels' runtime, one rule each: which ISA variant of a hot loop runs, how many threads a
// job gets, and how a job splits over them.
//
// ISA. The extension is compiled for baseline x86-64, never -march=native. A hot loop is written
// once as an always-inline body; RLMBA_ISA_VARIANTS(body) compiles it three times (baseline,
// AVX2+FMA, AVX-512) and defines body_isa(isa, args...), which calls the variant for `isa` and
// records it in the variant trace (`_C.cpu_variants()`), so a test can see which code ran. The ISA
// of a call is resolve_isa(""): $RLMBA_CPU_ISA if set (baseline, avx2, avx512, rows, auto), else
// the best the CPU has. `rows` is the scoring kernels' one-row-at-a-time path; every other kernel
// runs its baseline variant under it.
//
// Threads. The caller passes its torch.get_num_threads(); threads_for() gives a job at most that
// many, one per `grain` units of work. Slices split rows into one contiguous range per thread, in
// index order, and callers combine per-thread results in that order, so no result depends on the
// thread count.
#pragma once
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>
#ifdef RLMBA_WITH_OPENMP
#include <omp.h>
#endif

#include "rlmba/config.h"

namespace rlmba {
namespace cpu {

// ---------------------------------------------------------------- ISA selection
enum class Isa { kBaseline = 0, kAvx2 = 1, kAvx512 = 2, kRows = 3 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kRows: return "rows";
    default: return "baseline";
  }
}

inline Isa best_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::kAvx2;
  return Isa::kBaseline;
}

// requested: "" (then $RLMBA_CPU_ISA, default "auto"), auto, baseline, avx2, avx512 or rows.
inline Isa resolve_isa(std::string requested) {
  std::string source = "isa";
  if (requested.empty()) {
    const char* env = std::getenv("RLMBA_CPU_ISA");
    requested = env && *env ? env : "auto";
    source = "RLMBA_CPU_ISA";
  }
  const Isa best = best_isa();
  Isa isa;
  if (requested == "auto") return best;
  if (requested == "baseline") isa = Isa::kBaseline;
  else if (requested == "avx2") isa = Isa::kAvx2;
  else if (requested == "avx512") isa = Isa::kAvx512;
  else if (requested == "rows") isa = Isa::kRows;
  else throw pybind11::value_error(source + ": expected auto, baseline, avx2, avx512 or rows, got '" + requested + "'");
  if (isa != Isa::kRows && static_cast<int>(isa) > static_cast<int>(best))
    throw pybind11::value_error(source + "=" + requested + ": the CPU supports at most " + isa_name(best));
  return isa;
}

#define RLMBA_AVX2 __attribute__((target("avx2,fma,f16c")))
#define RLMBA_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,f16c,prefer-vector-width=512")))

// ---------------------------------------------------------------- the variant trace
// For each kernel (by name), the set of ISA variants that ran since the last reset.
struct VariantTrace {
  std::mutex lock;
  std::vector<std::string> names;
  std::atomic<uint32_t> seen[64] = {};
};
inline VariantTrace& variant_trace() {
  static VariantTrace trace;
  return trace;
}
inline int kernel_id(const char* name) {
  VariantTrace& t = variant_trace();
  std::lock_guard<std::mutex> guard(t.lock);
  t.names.emplace_back(name);
  return static_cast<int>(t.names.size()) - 1;
}
inline void note_variant(int id, Isa isa) {
  if (id < 64) variant_trace().seen[id].fetch_or(1u << static_cast<int>(isa), std::memory_order_relaxed);
}

// The variant of `isa` for a kernel with a baseline, an AVX2 and an AVX-512 build (rows: baseline).
inline Isa vector_isa(Isa isa) { return isa == Isa::kRows ? Isa::kBaseline : isa; }

// Three builds of the always-inline body `name` and name_isa(isa, args...) choosing one.
#define RLMBA_ISA_VARIANTS(name)                                                                     \
  template <class... A> decltype(auto) name##_baseline(A&&... a) { return name(std::forward<A>(a)...); } \
  template <class... A> RLMBA_AVX2 decltype(auto) name##_avx2(A&&... a) { return name(std::forward<A>(a)...); } \
  template <class... A> RLMBA_AVX512 decltype(auto) name##_avx512(A&&... a) {                        \
    return name(std::forward<A>(a)...);                                                              \
  }                                                                                                  \
  template <class... A> decltype(auto) name##_isa(::rlmba::cpu::Isa isa, A&&... a) {                 \
    static const int id = ::rlmba::cpu::kernel_id(#name);                                            \
    isa = ::rlmba::cpu::vector_isa(isa);                                                             \
    ::rlmba::cpu::note_variant(id, isa);                                                             \
    if (isa == ::rlmba::cpu::Isa::kAvx512) return name##_avx512(std::forward<A>(a)...);              \
    if (isa == ::rlmba::cpu::Isa::kAvx2) return name##_avx2(std::forward<A>(a)...);                  \
    return name##_baseline(std::forward<A>(a)...);                                                   \
  }

// Records that kernel `name` ran its `isa` path (for paths chosen by hand, not by the macro).
#define RLMBA_NOTE_VARIANT(name, isa)                                 \
  do {                                                                \
    static const int rlmba_id_ = ::rlmba::cpu::kernel_id(name);      \
    ::rlmba::cpu::note_variant(rlmba_id_, isa);                       \
  } while (0)

// ---------------------------------------------------------------- threads
// Threads for `work` units: one per `grain` units, at most `threads` (the caller's
// torch.get_num_threads()), at least one; one without OpenMP.
inline int threads_for(int threads, int64_t work, int64_t grain) {
#ifdef RLMBA_WITH_OPENMP
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, work / std::max<int64_t>(grain, 1))));
#else
  (void)threads, (void)work, (void)grain;
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

// fn(lo, hi, tid) over T contiguous slices of [0, count), one per thread.
template <class Fn> void parallel_slices(int64_t count, int T, const Fn& fn) {
  const Slices s{count, T};
#ifdef RLMBA_WITH_OPENMP
#pragma omp parallel num_threads(T)
  {
    const int t = thread_id();
    fn(s.lo(t), s.hi(t), t);
  }
#else
  fn(int64_t(0), count, 0);
#endif
}

}  // namespace cpu
}  // namespace rlmba
