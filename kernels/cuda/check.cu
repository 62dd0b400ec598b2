// The thrower behind SPML_CUDA_CHECK / SPML_CUBLAS_CHECK / SPML_CUDNN_CHECK (kernels/cuda/check.h).
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

}  // namespace spml::kernels::cuda
