// The thrower behind SPML_CUDA_CHECK / SPML_CUBLAS_CHECK / SPML_CUDNN_CHECK (kernels/cuda/check.h).
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"

namespace spml::kernels::cuda {

void throw_cuda_error(const char* what, int code, const char* message, const char* file, int line) {
  // Build systems pass absolute paths in __FILE__; the file name is enough to find the call.
  const char* slash = std::strrchr(file, '/');
  const char* name = slash ? slash + 1 : file;
  throw Error("CUDA error " + std::to_string(code) + " (" + (message ? message : "no message") + ") in " + what +
              " at " + name + ":" + std::to_string(line));
}

bool sync_check_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("SPML_CUDA_SYNC_CHECK");
    return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

void sync_check(const char* what, const char* file, int line) {
  const cudaError_t status = cudaDeviceSynchronize();
  if (status != cudaSuccess)
    throw_cuda_error((std::string("the device work queued by ") + what + " (SPML_CUDA_SYNC_CHECK=1)").c_str(),
                     int(status), cudaGetErrorString(status), file, line);
}

void check_launch(const char* function, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw_cuda_error((std::string("the kernel launch in ") + function).c_str(), int(status), cudaGetErrorString(status),
                     file, line);
  if (sync_check_enabled()) sync_check((std::string("the kernel launched in ") + function).c_str(), file, line);
}

}  // namespace spml::kernels::cuda
