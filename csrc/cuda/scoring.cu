// CUDA kernels of the scoring ops: rlmba::cuda::{fuse_evidence, dirichlet_uncertainty,
// efda_scores, uncertainty_scores, bald}, float32 and float64, bound as _C.cuda_<op>.
//
// COMPILED, NOT RUN: no GPU was available when this was written (nvcc 13 compiles it; the
// per-row math it calls, rlmba/math.h, is the same code the CPU tests run through
// RLMBA_CPU_ISA=rows). Treat results as unverified until tests/ run on a CUDA machine.
//
// Grid mapping: one thread per row, grid-stride loop with int64 indices (fuse_evidence's
// weighted rule: one thread per element). Each thread walks its row twice (sum first, terms
// second), recomputing softplus instead of keeping C values in registers; the second walk
// hits L1/L2. Adjacent threads read rows C elements apart, so loads are not coalesced for
// large C; a warp-per-row variant would be the next step for C >> 32.
// Launchers take raw device pointers, int64 sizes and the caller's stream (an integer, e.g.
// torch.cuda.current_stream().cuda_stream); they return without synchronising.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/math.h"

namespace py = pybind11;

namespace rlmba {
namespace cuda {

constexpr int kThreads = 256;
constexpr int kMaxModalities = 16;  // modality pointers/weights travel in the kernel parameters

template <class T> struct Modalities {
  const T* zs[kMaxModalities];
  T w[kMaxModalities];
  T inv_t[kMaxModalities];
  int64_t M;
};

#define RLMBA_GRID_STRIDE(i, count)                                                   \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

inline unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > (1 << 16) ? (1 << 16) : blocks));
}

inline void check_launch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string(op) + ": CUDA launch failed: " + cudaGetErrorString(err));
}

// Bytes: reads M n C logits (twice per pass, from cache), writes (M + 1) n.
template <class T>
__global__ void efda_kernel(Modalities<T> p, int64_t n, int64_t C, int kind, T* u_fused, T* u_modal) {
  RLMBA_GRID_STRIDE(i, n) {
    u_fused[i] = math::dirichlet_row<T>(math::FusedAlpha<T>{p.zs, i * C, p.M, p.w, p.inv_t}, C, kind);
    for (int64_t m = 0; m < p.M; ++m)
      u_modal[m * n + i] = math::dirichlet_row<T>(math::ModalAlpha<T>{p.zs[m] + i * C, p.inv_t[m]}, C, kind);
  }
}

// weighted: one thread per element; reads M n C, writes n C.
template <class T> __global__ void fuse_weighted_kernel(Modalities<T> p, int64_t total, T* out) {
  const math::FusedAlpha<T> alpha{p.zs, 0, p.M, p.w, p.inv_t};
  RLMBA_GRID_STRIDE(i, total) out[i] = alpha(i);
}

// ds: one thread per row (a non-finite evidence turns the whole row NaN).
template <class T> __global__ void fuse_ds_kernel(Modalities<T> p, int64_t n, int64_t C, T* out) {
  RLMBA_GRID_STRIDE(i, n) math::fuse_ds_row(p.zs, i * C, p.M, C, p.inv_t, out + i * C);
}

// Reads n C, writes n.
template <class T> __global__ void dirichlet_kernel(const T* alpha, int64_t n, int64_t C, int kind, T* out) {
  RLMBA_GRID_STRIDE(i, n) out[i] = math::dirichlet_row<T>(math::RowAlpha<T>{alpha + i * C}, C, kind);
}

// Reads n C, writes 3 n.
template <class T> __global__ void class_scores_kernel(const T* x, int64_t n, int64_t C, bool from_logits, T* out) {
  RLMBA_GRID_STRIDE(i, n) {
    const math::Scores3<T> s = from_logits ? math::logit_scores_row(x + i * C, C) : math::prob_scores_row(x + i * C, C);
    out[i] = s.entropy, out[n + i] = s.margin, out[2 * n + i] = s.least_confidence;
  }
}

// Reads S n C twice (the second time from cache), writes n.
template <class T> __global__ void bald_kernel(const T* p, int64_t S, int64_t n, int64_t C, int64_t stride_s, T* out) {
  RLMBA_GRID_STRIDE(i, n) out[i] = math::bald_row(p + i * C, S, stride_s, C);
}

