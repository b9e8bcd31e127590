// CUDA top-b selection: rlmba::cuda::topb_select, bound as _C.cuda_topb_select; the CUDA twin of
// csrc/cpu/topb.cpp.
//
// COMPILED, NOT RUN: no GPU was available when this was written (nvcc 13 compiles it). The
// per-element helpers (order keys, tie rule) are rlmba/select.h, the code the CPU kernels and
// tests run. Launchers take raw device pointers, int64 sizes and the caller's stream; top-b reads
// small histograms back to the host between radix levels.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/cuda_runtime.cuh"
#include "rlmba/select.h"
#include "rlmba/storage.h"

namespace py = pybind11;

namespace rlmba {
namespace cuda {
namespace sel = rlmba::select;

// ================================================================ top-b
// Radix select on order keys (select.h), host-driven: a stats pass (NaN count, min and max key),
// then one histogram pass per 11-bit level below the common prefix of min and max, each read
// back to the host to pick the digit of the b-th key, until the keys at or above it fit in the
// candidate buffer (one collect pass, any order) or the full key T is reached (keys > T, plus
// the first r keys == T in index order through per-tile counts and an ordered block scan).
// Python sorts the <= cap candidates by (value desc, index asc). Grid: grid-stride, kThreads
// threads a block; bytes per pass: n scores.
constexpr int kDigitBits = 11;
constexpr int kBuckets = 1 << kDigitBits;

struct TopbStats {
  unsigned long long nans, min_key, max_key;
};

template <class F>
__global__ void topb_stats_kernel(const F* x, int64_t n, bool largest, TopbStats* st) {
  unsigned long long nans = 0, mn = ~0ull, mx = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const unsigned long long k = sel::order_key(x[i], largest);
    nans += k == 0;
    if (k != 0) mn = min(mn, k);
    mx = max(mx, k);
  }
  for (int o = 16; o > 0; o /= 2) {
    nans += __shfl_xor_sync(kFull, nans, o);
    mn = min(mn, __shfl_xor_sync(kFull, mn, o));
    mx = max(mx, __shfl_xor_sync(kFull, mx, o));
  }
  if ((threadIdx.x & 31) == 0) {
    atomicAdd(&st->nans, nans);
    atomicMin(&st->min_key, mn);
    atomicMax(&st->max_key, mx);
  }
}

template <class F>
__global__ void topb_hist_kernel(const F* x, int64_t n, bool largest, int fixed, unsigned long long prefix, int shift,
                                 unsigned* hist) {
  using K = typename sel::KeyOf<F>::type;
  constexpr int kBits = 8 * sizeof(K);
  __shared__ unsigned h[kBuckets];
  for (int j = threadIdx.x; j < kBuckets; j += blockDim.x) h[j] = 0;
  __syncthreads();
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const K k = sel::order_key(x[i], largest);
    if (k != 0 && (fixed == 0 || static_cast<unsigned long long>(k >> (kBits - fixed)) == prefix))
      atomicAdd(&h[(k >> shift) & (kBuckets - 1)], 1u);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < kBuckets; j += blockDim.x)
    if (h[j]) atomicAdd(&hist[j], h[j]);
}

// Indices of the keys >= lo (strict: > lo) into out, in any order; lo >= 1 excludes NaN.
template <class F>
__global__ void topb_collect_kernel(const F* x, int64_t n, bool largest, unsigned long long lo, bool strict,
                                    int64_t* out, unsigned long long* count, int64_t cap) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const unsigned long long k = sel::order_key(x[i], largest);
    if (strict ? k > lo : k >= lo) {
      const unsigned long long pos = atomicAdd(count, 1ull);
      if (static_cast<int64_t>(pos) < cap) out[pos] = i;
    }
  }
}

// Keys == T per tile (block b owns [b tile, (b + 1) tile)).
template <class F>
__global__ void topb_eq_count_kernel(const F* x, int64_t n, bool largest, unsigned long long T, int64_t tile,
                                     int64_t* counts) {
  __shared__ int64_t warp_counts[kWarps];
  const int64_t begin = blockIdx.x * tile, end = min(n, begin + tile);
  int64_t c = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) c += sel::order_key(x[i], largest) == T;
  c = warp_sum(c);
  if ((threadIdx.x & 31) == 0) warp_counts[threadIdx.x >> 5] = c;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t total = 0;
    for (int w = 0; w < kWarps; ++w) total += warp_counts[w];
    counts[blockIdx.x] = total;
  }
}

// The keys == T whose rank in index order is < r, written at out[rank]: each block walks its
// tile in order, ranking with warp ballots and the block's running offset.
template <class F>
__global__ void topb_eq_write_kernel(const F* x, int64_t n, bool largest, unsigned long long T, int64_t tile,
                                     const int64_t* offsets, int64_t r, int64_t* out) {
  __shared__ int warp_hits[kWarps];
  __shared__ int64_t base;
  const int64_t begin = blockIdx.x * tile, end = min(n, begin + tile);
  if (threadIdx.x == 0) base = offsets[blockIdx.x];
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t i0 = begin; i0 < end && base < r; i0 += blockDim.x) {
    const int64_t i = i0 + threadIdx.x;
    const bool hit = i < end && sel::order_key(x[i], largest) == T;
    const unsigned ballot = __ballot_sync(kFull, hit);
    if (lane == 0) warp_hits[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < kWarps; ++w) before += w < warp ? warp_hits[w] : 0, total += warp_hits[w];
    const int64_t rank = base + before + __popc(ballot & ((1u << lane) - 1u));
    if (hit && rank < r) out[rank] = i;
    __syncthreads();
    if (threadIdx.x == 0) base += total;
    __syncthreads();
  }
}

