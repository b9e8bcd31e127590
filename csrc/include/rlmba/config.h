// The macros every kernel file shares, defined once: host/device and inlining qualifiers, and the
// loop pragmas of the vectorised lane loops. Included by every rlmba header.
#pragma once

#if defined(__CUDACC__)
#define RLMBA_HD __host__ __device__
#define RLMBA_INLINE __forceinline__
#else
#define RLMBA_HD
#define RLMBA_INLINE inline __attribute__((always_inline))
#endif

// Lane loops are independent across iterations: `omp simd` (any OpenMP or -fopenmp-simd build)
// lets the vectoriser skip its dependence and cost checks; without OpenMP, GCC's ivdep.
#define RLMBA_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define RLMBA_SIMD _Pragma("omp simd")
#define RLMBA_SIMD_SUM(var) RLMBA_PRAGMA(omp simd reduction(+ : var))
#else
#define RLMBA_SIMD _Pragma("GCC ivdep")
#define RLMBA_SIMD_SUM(var)
#endif
