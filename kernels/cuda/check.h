// Error checks for every CUDA runtime, cuBLAS and cuDNN call: throw with file, line and the library's message.
// SPML_CUDA_SYNC_CHECK=1 (a debug switch, read once) also waits for the device after every kernel launch and every
// cuBLAS/cuDNN call, so a fault inside a kernel is reported at the call that queued it, not at a later sync.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <stdexcept>
#include <string>

namespace spml::kernels::cuda {

[[noreturn]] void throw_cuda_error(const char* what, int code, const char* message, const char* file, int line);
// Whether SPML_CUDA_SYNC_CHECK is set to something other than "" or "0".
bool sync_check_enabled();
// Under SPML_CUDA_SYNC_CHECK: waits for the device and throws naming `what` (the call or the launching function).
void sync_check(const char* what, const char* file, int line);
// After a kernel launch from `function`: the launch's own error, then (under SPML_CUDA_SYNC_CHECK) the kernel's.
void check_launch(const char* function, const char* file, int line);

inline void check_cuda(cudaError_t status, const char* expr, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(expr, int(status), cudaGetErrorString(status), file, line);
}
inline void check_cublas(cublasStatus_t status, const char* expr, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cuda_error(expr, int(status), cublasGetStatusString(status), file, line);
  if (sync_check_enabled()) sync_check(expr, file, line);
}
inline void check_cudnn(cudnnStatus_t status, const char* expr, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) throw_cuda_error(expr, int(status), cudnnGetErrorString(status), file, line);
  if (sync_check_enabled()) sync_check(expr, file, line);
}

}  // namespace spml::kernels::cuda

#define SPML_CUDA_CHECK(expr) ::spml::kernels::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define SPML_CUBLAS_CHECK(expr) ::spml::kernels::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
#define SPML_CUDNN_CHECK(expr) ::spml::kernels::cuda::check_cudnn((expr), #expr, __FILE__, __LINE__)
// After every kernel launch: reports bad launch configurations at the launch site (and, under
// SPML_CUDA_SYNC_CHECK=1, faults inside the kernel, naming the launching function).
#define SPML_CUDA_CHECK_LAUNCH() ::spml::kernels::cuda::check_launch(__func__, __FILE__, __LINE__)