// Writes candidate indices into out (capacity cap >= 4 b) and returns (count, need): the top
// `need` = min(b, non-NaN) are among out[:count].
template <class F>
std::pair<int64_t, int64_t> topb_select(const F* x, int64_t n, int64_t b, bool largest, int64_t* out, int64_t cap,
                                        cudaStream_t stream) {
  using K = typename sel::KeyOf<F>::type;
  constexpr int kBits = 8 * sizeof(K);
  const unsigned grid = blocks_for(n, kThreads);
  Scratch<TopbStats> st(1, stream);
  TopbStats init{0, ~0ull, 0}, stats;
  check(cudaMemcpyAsync(st.p, &init, sizeof init, cudaMemcpyHostToDevice, stream), "topb stats");
  topb_stats_kernel<<<grid, kThreads, 0, stream>>>(x, n, largest, st.p);
  check_launch("topb_stats_kernel");
  check(cudaMemcpyAsync(&stats, st.p, sizeof stats, cudaMemcpyDeviceToHost, stream), "topb stats");
  check(cudaStreamSynchronize(stream), "topb stats");
  const int64_t need = std::min<int64_t>(b, n - static_cast<int64_t>(stats.nans));
  if (need == 0) return {0, 0};
  const unsigned long long diff = stats.min_key ^ stats.max_key;
  int fixed = 0;
  while (fixed < kBits && !((diff >> (kBits - 1 - fixed)) & 1)) ++fixed;
  unsigned long long prefix = fixed == 0 ? 0 : stats.max_key >> (kBits - fixed);
  int64_t above = 0, count_ge = n - static_cast<int64_t>(stats.nans);
  Scratch<unsigned> hist(kBuckets, stream);
  std::vector<unsigned> h(kBuckets);
  while (fixed < kBits && count_ge > cap) {
    const int width = std::min(kDigitBits, kBits - fixed), shift = kBits - fixed - width;
    check(cudaMemsetAsync(hist.p, 0, kBuckets * sizeof(unsigned), stream), "topb hist");
    topb_hist_kernel<<<grid, kThreads, 0, stream>>>(x, n, largest, fixed, prefix, shift, hist.p);
    check_launch("topb_hist_kernel");
    check(cudaMemcpyAsync(h.data(), hist.p, kBuckets * sizeof(unsigned), cudaMemcpyDeviceToHost, stream), "topb hist");
    check(cudaStreamSynchronize(stream), "topb hist");
    int64_t cum = above, d = (int64_t(1) << width) - 1;
    for (; d > 0 && cum + h[d] < need; --d) cum += h[d];
    prefix = (fixed == 0 ? 0ull : prefix << width) | static_cast<unsigned long long>(d);
    fixed += width;
    above = cum;
    count_ge = cum + h[d];
  }
  Scratch<unsigned long long> counter(1, stream);
  check(cudaMemsetAsync(counter.p, 0, sizeof(unsigned long long), stream), "topb collect");
  if (count_ge <= cap) {  // every key at or above the prefix's lowest key
    const unsigned long long lo = std::max<unsigned long long>(fixed == kBits ? prefix : prefix << (kBits - fixed), 1);
    topb_collect_kernel<<<grid, kThreads, 0, stream>>>(x, n, largest, lo, false, out, counter.p, cap);
    check_launch("topb_collect_kernel");
    return {count_ge, need};
  }
  // full key T with too many ties: keys > T (fewer than need), then the first r keys == T
  topb_collect_kernel<<<grid, kThreads, 0, stream>>>(x, n, largest, prefix, true, out, counter.p, cap);
  check_launch("topb_collect_kernel");
  const int64_t tiles = grid, tile = (n + tiles - 1) / tiles;
  Scratch<int64_t> counts(tiles, stream);
  topb_eq_count_kernel<<<tiles, kThreads, 0, stream>>>(x, n, largest, prefix, tile, counts.p);
  check_launch("topb_eq_count_kernel");
  std::vector<int64_t> c(tiles);
  check(cudaMemcpyAsync(c.data(), counts.p, tiles * sizeof(int64_t), cudaMemcpyDeviceToHost, stream), "topb ties");
  check(cudaStreamSynchronize(stream), "topb ties");
  int64_t run = 0;
  for (auto& v : c) {
    const int64_t here = v;
    v = run, run += here;  // exclusive scan: rank of each tile's first tie
  }
  check(cudaMemcpyAsync(counts.p, c.data(), tiles * sizeof(int64_t), cudaMemcpyHostToDevice, stream), "topb ties");
  topb_eq_write_kernel<<<tiles, kThreads, 0, stream>>>(x, n, largest, prefix, tile, counts.p, need - above,
                                                       out + above);
  check_launch("topb_eq_write_kernel");
  check(cudaStreamSynchronize(stream), "topb ties");  // c must outlive the copy
  return {need, need};
}

}  // namespace cuda
}  // namespace rlmba

RLMBA_BINDINGS(cuda_topb) {
  using namespace rlmba::cuda;
  m.def("cuda_topb_select", [](uintptr_t x, int64_t n, int64_t b, bool largest, uintptr_t out, int64_t cap,
                               bool is_double, uintptr_t stream) {
    py::gil_scoped_release release;
    return is_double ? topb_select(ptr<const double>(x), n, b, largest, ptr<int64_t>(out), cap, as_stream(stream))
                     : topb_select(ptr<const float>(x), n, b, largest, ptr<int64_t>(out), cap, as_stream(stream));
  }, py::arg("x"), py::arg("n"), py::arg("b"), py::arg("largest"), py::arg("out"), py::arg("cap"), py::arg("is_double"), py::arg("stream"),
     "Candidate indices (count, need) of the top-b of x[n] into out[cap] (COMPILED, NOT RUN).");
}
