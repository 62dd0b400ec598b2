// Error checks for every CUDA runtime, cuBLAS and cuDNN call: throw with file, line and the library's message.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <stdexcept>
#include <string>

namespace spml::kernels::cuda {

[[noreturn]] void throw_cuda_error(const char* what, int code, const char* message, const char* file, int line);

inline void check_cuda(cudaError_t status, const char* expr, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(expr, int(status), cudaGetErrorString(status), file, line);
}
inline void check_cublas(cublasStatus_t status, const char* expr, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cuda_error(expr, int(status), cublasGetStatusString(status), file, line);
}
inline void check_cudnn(cudnnStatus_t status, const char* expr, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) throw_cuda_error(expr, int(status), cudnnGetErrorString(status), file, line);
}

}  // namespace spml::kernels::cuda

#define SPML_CUDA_CHECK(expr) ::spml::kernels::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define SPML_CUBLAS_CHECK(expr) ::spml::kernels::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
#define SPML_CUDNN_CHECK(expr) ::spml::kernels::cuda::check_cudnn((expr), #expr, __FILE__, __LINE__)
// After every kernel launch: reports bad launch configurations at the launch site.
#define SPML_CUDA_CHECK_LAUNCH() SPML_CUDA_CHECK(cudaGetLastError())
