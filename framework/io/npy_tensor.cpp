// Conversions between NpyArray and Tensor.
#include "framework/io/npy_tensor.h"

#include <cstring>

namespace spml::io {
namespace {
// Widens an integer array of another width to int64 so labels saved as int8/int16/uint16/... still load.
template <class Src>
Tensor widen_to_int64(const NpyArray& a, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::Int64);
  int64_t* out = t.data<int64_t>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    Src v;
    std::memcpy(&v, a.data.data() + std::size_t(i) * sizeof(Src), sizeof(Src));
    out[i] = int64_t(v);
  }
  return t;
}
}  // namespace

Tensor npy_to_tensor(const NpyArray& array, const std::string& name) {
  const Shape shape(array.shape.begin(), array.shape.end());
  auto direct = [&](DType dtype) { return Tensor::from_host(array.data.data(), shape, dtype); };
  switch (array.type) {
    case NpyType::Float16:
      return direct(DType::Float16);
    case NpyType::Float32:
      return direct(DType::Float32);
    case NpyType::Float64:
      return direct(DType::Float64);
    case NpyType::UInt8:
      return direct(DType::UInt8);
    case NpyType::Bool:
      return direct(DType::Bool);
    case NpyType::Int32:
      return direct(DType::Int32);
    case NpyType::Int64:
      return direct(DType::Int64);
    case NpyType::Int8:
      return widen_to_int64<int8_t>(array, shape);
    case NpyType::Int16:
      return widen_to_int64<int16_t>(array, shape);
    case NpyType::UInt16:
      return widen_to_int64<uint16_t>(array, shape);
    case NpyType::UInt32:
      return widen_to_int64<uint32_t>(array, shape);
    case NpyType::UInt64: {
      for (int64_t i = 0; i < array.numel(); ++i) {
        uint64_t v;
        std::memcpy(&v, array.data.data() + std::size_t(i) * 8, 8);
        SPML_CHECK(v <= uint64_t(INT64_MAX), name, ": uint64 value ", v, " at element ", i, " does not fit int64");
      }
      return widen_to_int64<uint64_t>(array, shape);
    }
    case NpyType::Unicode:
      SPML_FAIL(name, ": holds strings (unicode); expected a numeric array");
  }
  SPML_FAIL(name, ": unsupported element type ", npy_type_name(array.type));
}

NpyArray tensor_to_npy(const Tensor& tensor) {
  SPML_CHECK(tensor.defined(), "tensor_to_npy: tensor is undefined");
  NpyArray a;
  switch (tensor.dtype()) {
    case DType::Float32:
      a.type = NpyType::Float32;
      break;
    case DType::Float64:
      a.type = NpyType::Float64;
      break;
    case DType::Float16:
      a.type = NpyType::Float16;
      break;
    case DType::UInt8:
      a.type = NpyType::UInt8;
      break;
    case DType::Bool:
      a.type = NpyType::Bool;
      break;
    case DType::Int32:
      a.type = NpyType::Int32;
      break;
    case DType::Int64:
      a.type = NpyType::Int64;
      break;
    case DType::BFloat16:
      SPML_FAIL("tensor_to_npy: NumPy has no bfloat16; convert ", tensor.description(), " first");
  }
  a.shape.assign(tensor.shape().begin(), tensor.shape().end());
  const Tensor host = tensor.to(Device::cpu());
  const auto* p = static_cast<const uint8_t*>(host.data_ptr());
  a.data.assign(p, p + host.nbytes());
  return a;
}

Tensor read_npy_tensor(const std::string& path) {
  return npy_to_tensor(read_npy(path), path);
}

void write_npy_tensor(const std::string& path, const Tensor& tensor) {
  write_npy(path, tensor_to_npy(tensor));
}

}  // namespace spml::io
