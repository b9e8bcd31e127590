// The rlmba._C extension. No libtorch: every kernel takes raw pointers and int64 sizes; Python
// passes data_ptr()s of tensors it has already validated (dtype, contiguity, device) and keeps
// them alive for the call. Kernel families bind themselves (rlmba/bindings.h).
#include <pybind11/pybind11.h>

#include "rlmba/bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "rlmba compiled kernels (C++/OpenMP, optional CUDA)";
  py::dict info;
  info["version"] = RLMBA_VERSION;
#ifdef RLMBA_WITH_OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
#ifdef RLMBA_WITH_CUDA
  info["cuda"] = true;
#else
  info["cuda"] = false;
#endif
  info["compiler"] = __VERSION__;
  py::list families;
  for (auto& [family, bind] : rlmba::binding_registry()) {
    bind(m);
    families.append(family);
  }
  info["families"] = families;
  m.attr("build_info") = info;
}
