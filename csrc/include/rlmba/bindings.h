// Kernel families register their pybind11 bindings themselves, so adding a family is adding a
// file: in a csrc/cpu/*.cpp or csrc/cuda/*.cu file write
//
//   RLMBA_BINDINGS(cpu_scoring) { m.def("...", ...); }
//
// csrc/module.cpp runs every registered function and lists the families in _C.build_info.
#pragma once
#include <pybind11/pybind11.h>

#include <utility>
#include <vector>

namespace rlmba {
using BindFn = void (*)(pybind11::module_&);

inline std::vector<std::pair<const char*, BindFn>>& binding_registry() {
  static std::vector<std::pair<const char*, BindFn>> registry;  // built during static init
  return registry;
}

inline bool register_bindings(const char* family, BindFn fn) {
  binding_registry().emplace_back(family, fn);
  return true;
}
}  // namespace rlmba

#define RLMBA_BINDINGS(family)                                                              \
  static void rlmba_bind_##family(pybind11::module_& m);                                    \
  static const bool rlmba_registered_##family =                                             \
      ::rlmba::register_bindings(#family, &rlmba_bind_##family);                            \
  static void rlmba_bind_##family(pybind11::module_& m)
