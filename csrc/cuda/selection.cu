// CUDA kernels of the selection ops: rlmba::cuda::{topb_select, kcenter_greedy} and the k-center
// helpers (inverse row norms, the labeled-set GEMM epilogue), bound as _C.cuda_<name>.
//
// COMPILED, NOT RUN: no GPU was available when this was written (nvcc 13 compiles it). The
// per-element helpers (order keys, half loads, tie rule) are rlmba/select.h, the code the CPU
// kernels and tests run. Treat results as unverified until tests/ run on a CUDA machine.
//
// Launchers take raw device pointers, int64 sizes and the caller's stream (an integer, e.g.
// torch.cuda.current_stream().cuda_stream). k-center never synchronises with the host (the pick
// of step s is written and read on the device); top-b reads small histograms back to the host
// between radix levels.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/select.h"
#include "rlmba/storage.h"

namespace py = pybind11;

namespace rlmba {
namespace cuda {
namespace sel = rlmba::select;
namespace {  // file-local helpers

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
void check_launch(const char* op) { check(cudaGetLastError(), op); }

unsigned blocks_for(int64_t work, int64_t per_block) {
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
    const bool take = i < 0 ? oi >= 0 : (oi >= 0 && (kMax ? sel::better_max(ov, oi, v, i) : sel::better_min(ov, oi, v, i)));
    if (take) v = ov, i = oi;
  }
}

}  // namespace

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

// ================================================================ k-center greedy
// One pass per pick: warp per pool row (lanes stride over D: coalesced), grid-stride over rows;
// mode 0 = arg-max of mind only, 1 = distance to `center` only (the mean), 2 = update mind with
// the distance to `center` and arg-max. Each block writes its best (value, index) to a partial;
// the one-block pick kernel reduces them (ties: lowest index), marks the pick (mind = -inf) and
// loads the next center on the device. Bytes per pick: the pool once plus mind.
template <class S, class C>
__global__ void kcenter_pass_kernel(const S* x, int64_t n, int64_t d, const C* center, const C* inv_norm,
                                    bool cosine, int mode, C* mind, C* part_val, int64_t* part_idx) {
  __shared__ C wv[kWarps];
  __shared__ int64_t wi[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  C bv = -INFINITY;
  int64_t bi = -1;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + warp; r < n; r += static_cast<int64_t>(gridDim.x) * kWarps) {
    C v = mind[r];
    if (mode != 0) {
      const C scale = cosine ? inv_norm[r] : C(1);
      C acc = 0;
      for (int64_t j = lane; j < d; j += 32) {
        const C t = C(sel::load(x[r * d + j])) * scale - center[j];
        acc += t * t;
      }
      acc = warp_sum(acc);
      const C dist = cosine ? C(0.5) * acc : acc;
      v = mode == 1 ? dist : min(v, dist);
      if (mode == 2 && lane == 0) mind[r] = v;
    }
    if (bi < 0 ? v > -INFINITY : sel::better_max(v, r, bv, bi)) bv = v, bi = r;
  }
  warp_best<C, true>(bv, bi);
  if (lane == 0) wv[warp] = bv, wi[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kWarps; ++w)
      if (wi[w] >= 0 && (bi < 0 || sel::better_max(wv[w], wi[w], bv, bi))) bv = wv[w], bi = wi[w];
    part_val[blockIdx.x] = bv, part_idx[blockIdx.x] = bi;
  }
}

