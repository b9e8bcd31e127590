// Host-side helpers shared by the selection/clustering bindings (C++ and CUDA): a typed pointer
// from a Python int (tensor.data_ptr()), and dispatch on the pool's storage dtype code.
#pragma once
#include <cstdint>
#include <stdexcept>

#include "rlmba/select.h"

namespace rlmba {
namespace select {

template <class T> inline T* ptr(uintptr_t p) { return reinterpret_cast<T*>(p); }

// Calls fn(S* x, C* tag) with the storage type S of `storage` and its compute type C.
template <class Fn> inline void by_storage(int storage, uintptr_t x, Fn&& fn) {
  switch (storage) {
    case kFloat32: return fn(ptr<const float>(x), static_cast<float*>(nullptr));
    case kFloat64: return fn(ptr<const double>(x), static_cast<double*>(nullptr));
    case kFloat16: return fn(ptr<const Half16>(x), static_cast<float*>(nullptr));
    case kBFloat16: return fn(ptr<const BFloat16>(x), static_cast<float*>(nullptr));
  }
  throw std::invalid_argument("unknown storage code");
}

}  // namespace select
}  // namespace rlmba