// ---------------------------------------------------------------- launchers
template <class T>
void efda_scores(const Modalities<T>& p, int64_t n, int64_t C, int kind, T* u_fused, T* u_modal, cudaStream_t stream) {
  efda_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(p, n, C, kind, u_fused, u_modal);
  check_launch("efda_scores");
}

template <class T> void fuse_evidence(const Modalities<T>& p, int64_t n, int64_t C, bool ds, T* out, cudaStream_t stream) {
  if (ds) fuse_ds_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(p, n, C, out);
  else fuse_weighted_kernel<T><<<grid_for(n * C), kThreads, 0, stream>>>(p, n * C, out);
  check_launch("fuse_evidence");
}

template <class T> void dirichlet_uncertainty(const T* alpha, int64_t n, int64_t C, int kind, T* out, cudaStream_t stream) {
  dirichlet_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(alpha, n, C, kind, out);
  check_launch("dirichlet_uncertainty");
}

template <class T>
void uncertainty_scores(const T* x, int64_t n, int64_t C, bool from_logits, T* out, cudaStream_t stream) {
  class_scores_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(x, n, C, from_logits, out);
  check_launch("uncertainty_scores");
}

template <class T>
void bald(const T* p, int64_t S, int64_t n, int64_t C, int64_t stride_s, T* out, cudaStream_t stream) {
  bald_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(p, S, n, C, stride_s, out);
  check_launch("bald");
}

}  // namespace cuda
}  // namespace rlmba

// ---------------------------------------------------------------- bindings
namespace {
namespace rc = rlmba::cuda;

cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

void check_sizes(int64_t n, int64_t C) {
  if (n < 0) throw py::value_error("n: must be >= 0, got " + std::to_string(n));
  if (C < 1) throw py::value_error("C: must be >= 1, got " + std::to_string(C));
}

int kind_code(const std::string& kind) {
  if (kind == "variance") return rlmba::math::kVariance;
  if (kind == "vacuity") return rlmba::math::kVacuity;
  if (kind == "entropy") return rlmba::math::kEntropy;
  throw py::value_error("kind: expected variance, vacuity or entropy, got '" + kind + "'");
}

template <class T>
rc::Modalities<T> modalities(const std::vector<uintptr_t>& zs, const std::vector<double>& w, const std::vector<double>& t) {
  if (zs.empty() || zs.size() > static_cast<size_t>(rc::kMaxModalities))
    throw py::value_error("zs: the cuda kernels take 1 to " + std::to_string(rc::kMaxModalities) + " modalities, got " +
                          std::to_string(zs.size()));
  if (t.size() != zs.size()) throw py::value_error("temperatures: expected one per modality");
  if (!w.empty() && w.size() != zs.size()) throw py::value_error("weights: expected one per modality");
  rc::Modalities<T> p{};
  p.M = static_cast<int64_t>(zs.size());
  for (size_t m = 0; m < zs.size(); ++m) {
    p.zs[m] = reinterpret_cast<const T*>(zs[m]);
    p.w[m] = w.empty() ? T(0) : static_cast<T>(w[m]);
    p.inv_t[m] = static_cast<T>(1.0 / t[m]);
  }
  return p;
}
}  // namespace