template <class S, class C>
__global__ void kcenter_pick_kernel(const C* part_val, const int64_t* part_idx, int parts, const S* x, int64_t d,
                                    const C* inv_norm, bool cosine, C* mind, int64_t* out, int64_t step, C* center,
                                    int64_t fixed) {
  __shared__ C wv[kWarps];
  __shared__ int64_t wi[kWarps];
  __shared__ int64_t pick;
  C bv = -INFINITY;
  int64_t bi = -1;
  for (int p = threadIdx.x; p < parts; p += blockDim.x)
    if (part_idx[p] >= 0 && (bi < 0 || sel::better_max(part_val[p], part_idx[p], bv, bi))) bv = part_val[p], bi = part_idx[p];
  warp_best<C, true>(bv, bi);
  if ((threadIdx.x & 31) == 0) wv[threadIdx.x >> 5] = bv, wi[threadIdx.x >> 5] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kWarps; ++w)
      if (wi[w] >= 0 && (bi < 0 || sel::better_max(wv[w], wi[w], bv, bi))) bv = wv[w], bi = wi[w];
    if (fixed >= 0) bi = fixed;  // the first pick, chosen by the caller
    pick = bi;
    out[step] = bi;
    if (bi >= 0) mind[bi] = -INFINITY;
  }
  __syncthreads();
  if (pick < 0) return;  // every row at -inf: the caller asked for more picks than rows
  const C scale = cosine ? inv_norm[pick] : C(1);
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) center[j] = C(sel::load(x[pick * d + j])) * scale;
}

// The picks loop from `first` (chosen by the caller); mind initialised by the caller.
template <class S, class C>
void kcenter_greedy(const S* x, int64_t n, int64_t d, int64_t first, int64_t b, bool cosine, const C* inv_norm,
                    C* mind, int64_t* out, cudaStream_t stream) {
  const unsigned grid = blocks_for(n, kWarps);
  Scratch<C> part_val(grid, stream), center(d, stream);
  Scratch<int64_t> part_idx(grid, stream);
  for (int64_t step = 0; step < b; ++step) {
    if (step > 0) {
      kcenter_pass_kernel<S, C><<<grid, kThreads, 0, stream>>>(x, n, d, center.p, inv_norm, cosine, 2, mind,
                                                               part_val.p, part_idx.p);
      check_launch("kcenter_pass_kernel");
    }
    kcenter_pick_kernel<S, C><<<1, kThreads, 0, stream>>>(part_val.p, part_idx.p, step > 0 ? grid : 0, x, d, inv_norm,
                                                          cosine, mind, out, step, center.p, step > 0 ? -1 : first);
    check_launch("kcenter_pick_kernel");
  }
}

// 1 / |x_i|: warp per row. Bytes: the pool once.
template <class S, class C> __global__ void inv_norms_kernel(const S* x, int64_t n, int64_t d, C* out) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < n;
       r += static_cast<int64_t>(gridDim.x) * kWarps) {
    C acc = 0;
    for (int64_t j = lane; j < d; j += 32) {
      const C v = C(sel::load(x[r * d + j]));
      acc += v * v;
    }
    acc = warp_sum(acc);
    if (lane == 0) out[r] = C(1) / sqrt(acc);
  }
}

// Labeled-set GEMM epilogue (see csrc/cpu/selection.cpp labeled_min_range): warp per tile row;
// g [m, L] from cuBLAS through torch. Bytes: the g tile and the x tile once.
template <class C>
__global__ void labeled_min_kernel(const C* g, const C* xt, const C* lab, const C* lab_sq, const C* inv_norm,
                                   int64_t m, int64_t L, int64_t d, bool cosine, C refine_tol, C* mind) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < m;
       r += static_cast<int64_t>(gridDim.x) * kWarps) {
    C best = INFINITY;
    int64_t jb = -1;
    for (int64_t j = lane; j < L; j += 32) {
      const C v = cosine ? -g[r * L + j] : lab_sq[j] - C(2) * g[r * L + j];
      if (jb < 0 || sel::better_min(v, j, best, jb)) best = v, jb = j;
    }
    warp_best<C, false>(best, jb);
    C xx = 0;
    for (int64_t j = lane; j < d; j += 32) xx += xt[r * d + j] * xt[r * d + j];
    xx = warp_sum(xx);
    const C s = cosine ? inv_norm[r] : C(1);
    C v = cosine ? C(1) + best * s : xx + best;
    if (v < refine_tol * (cosine ? C(1) : xx + lab_sq[jb])) {  // cancellation: the direct form
      C acc = 0;
      for (int64_t j = lane; j < d; j += 32) {
        const C t = xt[r * d + j] * s - lab[jb * d + j];
        acc += t * t;
      }
      acc = warp_sum(acc);
      v = cosine ? C(0.5) * acc : acc;
    }
    if (lane == 0) mind[r] = min(mind[r], max(v, C(0)));
  }
}

}  // namespace cuda
}  // namespace rlmba

