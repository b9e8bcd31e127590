// k-means++ seeding on factored gradient embeddings (BADGE, BMMAL), CUDA backend.
// COMPILED, NOT RUN: no GPU was available when this was written; nothing here has executed.
//
// Contract: src/rlmba/ops/seeding.py; per-element math shared with the C++ backend:
// rlmba/seeding.h. Everything stays on the device and on the caller's stream; the host only
// enqueues kernels (b - 1 update/pick pairs), so there is no host synchronisation per step.
//
// Kernels and grid mapping (N points, C classes, M modalities of widths h_m, T = float or double):
// - prepare: one thread per point; reads N (C + sum h_m) sizeof(T), writes y, a, r, D, picked.
// - first_pick: one block of 1024 threads strides over a (8N bytes); argmax, lowest index on ties.
// - update (per step): one CUDA block per prefix block of kBlock = 2048 points, one warp per point
//   (32 warps per block, lanes stride the feature rows so reads are coalesced); per step it reads
//   N (C + sum h_m) sizeof(T) + 24N bytes and writes D (8N) and one sum per block. The block
//   sum is taken by one thread, sequentially, from a shared-memory copy of the block's D: the same
//   order as the C++ backend and as pick's scan, so scan and sum agree bit for bit.
// - pick (per step): one block of 256 threads; thread 0 walks the block sums and scans one block
//   (~2 * 2048 dependent adds); the rare fallbacks use all threads (atomicMin / atomicMax).
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "rlmba/bindings.h"
#include "rlmba/seeding.h"

namespace py = pybind11;

namespace rlmba {
namespace cuda {
namespace {

using seeding::kBlock;
constexpr int kUpdateThreads = 1024;  // 32 warps, one point per warp at a time; <= 64 registers
constexpr int kPickThreads = 256;

template <class T>
struct Pool {
  const T* p;
  int64_t N, C, M;
  const int64_t* hptr;  // device array of M feature-matrix addresses
  const int64_t* dim;   // device array of M widths
  const double* s;
  int64_t s_stride;     // 0: global scales [1, M]; M: per sample [N, M]
};

struct Work {
  int64_t* y;
  double *a, *D, *block_sum;
  uint8_t* picked;
};

template <class T>
__device__ inline const T* hrow(const Pool<T>& P, int64_t m, int64_t i) {
  return reinterpret_cast<const T*>(P.hptr[m]) + i * P.dim[m];
}

__device__ inline double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;  // butterfly: every lane holds the same, order-fixed sum
}

template <class T>
__global__ void prepare_kernel(Pool<T> P, Work W) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= P.N) return;
  const T* p = P.p + i * P.C;
  int64_t y = seeding::argmax_class(p, P.C);
  double hh = 0.0;
  for (int64_t m = 0; m < P.M; ++m) {
    double s = P.s[i * P.s_stride + m];
    hh += (s * s) * seeding::dot64(hrow(P, m, i), hrow(P, m, i), P.dim[m]);
  }
  double a = seeding::q_dot(p, y, p, y, P.C) * hh;
  W.y[i] = y;
  W.a[i] = a;
  W.D[i] = INFINITY;
  W.picked[i] = 0;
}

__global__ void __launch_bounds__(1024) first_pick_kernel(int64_t N, Work W, int64_t* out) {
  __shared__ double best_a[1024];
  __shared__ int64_t best_i[1024];
  int64_t j = -1;
  double v = -1.0;  // a >= 0
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
    if (W.a[i] > v) v = W.a[i], j = i;  // strictly greater: lowest index of this thread's stride
  best_a[threadIdx.x] = v;
  best_i[threadIdx.x] = j;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) {
      double va = best_a[threadIdx.x + half];
      int64_t ia = best_i[threadIdx.x + half];
      bool better = va > best_a[threadIdx.x] ||
                    (va == best_a[threadIdx.x] && ia >= 0 && (best_i[threadIdx.x] < 0 || ia < best_i[threadIdx.x]));
      if (better) best_a[threadIdx.x] = va, best_i[threadIdx.x] = ia;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    int64_t c = best_i[0];
    out[0] = c;
    W.picked[c] = 1;
    W.D[c] = 0.0;
  }
}

