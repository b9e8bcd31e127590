// Build facts that only the compiled code knows: OpenMP threads and the ISA the CPU offers.
#include <pybind11/pybind11.h>

#include "rlmba/bindings.h"
#ifdef RLMBA_WITH_OPENMP
#include <omp.h>
#endif

RLMBA_BINDINGS(cpu_info) {
  m.def("cpu_max_threads", [] {
#ifdef RLMBA_WITH_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
  }, "Threads an OpenMP parallel region uses (1 without OpenMP).");
  m.def("cpu_features", [] {
    pybind11::dict f;
    __builtin_cpu_init();
    f["avx2"] = static_cast<bool>(__builtin_cpu_supports("avx2"));
    f["fma"] = static_cast<bool>(__builtin_cpu_supports("fma"));
    f["avx512f"] = static_cast<bool>(__builtin_cpu_supports("avx512f"));
    return f;
  }, "ISA extensions of this CPU that the runtime-dispatched kernels can use.");
}