RLMBA_BINDINGS(cuda_scoring) {
  m.def("cuda_efda_scores",
        [](const std::vector<uintptr_t>& zs, int64_t n, int64_t C, const std::vector<double>& w,
           const std::vector<double>& t, const std::string& kind, uintptr_t u_fused, uintptr_t u_modal, bool f64,
           uintptr_t stream) {
          check_sizes(n, C);
          if (w.size() != zs.size()) throw py::value_error("weights: expected one per modality");
          const int k = kind_code(kind);
          if (f64) {
            const auto p = modalities<double>(zs, w, t);
            py::gil_scoped_release release;
            rc::efda_scores<double>(p, n, C, k, reinterpret_cast<double*>(u_fused), reinterpret_cast<double*>(u_modal), as_stream(stream));
          } else {
            const auto p = modalities<float>(zs, w, t);
            py::gil_scoped_release release;
            rc::efda_scores<float>(p, n, C, k, reinterpret_cast<float*>(u_fused), reinterpret_cast<float*>(u_modal), as_stream(stream));
          }
        },
        py::arg("zs"), py::arg("n"), py::arg("C"), py::arg("weights"), py::arg("temperatures"), py::arg("kind"),
        py::arg("u_fused"), py::arg("u_modal"), py::arg("f64"), py::arg("stream"),
        "EFDA scores on the GPU (compiled, not run: no GPU when written).");
  m.def("cuda_fuse_evidence",
        [](const std::vector<uintptr_t>& zs, int64_t n, int64_t C, const std::vector<double>& w,
           const std::vector<double>& t, const std::string& rule, uintptr_t out, bool f64, uintptr_t stream) {
          check_sizes(n, C);
          if (rule != "weighted" && rule != "ds") throw py::value_error("rule: expected weighted or ds, got '" + rule + "'");
          if ((rule == "ds") != w.empty()) throw py::value_error("weights: required by 'weighted', empty for 'ds'");
          if (f64) {
            const auto p = modalities<double>(zs, w, t);
            py::gil_scoped_release release;
            rc::fuse_evidence<double>(p, n, C, rule == "ds", reinterpret_cast<double*>(out), as_stream(stream));
          } else {
            const auto p = modalities<float>(zs, w, t);
            py::gil_scoped_release release;
            rc::fuse_evidence<float>(p, n, C, rule == "ds", reinterpret_cast<float*>(out), as_stream(stream));
          }
        },
        py::arg("zs"), py::arg("n"), py::arg("C"), py::arg("weights"), py::arg("temperatures"), py::arg("rule"),
        py::arg("out"), py::arg("f64"), py::arg("stream"), "Fused alpha on the GPU (compiled, not run).");
  m.def("cuda_dirichlet_uncertainty",
        [](uintptr_t alpha, int64_t n, int64_t C, const std::string& kind, uintptr_t out, bool f64, uintptr_t stream) {
          check_sizes(n, C);
          const int k = kind_code(kind);
          py::gil_scoped_release release;
          if (f64) rc::dirichlet_uncertainty<double>(reinterpret_cast<const double*>(alpha), n, C, k, reinterpret_cast<double*>(out), as_stream(stream));
          else rc::dirichlet_uncertainty<float>(reinterpret_cast<const float*>(alpha), n, C, k, reinterpret_cast<float*>(out), as_stream(stream));
        },
        py::arg("alpha"), py::arg("n"), py::arg("C"), py::arg("kind"), py::arg("out"), py::arg("f64"), py::arg("stream"),
        "Dirichlet uncertainty on the GPU (compiled, not run).");
  m.def("cuda_uncertainty_scores",
        [](uintptr_t x, int64_t n, int64_t C, bool from_logits, uintptr_t out, bool f64, uintptr_t stream) {
          check_sizes(n, C);
          py::gil_scoped_release release;
          if (f64) rc::uncertainty_scores<double>(reinterpret_cast<const double*>(x), n, C, from_logits, reinterpret_cast<double*>(out), as_stream(stream));
          else rc::uncertainty_scores<float>(reinterpret_cast<const float*>(x), n, C, from_logits, reinterpret_cast<float*>(out), as_stream(stream));
        },
        py::arg("x"), py::arg("n"), py::arg("C"), py::arg("from_logits"), py::arg("out"), py::arg("f64"), py::arg("stream"),
        "Entropy, margin, least confidence on the GPU (compiled, not run).");
  m.def("cuda_bald",
        [](uintptr_t p, int64_t S, int64_t n, int64_t C, int64_t stride_s, uintptr_t out, bool f64, uintptr_t stream) {
          check_sizes(n, C);
          if (S < 1) throw py::value_error("S: no MC samples");
          py::gil_scoped_release release;
          if (f64) rc::bald<double>(reinterpret_cast<const double*>(p), S, n, C, stride_s, reinterpret_cast<double*>(out), as_stream(stream));
          else rc::bald<float>(reinterpret_cast<const float*>(p), S, n, C, stride_s, reinterpret_cast<float*>(out), as_stream(stream));
        },
        py::arg("probs"), py::arg("S"), py::arg("n"), py::arg("C"), py::arg("stride_s"), py::arg("out"), py::arg("f64"),
        py::arg("stream"), "BALD on the GPU (compiled, not run).");
}