template <class T>
__global__ void __launch_bounds__(kUpdateThreads)
    update_kernel(Pool<T> P, Work W, const int64_t* out, int64_t t) {
  __shared__ double sD[kBlock];
  const int64_t c = out[t - 1];
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t len = min(kBlock, P.N - i0);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const double a_c = W.a[c];
  const int64_t y_c = W.y[c];
  const T* p_c = P.p + c * P.C;
  for (int64_t k = warp; k < len; k += warps) {
    const int64_t i = i0 + k;
    const T* p_i = P.p + i * P.C;
    const int64_t y_i = W.y[i];
    double q = 0.0;
    for (int64_t j = lane; j < P.C; j += 32) q += seeding::q_term(p_i[j], j == y_i, p_c[j], j == y_c);
    q = warp_sum(q);
    double hd = 0.0;
    for (int64_t m = 0; m < P.M; ++m) {
      const T* x = hrow(P, m, i);
      const T* z = hrow(P, m, c);
      double part = 0.0;
      for (int64_t j = lane; j < P.dim[m]; j += 32) part += double(x[j]) * double(z[j]);
      hd += (P.s[i * P.s_stride + m] * P.s[c * P.s_stride + m]) * warp_sum(part);
    }
    // picked points have D = 0 and d >= 0, so they stay at 0
    const double D_i = fmin(W.D[i], seeding::grad_dist2(W.a[i], a_c, q, hd));
    if (lane == 0) {
      W.D[i] = D_i;
      sD[k] = D_i;
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0.0;
    for (int64_t k = 0; k < len; ++k) sum += sD[k];
    W.block_sum[blockIdx.x] = sum;
  }
}

__global__ void __launch_bounds__(kPickThreads)
    pick_kernel(int64_t N, int64_t nb, Work W, const double* u, int64_t* out, int64_t t) {
  __shared__ double total;
  __shared__ unsigned long long found;
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int64_t k = 0; k < nb; ++k) s += W.block_sum[k];
    total = s;
    found = ~0ull;
    if (s > 0.0) {
      const double target = u[t - 1] * s;
      double offset = 0.0;
      for (int64_t k = 0; k < nb && found == ~0ull; ++k) {
        if (offset + W.block_sum[k] > target) {
          int64_t i0 = k * kBlock;
          int64_t j = seeding::pick_in_block(W.D + i0, min(kBlock, N - i0), offset, target);
          if (j >= 0) found = static_cast<unsigned long long>(i0 + j);
        }
        offset += W.block_sum[k];
      }
    }
  }
  __syncthreads();
  if (found == ~0ull) {
    if (total > 0.0) {  // rounding left u * total past the end: the last point with D > 0
      __shared__ long long last;
      if (threadIdx.x == 0) last = -1;
      __syncthreads();
      for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
        if (W.D[i] > 0.0) atomicMax(&last, static_cast<long long>(i));
      __syncthreads();
      if (threadIdx.x == 0) found = static_cast<unsigned long long>(last);
    } else {  // only duplicates of picks remain: the lowest-index unpicked point
      for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
        if (!W.picked[i]) atomicMin(&found, static_cast<unsigned long long>(i));
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    int64_t c = static_cast<int64_t>(found);
    out[t] = c;
    W.picked[c] = 1;
    W.D[c] = 0.0;
  }
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("cuda seeding: ") + what + ": " + cudaGetErrorString(err));
}

template <class T>
void kmeanspp(const Pool<T>& P, const Work& W, const double* u, int64_t b, int64_t* out, cudaStream_t stream) {
  const int64_t nb = (P.N + kBlock - 1) / kBlock;
  prepare_kernel<T><<<static_cast<unsigned>((P.N + 255) / 256), 256, 0, stream>>>(P, W);
  check(cudaGetLastError(), "prepare launch");
  first_pick_kernel<<<1, 1024, 0, stream>>>(P.N, W, out);
  check(cudaGetLastError(), "first_pick launch");
  for (int64_t t = 1; t < b; ++t) {
    update_kernel<T><<<static_cast<unsigned>(nb), kUpdateThreads, 0, stream>>>(P, W, out, t);
    pick_kernel<<<1, kPickThreads, 0, stream>>>(P.N, nb, W, u, out, t);
  }
  check(cudaGetLastError(), "step launches");
}

}  // namespace
}  // namespace cuda
}  // namespace rlmba

RLMBA_BINDINGS(cuda_seeding) {
  m.def(
      "cuda_kmeanspp_gradient",
      [](uintptr_t probs, bool f64, int64_t N, int64_t C, int64_t M, uintptr_t hptr, uintptr_t dims,
         uintptr_t scales, bool per_sample, uintptr_t u, int64_t b, uintptr_t out, uintptr_t y,
         uintptr_t fwork, uintptr_t picked, uintptr_t stream) {
        if (N < 1 || C < 1 || M < 1 || b < 1 || b > N)
          throw std::invalid_argument("cuda_kmeanspp_gradient: need 1 <= b <= N, C >= 1, M >= 1");
        double* f = reinterpret_cast<double*>(fwork);  // [2N + nb]: a, D, block sums
        rlmba::cuda::Work W{reinterpret_cast<int64_t*>(y), f, f + N, f + 2 * N, reinterpret_cast<uint8_t*>(picked)};
        pybind11::gil_scoped_release release;
        auto s = reinterpret_cast<cudaStream_t>(stream);
        auto run = [&](auto tag) {
          using T = decltype(tag);
          rlmba::cuda::Pool<T> P{reinterpret_cast<const T*>(probs), N, C, M,
                                 reinterpret_cast<const int64_t*>(hptr), reinterpret_cast<const int64_t*>(dims),
                                 reinterpret_cast<const double*>(scales), per_sample ? M : 0};
          rlmba::cuda::kmeanspp(P, W, reinterpret_cast<const double*>(u), b, reinterpret_cast<int64_t*>(out), s);
        };
        if (f64) run(double{}); else run(float{});
      },
      py::arg("probs"), py::arg("f64"), py::arg("N"), py::arg("C"), py::arg("M"), py::arg("hptr"), py::arg("dims"), py::arg("scales"), py::arg("per_sample"), py::arg("u"), py::arg("b"),
      py::arg("out"), py::arg("y"), py::arg("fwork"), py::arg("picked"), py::arg("stream"),
      "CUDA k-means++ seeding on factored gradient embeddings (compiled, not run: no GPU when "
      "written). Device addresses of validated buffers plus workspace: y int64 [N], fwork float64 "
      "[2N + ceil(N / 2048)], picked uint8 [N]; enqueued on `stream`, no synchronisation.");
}
