// The CUDA kernels' host and warp helpers, one copy for every csrc/cuda/*.cu file: launch-size
// and error rules, a stream-ordered scratch buffer, and warp reductions with the tie rule of
// rlmba/select.h. COMPILED, NOT RUN: no GPU was available when this was written.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "rlmba/select.h"
#include "rlmba/storage.h"

namespace rlmba {
namespace cuda {

using select::by_storage;  // typed views of the pointers the bindings receive
using select::ptr;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// Blocks for `work` items at `per_block` a block, at least 1 and at most 1024 (grid-stride loops).
inline unsigned blocks_for(int64_t work, int64_t per_block) {
  const int64_t b = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(b, 1024)));
}

// A device scratch buffer freed on the stream when it goes out of scope.
template <class T> struct Scratch {
  T* p = nullptr;
  cudaStream_t s;
  Scratch(size_t count, cudaStream_t stream) : s(stream) {
    check(cudaMallocAsync(reinterpret_cast<void**>(&p), std::max<size_t>(1, count) * sizeof(T), stream), "cudaMallocAsync");
  }
  ~Scratch() { cudaFreeAsync(p, s); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

template <class T> __device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Arg-max (or arg-min) of (value, index) pairs across a warp; every lane gets the winner.
template <class T, bool kMax> __device__ inline void warp_best(T& v, int64_t& i) {
  for (int o = 16; o > 0; o /= 2) {
    const T ov = __shfl_xor_sync(kFull, v, o);
    const int64_t oi = __shfl_xor_sync(kFull, i, o);
    const bool take = i < 0 ? oi >= 0
                            : (oi >= 0 && (kMax ? select::better_max(ov, oi, v, i) : select::better_min(ov, oi, v, i)));
    if (take) v = ov, i = oi;
  }
}

}  // namespace cuda
}  // namespace rlmba
