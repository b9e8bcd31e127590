// The binding layer's one way in: every tensor argument of every _C function (CPU and CUDA) is
// read through DLPack (`obj.__dlpack__()`, no copy, no libtorch) into an Array that knows its
// dtype, shape, strides and device, and is checked before any kernel touches memory. A failed
// check raises ValueError or TypeError naming the argument; nothing is left to the Python layer.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "rlmba/select.h"

namespace rlmba {
namespace host {
namespace py = pybind11;

// ---------------------------------------------------------------- DLPack (ABI of dlpack.h)
struct DLDevice { int32_t device_type, device_id; };
struct DLDataType { uint8_t code, bits; uint16_t lanes; };
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null: compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
struct DLPackVersion { uint32_t major, minor; };
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned*);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr int32_t kDLCPU = 1, kDLCUDA = 2;

enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16, kInt64, kUInt8, kOther };
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    default: return "an unsupported dtype";
  }
}

inline DType dtype_of(DLDataType t) {
  if (t.lanes != 1) return DType::kOther;
  if (t.code == 2 && t.bits == 32) return DType::kFloat32;
  if (t.code == 2 && t.bits == 64) return DType::kFloat64;
  if (t.code == 2 && t.bits == 16) return DType::kFloat16;
  if (t.code == 4 && t.bits == 16) return DType::kBFloat16;
  if (t.code == 0 && t.bits == 64) return DType::kInt64;
  if (t.code == 1 && t.bits == 8) return DType::kUInt8;
  return DType::kOther;
}

// A tensor argument: where its elements are and how they are laid out. `owner` keeps the
// exporter's memory alive for as long as the Array lives.
struct Array {
  std::string name;
  py::object owner;
  char* data = nullptr;
  DType dtype = DType::kOther;
  int32_t device_type = 0, device_id = 0;
  std::vector<int64_t> shape, strides;

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t size(int d) const { return shape[d < 0 ? d + ndim() : d]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  template <class T> T* ptr() const { return reinterpret_cast<T*>(data); }
};

inline Array array(py::handle obj, const std::string& name) {
  if (!py::hasattr(obj, "__dlpack__"))
    throw py::type_error(name + ": expected a tensor (an object with __dlpack__), got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::object t = py::reinterpret_borrow<py::object>(obj);
  if (py::hasattr(t, "requires_grad") && t.attr("requires_grad").cast<bool>()) t = t.attr("detach")();
  Array a;
  a.name = name;
  a.owner = t.attr("__dlpack__")();
  PyObject* cap = a.owner.ptr();
  const DLTensor* dl = nullptr;
  if (PyCapsule_IsValid(cap, "dltensor")) {
    dl = &static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"))->dl_tensor;
  } else if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
    dl = &static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, "dltensor_versioned"))->dl_tensor;
  } else {
    throw py::type_error(name + ": __dlpack__ did not return a DLPack capsule");
  }
  a.data = static_cast<char*>(dl->data) + dl->byte_offset;
  a.dtype = dtype_of(dl->dtype);
  a.device_type = dl->device.device_type, a.device_id = dl->device.device_id;
  a.shape.assign(dl->shape, dl->shape + dl->ndim);
  a.strides.resize(dl->ndim);
  int64_t step = 1;
  for (int d = dl->ndim - 1; d >= 0; --d) {
    a.strides[d] = dl->strides ? dl->strides[d] : step;
    step *= dl->shape[d];
  }
  return a;
}

// ---------------------------------------------------------------- checks (each raises, naming the argument)
[[noreturn]] inline void fail(const Array& a, const std::string& what) { throw py::value_error(a.name + ": " + what); }

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

inline void need_dtype(const Array& a, std::initializer_list<DType> ok) {
  for (DType t : ok)
    if (a.dtype == t) return;
  std::string names;
  for (DType t : ok) names += (names.empty() ? "" : " or ") + std::string(dtype_name(t));
  throw py::type_error(a.name + ": expected " + names + ", got " + dtype_name(a.dtype));
}

inline void need_same_dtype(const Array& a, const Array& ref) {
  if (a.dtype != ref.dtype)
    throw py::type_error(a.name + ": dtype " + dtype_name(a.dtype) + " differs from " + ref.name + "'s " +
                         dtype_name(ref.dtype));
}

// shape: one entry per dimension, -1 for any size.
inline void need_shape(const Array& a, std::initializer_list<int64_t> shape) {
  bool ok = a.ndim() == static_cast<int>(shape.size());
  int d = 0;
  for (int64_t s : shape) ok = ok && (s < 0 || a.shape[d++] == s);
  if (!ok) fail(a, "expected shape " + shape_str(std::vector<int64_t>(shape)) + " (-1: any), got " + shape_str(a.shape));
}

// Elements of the last dimension adjacent, rows packed (stride of the second-to-last = row length).
inline void need_rows(const Array& a) {
  const int n = a.ndim();
  const bool last = n == 0 || a.shape[n - 1] <= 1 || a.strides[n - 1] == 1;
  const bool rows = n < 2 || a.shape[n - 2] <= 1 || a.strides[n - 2] == a.shape[n - 1];
  if (!last || !rows) fail(a, "expected contiguous rows, got strides " + shape_str(a.strides));
}

inline void need_contiguous(const Array& a) {
  int64_t step = 1;
  for (int d = a.ndim() - 1; d >= 0; --d) {
    if (a.shape[d] > 1 && a.strides[d] != step) fail(a, "expected a contiguous tensor, got strides " + shape_str(a.strides));
    step *= a.shape[d];
  }
}

inline void need_device(const Array& a, int32_t type, const Array* same = nullptr) {
  if (a.device_type != type) fail(a, std::string("expected a ") + (type == kDLCPU ? "CPU" : "CUDA") + " tensor");
  if (same && a.device_id != same->device_id) fail(a, "on another device than " + same->name);
}

inline void need_count(int64_t v, const char* name, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(lo) + " <= " + name + " <= " +
                          std::to_string(hi) + ", got " + std::to_string(v));
}

// Every entry of an int64 CPU array lies in [lo, hi).
inline void need_indices(const Array& a, int64_t lo, int64_t hi) {
  const int64_t* p = a.ptr<const int64_t>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i)
    if (p[i] < lo || p[i] >= hi)
      fail(a, "entry " + std::to_string(i) + " is " + std::to_string(p[i]) + ", outside [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + ")");
}

// Calls fn(S* x, C* tag) with the storage type S of a float array and its compute type C.
template <class Fn> inline void by_storage(const Array& x, Fn&& fn) {
  using select::BFloat16;
  using select::Half16;
  switch (x.dtype) {
    case DType::kFloat32: return fn(x.ptr<const float>(), static_cast<float*>(nullptr));
    case DType::kFloat64: return fn(x.ptr<const double>(), static_cast<double*>(nullptr));
    case DType::kFloat16: return fn(x.ptr<const Half16>(), static_cast<float*>(nullptr));
    case DType::kBFloat16: return fn(x.ptr<const BFloat16>(), static_cast<float*>(nullptr));
    default: need_dtype(x, {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16});
  }
}

// The compute dtype of a storage dtype: float64 for float64, float32 otherwise.
inline DType compute_of(DType storage) { return storage == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32; }

}  // namespace host
}  // namespace rlmba
