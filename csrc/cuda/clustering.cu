// CUDA kernels of the clustering ops: the nearest-centroid GEMM epilogue, k-means++ seeding and
// the cluster sums of a Lloyd update, bound as _C.cuda_<name>.
//
// COMPILED, NOT RUN: no GPU was available when this was written (nvcc 13 compiles it). The
// per-element helpers are rlmba/select.h, shared with the CPU kernels and their tests. Treat
// results as unverified until tests/ run on a CUDA machine.
//
// Launchers take raw device pointers, int64 sizes and the caller's stream; none synchronises
// with the host: the k-means++ pick of step s is computed and consumed on the device.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "rlmba/bindings.h"
#include "rlmba/cuda_runtime.cuh"
#include "rlmba/kmeanspp.h"
#include "rlmba/select.h"
#include "rlmba/storage.h"

namespace py = pybind11;

namespace rlmba {
namespace cuda {
namespace {
namespace sel = rlmba::select;

using kmeanspp::kBlock;

#define RLMBA_WARP_ROWS(r, count)                                                                 \
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < (count); \
       r += static_cast<int64_t>(gridDim.x) * kWarps)

// |row - c|^2 across the warp (every lane gets it); lanes stride over D: coalesced.
template <class S, class C> __device__ inline C warp_sqdist(const S* row, const C* c, int64_t d) {
  C acc = 0;
  for (int64_t j = threadIdx.x & 31; j < d; j += 32) {
    const C t = C(sel::load(row[j])) - c[j];
    acc += t * t;
  }
  return warp_sum(acc);
}

// ================================================================ nearest centroid epilogue
// g = x_tile @ C^T [m, k] from cuBLAS (through torch). Warp per row: arg-min of |c_j|^2 - 2 g_ij
// (lanes stride over k; ties -> lowest j), then the direct distance to that centroid. Bytes:
// the g tile and the x tile once.
template <class C>
__global__ void nearest_kernel(const C* g, const C* xt, const C* cent, const C* cent_sq, int64_t m, int64_t k,
                               int64_t d, C* dist, int64_t* idx) {
  RLMBA_WARP_ROWS(r, m) {
    C best = INFINITY;
    int64_t jb = -1;
    for (int64_t j = threadIdx.x & 31; j < k; j += 32) {
      const C v = cent_sq[j] - C(2) * g[r * k + j];
      if (jb < 0 || sel::better_min(v, j, best, jb)) best = v, jb = j;
    }
    for (int o = 16; o > 0; o /= 2) {
      const C ov = __shfl_xor_sync(kFull, best, o);
      const int64_t oj = __shfl_xor_sync(kFull, jb, o);
      if (oj >= 0 && (jb < 0 || sel::better_min(ov, oj, best, jb))) best = ov, jb = oj;
    }
    const C d2 = warp_sqdist(xt + r * d, cent + jb * d, d);
    if ((threadIdx.x & 31) == 0) dist[r] = sqrt(d2), idx[r] = jb;
  }
}

// ================================================================ k-means++ seeding
// Step s: (1) the rows kernel, warp per row, updates w (squared distance to the nearest pick)
// and a (its position) with the new center, skipping rows that Elkan's test rules out (no read
// of the row: 12 bytes instead of D * sizeof(S)); (2) one thread per block of kBlock rows sums w
// sequentially in float64 (the fixed order of the spec, so every backend agrees to the bit);
// (3) one block picks the next row by the float64 prefix sums (thread 0, sequential over the
// block sums then within one block) and loads it as the next center; (4) a warp per earlier pick
// computes its squared distance to the new center for the next Elkan test.
template <class S, class C>
__global__ void seed_rows_kernel(const S* x, int64_t n, int64_t d, const C* center, int64_t s, const C* cc2, C margin,
                                 C* w, int64_t* a) {
  RLMBA_WARP_ROWS(r, n) {
    const C wr = s == 0 ? C(INFINITY) : w[r];
    if (s > 0 && sel::elkan_skip(cc2[a[r]], wr, margin)) continue;  // warp-uniform branch
    const C v = warp_sqdist(x + r * d, center, d);
    if ((threadIdx.x & 31) == 0 && (s == 0 || v < wr)) w[r] = v, a[r] = s;  // ties keep the earlier pick
  }
}

template <class C> __global__ void block_sums_kernel(const C* w, int64_t n, int64_t nb, double* block_sum) {
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < nb;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double q = 0;
    for (int64_t i = b * kBlock; i < min(n, (b + 1) * kBlock); ++i) q += static_cast<double>(w[i]);
    block_sum[b] = q;
  }
}

template <class S, class C>
__global__ void seed_pick_kernel(const C* w, const double* block_sum, int64_t nb, int64_t n, const double* u,
                                 int64_t s, unsigned char* picked, int64_t* seeds, const S* x, int64_t d, C* center) {
  __shared__ int64_t pick;
  if (threadIdx.x == 0) {
    int64_t i = -1;
    if (s == 0) {
      i = min(n - 1, static_cast<int64_t>(u[0] * static_cast<double>(n)));
    } else {
      double total = 0;
      for (int64_t b = 0; b < nb; ++b) total += block_sum[b];
      if (!(total > 0)) {  // every row duplicates a pick: the lowest unpicked row
        i = 0;
        while (picked[i]) ++i;
      } else {
        const double target = u[s] * total;
        double end = 0, offset = 0;
        int64_t b = 0;
        for (; b < nb; ++b) {
          offset = end;
          end = end + block_sum[b];
          if (end > target) break;
        }
        if (b < nb) {
          double q = 0;
          for (int64_t r = b * kBlock; r < min(n, (b + 1) * kBlock) && i < 0; ++r) {
            q += static_cast<double>(w[r]);
            if (offset + q > target) i = r;
          }
        }
        if (i < 0) {  // rounding left no prefix above the target: the last row with w > 0
          i = n - 1;
          while (i > 0 && !(w[i] > 0)) --i;
        }
      }
    }
    picked[i] = 1;
    seeds[s] = i;
    pick = i;
  }
  __syncthreads();
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) center[j] = C(sel::load(x[pick * d + j]));
}

