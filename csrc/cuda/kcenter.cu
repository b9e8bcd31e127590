// CUDA k-center greedy: the picks loop, inverse row norms and the labeled-set GEMM epilogue, bound
// as _C.cuda_kcenter_greedy, cuda_inv_norms, cuda_labeled_min; the CUDA twin of csrc/cpu/kcenter.cpp.
//
// COMPILED, NOT RUN: no GPU was available when this was written (nvcc 13 compiles it). The
// per-element helpers (half loads, tie rule) are rlmba/select.h. The picks never synchronise with
// the host: the pick of step s is written and read on the device.
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

RLMBA_BINDINGS(cuda_kcenter) {
  using namespace rlmba::cuda;
  m.def("cuda_kcenter_greedy", [](uintptr_t x, int storage, int64_t n, int64_t d, int64_t first, int64_t b, int metric,
                                  uintptr_t inv_norm, uintptr_t mind, uintptr_t out, uintptr_t stream) {
    if (first < 0 || first >= n || b < 1 || b > n) throw py::value_error("cuda_kcenter_greedy: need 0 <= first < n, 1 <= b <= n");
    py::gil_scoped_release release;
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      kcenter_greedy(xs, n, d, first, b, metric == 1, ptr<const C>(inv_norm), ptr<C>(mind), ptr<int64_t>(out),
                         as_stream(stream));
    });
  }, py::arg("x"), py::arg("storage"), py::arg("n"), py::arg("d"), py::arg("first"), py::arg("b"), py::arg("metric"),
     py::arg("inv_norm"), py::arg("mind"), py::arg("out"), py::arg("stream"),
     "k-center greedy picks from `first` into out[b] (device), mind initialised by the caller (COMPILED, NOT RUN).");

  m.def("cuda_inv_norms", [](uintptr_t x, int storage, int64_t n, int64_t d, uintptr_t out, uintptr_t stream) {
    by_storage(storage, x, [&](auto xs, auto* tag) {
      using C = std::remove_pointer_t<decltype(tag)>;
      inv_norms_kernel<<<blocks_for(n, kWarps), kThreads, 0, as_stream(stream)>>>(xs, n, d, ptr<C>(out));
      check_launch("inv_norms_kernel");
    });
  }, py::arg("x"), py::arg("storage"), py::arg("n"), py::arg("d"), py::arg("out"), py::arg("stream"), "1 / |x_i| into out[n] (COMPILED, NOT RUN).");

  m.def("cuda_labeled_min", [](uintptr_t g, uintptr_t xt, uintptr_t lab, uintptr_t lab_sq, uintptr_t inv_norm,
                               int64_t m_rows, int64_t L, int64_t d, int metric, double refine_tol, uintptr_t mind,
                               bool is_double, uintptr_t stream) {
    const unsigned grid = blocks_for(m_rows, kWarps);
    if (is_double)
      labeled_min_kernel<double><<<grid, kThreads, 0, as_stream(stream)>>>(
          ptr<const double>(g), ptr<const double>(xt), ptr<const double>(lab), ptr<const double>(lab_sq),
          ptr<const double>(inv_norm), m_rows, L, d, metric == 1, refine_tol, ptr<double>(mind));
    else
      labeled_min_kernel<float><<<grid, kThreads, 0, as_stream(stream)>>>(
          ptr<const float>(g), ptr<const float>(xt), ptr<const float>(lab), ptr<const float>(lab_sq),
          ptr<const float>(inv_norm), m_rows, L, d, metric == 1, static_cast<float>(refine_tol), ptr<float>(mind));
    check_launch("labeled_min_kernel");
  }, py::arg("g"), py::arg("xt"), py::arg("lab"), py::arg("lab_sq"), py::arg("inv_norm"), py::arg("m_rows"), py::arg("L"), py::arg("d"), py::arg("metric"), py::arg("refine_tol"), py::arg("mind"),
     py::arg("is_double"), py::arg("stream"), "Fold a tile's nearest labeled distance into mind (COMPILED, NOT RUN).");
}
