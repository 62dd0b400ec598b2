// Dispatch for ops (docs/design.md section 6): the one place where work goes to the CPU or the CUDA kernels by
// device, and where a dtype binds the kernels' template type.
//   SPML_RUN_KERNEL(device, name, args...)  kernels::cpu::name(args...) or kernels::cuda::name(args..., stream):
//                                           the form of every call whose two backends take the same arguments;
//   SPML_ON_DEVICE(device, cpu, cuda)       two statements, where the backends differ (cuDNN's plans and
//                                           workspaces, cuBLAS's handle, the loss's device workspace);
//   SPML_DISPATCH_FLOATING / _ALL(dtype, op name, body)  body with scalar_t bound.
#pragma once

#include "framework/core/tensor.h"
#include "framework/cuda/cuda_runtime.h"
#include "kernels/cpu/cpu_kernels.h"
#if SPML_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace spml::detail {

#if SPML_WITH_CUDA
inline cudaStream_t stream_of(Device device) {
  return cuda_runtime::stream(device.index);
}
inline cudaStream_t stream_of(const Tensor& t) {
  return stream_of(t.device());
}
#endif

}  // namespace spml::detail

// Runs cpu_stmt for CPU tensors and cuda_stmt for CUDA ones, the latter with `device` current (launches, cuBLAS and
// cuDNN run on the current device, not on the one whose stream they get); a build without CUDA never has CUDA tensors
// (their storage cannot be allocated), so the CUDA branch compiles away there.
#if SPML_WITH_CUDA
#define SPML_ON_DEVICE(device, cpu_stmt, cuda_stmt)                         \
  do {                                                                      \
    if ((device).is_cpu()) {                                                \
      cpu_stmt;                                                             \
    } else {                                                                \
      ::spml::cuda_runtime::DeviceGuard spml_device_guard_((device).index); \
      cuda_stmt;                                                            \
    }                                                                       \
  } while (0)
#else
#define SPML_ON_DEVICE(device, cpu_stmt, cuda_stmt)                           \
  do {                                                                        \
    if ((device).is_cpu()) {                                                  \
      cpu_stmt;                                                               \
    } else {                                                                  \
      SPML_FAIL("device ", (device).str(), " requested: built without CUDA"); \
    }                                                                         \
  } while (0)
#endif

// The CUDA kernel gets the device's stream as its last argument, so the argument lists are written once.
#define SPML_RUN_KERNEL(device, kernel, ...)                        \
  SPML_ON_DEVICE(device, ::spml::kernels::cpu::kernel(__VA_ARGS__), \
                 ::spml::kernels::cuda::kernel(__VA_ARGS__, ::spml::detail::stream_of(device)))

// One case of the dtype switches below: the body with scalar_t bound to `type`.
#define SPML_DTYPE_CASE(enum_value, type, ...) \
  case ::spml::DType::enum_value: {            \
    using scalar_t = type;                     \
    __VA_ARGS__;                               \
    break;                                     \
  }

// Binds scalar_t to float/double for floating dtypes; other dtypes throw naming the op.
#define SPML_DISPATCH_FLOATING(dtype, op_name, ...)                                                     \
  do {                                                                                                  \
    switch (dtype) {                                                                                    \
      SPML_DTYPE_CASE(Float32, float, __VA_ARGS__)                                                      \
      SPML_DTYPE_CASE(Float64, double, __VA_ARGS__)                                                     \
      default:                                                                                          \
        SPML_FAIL(op_name, ": dtype ", ::spml::dtype_name(dtype), " not supported (float32, float64)"); \
    }                                                                                                   \
  } while (0)

// Binds scalar_t for every dtype with arithmetic kernels (floating and integer types; bool as uint8).
#define SPML_DISPATCH_ALL(dtype, op_name, ...)                                       \
  do {                                                                               \
    switch (dtype) {                                                                 \
      SPML_DTYPE_CASE(Float32, float, __VA_ARGS__)                                   \
      SPML_DTYPE_CASE(Float64, double, __VA_ARGS__)                                  \
      SPML_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)                                   \
      SPML_DTYPE_CASE(Bool, uint8_t, __VA_ARGS__)                                    \
      SPML_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                                   \
      SPML_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                                   \
      default:                                                                       \
        SPML_FAIL(op_name, ": dtype ", ::spml::dtype_name(dtype), " not supported"); \
    }                                                                                \
  } while (0)