template <class S, class C>
__global__ void seed_cc2_kernel(const S* x, int64_t d, const int64_t* seeds, int64_t s, const C* center, C* cc2) {
  RLMBA_WARP_ROWS(p, s) {
    const C v = warp_sqdist(x + seeds[p] * d, center, d);
    if ((threadIdx.x & 31) == 0) cc2[p] = v;
  }
}

template <class S, class C>
void kmeanspp(const S* x, int64_t n, int64_t d, int64_t k, const double* u, int64_t* seeds, C* w, int64_t* a,
              unsigned char* picked, double* block_sum, C* cc2, C* center, cudaStream_t stream) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  const C margin = std::max(C(1e-4), C(8) * C(d) * std::numeric_limits<C>::epsilon());
  check(cudaMemsetAsync(picked, 0, n, stream), "kmeanspp");
  seed_pick_kernel<S, C><<<1, kThreads, 0, stream>>>(w, block_sum, nb, n, u, 0, picked, seeds, x, d, center);
  check_launch("seed_pick_kernel");
  for (int64_t s = 0; s < k; ++s) {
    if (s > 0) {
      seed_cc2_kernel<S, C><<<blocks_for(s, kWarps), kThreads, 0, stream>>>(x, d, seeds, s, center, cc2);
      check_launch("seed_cc2_kernel");
    }
    seed_rows_kernel<S, C><<<blocks_for(n, kWarps), kThreads, 0, stream>>>(x, n, d, center, s, cc2, margin, w, a);
    check_launch("seed_rows_kernel");
    if (s + 1 == k) break;
    block_sums_kernel<C><<<blocks_for(nb, kThreads), kThreads, 0, stream>>>(w, n, nb, block_sum);
    check_launch("block_sums_kernel");
    seed_pick_kernel<S, C><<<1, kThreads, 0, stream>>>(w, block_sum, nb, n, u, s + 1, picked, seeds, x, d, center);
    check_launch("seed_pick_kernel");
  }
}