// ================================================================ bindings
namespace {
namespace rc = rlmba::cuda;
using rlmba::select::BFloat16;
using rlmba::select::Half16;

using rlmba::select::by_storage;
using rlmba::select::ptr;
cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

}  // namespace

RLMBA_BINDINGS(cuda_selection) {
  m.def("cuda_topb_select", [](uintptr_t x, int64_t n, int64_t b, bool largest, uintptr_t out, int64_t cap,
                               bool is_double, uintptr_t stream) {
    py::gil_scoped_release release;
    return is_double ? rc::topb_select(ptr<const double>(x), n, b, largest, ptr<int64_t>(out), cap, as_stream(stream))
                     : rc::topb_select(ptr<const float>(x), n, b, largest, ptr<int64_t>(out), cap, as_stream(stream));
  }, "Candidate indices (count, need) of the top-b of x[n] into out[cap] (COMPILED, NOT RUN).");

  m.def("cuda_kcenter_greedy", [](uintptr_t x, int storage, int64_t n, int64_t d, int64_t first, int64_t b, int metric,
                                  uintptr_t inv_norm, uintptr_t mind, uintptr_t out, uintptr_t stream) {
    if (first < 0 || first >= n || b < 1 || b > n) throw py::value_error("cuda_kcenter_greedy: need 0 <= first < n, 1 <= b <= n");
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      rc::kcenter_greedy(xs, n, d, first, b, metric == 1, ptr<const C>(inv_norm), ptr<C>(mind), ptr<int64_t>(out),
                         as_stream(stream));
    });
  }, py::arg("x"), py::arg("storage"), py::arg("n"), py::arg("d"), py::arg("first"), py::arg("b"), py::arg("metric"),
     py::arg("inv_norm"), py::arg("mind"), py::arg("out"), py::arg("stream"),
     "k-center greedy picks from `first` into out[b] (device), mind initialised by the caller (COMPILED, NOT RUN).");

  m.def("cuda_inv_norms", [](uintptr_t x, int storage, int64_t n, int64_t d, uintptr_t out, uintptr_t stream) {
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      rc::inv_norms_kernel<<<rc::blocks_for(n, rc::kWarps), rc::kThreads, 0, as_stream(stream)>>>(xs, n, d, ptr<C>(out));
      rc::check_launch("inv_norms_kernel");
    });
  }, "1 / |x_i| into out[n] (COMPILED, NOT RUN).");

  m.def("cuda_labeled_min", [](uintptr_t g, uintptr_t xt, uintptr_t lab, uintptr_t lab_sq, uintptr_t inv_norm,
                               int64_t m_rows, int64_t L, int64_t d, int metric, double refine_tol, uintptr_t mind,
                               bool is_double, uintptr_t stream) {
    const unsigned grid = rc::blocks_for(m_rows, rc::kWarps);
    if (is_double)
      rc::labeled_min_kernel<double><<<grid, rc::kThreads, 0, as_stream(stream)>>>(
          ptr<const double>(g), ptr<const double>(xt), ptr<const double>(lab), ptr<const double>(lab_sq),
          ptr<const double>(inv_norm), m_rows, L, d, metric == 1, refine_tol, ptr<double>(mind));
    else
      rc::labeled_min_kernel<float><<<grid, rc::kThreads, 0, as_stream(stream)>>>(
          ptr<const float>(g), ptr<const float>(xt), ptr<const float>(lab), ptr<const float>(lab_sq),
          ptr<const float>(inv_norm), m_rows, L, d, metric == 1, static_cast<float>(refine_tol), ptr<float>(mind));
    rc::check_launch("labeled_min_kernel");
  }, "Fold a tile's nearest labeled distance into mind (COMPILED, NOT RUN).");
}
