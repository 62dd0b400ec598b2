// Internal helpers for ops: the one place where work is sent to the CPU or the CUDA kernels by device,
// and dtype dispatch to the kernels' template types.
#pragma once

#include "framework/core/tensor.h"
#include "framework/cuda/cuda_runtime.h"
#include "kernels/cpu/cpu_kernels.h"
#if SPML_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace spml::detail {

#if SPML_WITH_CUDA
inline cudaStream_t stream_of(const Tensor& t) {
  return cuda::stream(t.device().index);
}
#endif

}  // namespace spml::detail

// Runs cpu_stmt for CPU tensors and cuda_stmt for CUDA ones; a build without CUDA never has CUDA tensors
// (their storage cannot be allocated), so the CUDA branch compiles away there.
#if SPML_WITH_CUDA
#define SPML_ON_DEVICE(device, cpu_stmt, cuda_stmt) \
  do {                                              \
    if ((device).is_cpu()) {                        \
      cpu_stmt;                                     \
    } else {                                        \
      cuda_stmt;                                    \
    }                                               \
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

// Binds scalar_t to float/double for floating dtypes; other dtypes throw naming the op.
#define SPML_DISPATCH_FLOATING(dtype, op_name, ...)                                                     \
  do {                                                                                                  \
    switch (dtype) {                                                                                    \
      case ::spml::DType::Float32: {                                                                    \
        using scalar_t = float;                                                                         \
        __VA_ARGS__;                                                                                    \
        break;                                                                                          \
      }                                                                                                 \
      case ::spml::DType::Float64: {                                                                    \
        using scalar_t = double;                                                                        \
        __VA_ARGS__;                                                                                    \
        break;                                                                                          \
      }                                                                                                 \
      default:                                                                                          \
        SPML_FAIL(op_name, ": dtype ", ::spml::dtype_name(dtype), " not supported (float32, float64)"); \
    }                                                                                                   \
  } while (0)

// Binds scalar_t for every dtype with arithmetic kernels (floating and integer types).
#define SPML_DISPATCH_ALL(dtype, op_name, ...)                                       \
  do {                                                                               \
    switch (dtype) {                                                                 \
      case ::spml::DType::Float32: {                                                 \
        using scalar_t = float;                                                      \
        __VA_ARGS__;                                                                 \
        break;                                                                       \
      }                                                                              \
      case ::spml::DType::Float64: {                                                 \
        using scalar_t = double;                                                     \
        __VA_ARGS__;                                                                 \
        break;                                                                       \
      }                                                                              \
      case ::spml::DType::UInt8: {                                                   \
        using scalar_t = uint8_t;                                                    \
        __VA_ARGS__;                                                                 \
        break;                                                                       \
      }                                                                              \
      case ::spml::DType::Bool: {                                                    \
        using scalar_t = uint8_t;                                                    \
        __VA_ARGS__;                                                                 \
        break;                                                                       \
      }                                                                              \
      case ::spml::DType::Int32: {                                                   \
        using scalar_t = int32_t;                                                    \
        __VA_ARGS__;                                                                 \
        break;                                                                       \
      }                                                                              \
      case ::spml::DType::Int64: {                                                   \
        using scalar_t = int64_t;                                                    \
        __VA_ARGS__;                                                                 \
        break;                                                                       \
      }                                                                              \
      default:                                                                       \
        SPML_FAIL(op_name, ": dtype ", ::spml::dtype_name(dtype), " not supported"); \
    }                                                                                \
  } while (0)