// ================================================================ cluster sums
// One thread per element: sums[a_i, j] += x_ij with float64 atomics; counts with one atomic per
// row. Atomic order varies run to run: the float64 sums may differ in the last bits (below the
// float32 rounding of the centroids). Bytes: x and a once.
template <class S>
__global__ void cluster_sums_kernel(const S* x, int64_t n, int64_t d, const int64_t* a, double* sums,
                                    unsigned long long* counts) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n * d;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / d, j = e - i * d;
    atomicAdd(&sums[a[i] * d + j], static_cast<double>(sel::load(x[e])));
    if (j == 0) atomicAdd(&counts[a[i]], 1ull);
  }
}

}  // namespace
}  // namespace cuda
}  // namespace rlmba

RLMBA_BINDINGS(cuda_clustering) {
  using namespace rlmba::cuda;
  m.def("cuda_nearest_centroid", [](uintptr_t g, uintptr_t xt, uintptr_t cent, uintptr_t cent_sq, int64_t m_rows,
                                    int64_t k, int64_t d, uintptr_t dist, uintptr_t idx, bool is_double, uintptr_t stream) {
    const unsigned grid = blocks_for(m_rows, kWarps);
    if (is_double)
      nearest_kernel<double><<<grid, kThreads, 0, as_stream(stream)>>>(
          ptr<const double>(g), ptr<const double>(xt), ptr<const double>(cent), ptr<const double>(cent_sq), m_rows, k, d,
          ptr<double>(dist), ptr<int64_t>(idx));
    else
      nearest_kernel<float><<<grid, kThreads, 0, as_stream(stream)>>>(
          ptr<const float>(g), ptr<const float>(xt), ptr<const float>(cent), ptr<const float>(cent_sq), m_rows, k, d,
          ptr<float>(dist), ptr<int64_t>(idx));
    check_launch("nearest_kernel");
  }, py::arg("g"), py::arg("xt"), py::arg("cent"), py::arg("cent_sq"), py::arg("m_rows"), py::arg("k"), py::arg("d"), py::arg("dist"), py::arg("idx"), py::arg("is_double"), py::arg("stream"),
     "Nearest centroid and distance from a GEMM tile (COMPILED, NOT RUN).");

  m.def("cuda_kmeanspp", [](uintptr_t x, int storage, int64_t n, int64_t d, int64_t k, uintptr_t u, uintptr_t seeds,
                            uintptr_t w, uintptr_t a, uintptr_t picked, uintptr_t block_sum, uintptr_t cc2,
                            uintptr_t center, uintptr_t stream) {
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      kmeanspp(xs, n, d, k, ptr<const double>(u), ptr<int64_t>(seeds), ptr<C>(w), ptr<int64_t>(a),
                   ptr<unsigned char>(picked), ptr<double>(block_sum), ptr<C>(cc2), ptr<C>(center), as_stream(stream));
    });
  }, py::arg("x"), py::arg("storage"), py::arg("n"), py::arg("d"), py::arg("k"), py::arg("u"), py::arg("seeds"), py::arg("w"), py::arg("a"), py::arg("picked"), py::arg("block_sum"), py::arg("cc2"), py::arg("center"), py::arg("stream"),
     "k-means++ seeds with device scratch buffers from the caller (COMPILED, NOT RUN).");

  m.def("cuda_cluster_sums", [](uintptr_t x, int storage, int64_t n, int64_t d, uintptr_t a, uintptr_t sums,
                                uintptr_t counts, uintptr_t stream) {
    by_storage(storage, x, [&](auto xs, auto*) {
      cluster_sums_kernel<<<blocks_for(n * d, kThreads), kThreads, 0, as_stream(stream)>>>(
          xs, n, d, ptr<const int64_t>(a), ptr<double>(sums), ptr<unsigned long long>(counts));
      check_launch("cluster_sums_kernel");
    });
  }, py::arg("x"), py::arg("storage"), py::arg("n"), py::arg("d"), py::arg("a"), py::arg("sums"), py::arg("counts"), py::arg("stream"),
     "Per-cluster float64 sums and counts (COMPILED, NOT RUN).");
}
