// Host/device qualifiers for math shared between the CPU loops and the CUDA kernels (docs/design.md
// section 7).
#pragma once

// Always inlined on the host as on the device: the CPU loops vectorise only what is inlined into them.
#if defined(__CUDACC__)
#define SPML_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define SPML_HD inline __attribute__((always_inline))
#else
#define SPML_HD inline
#endif

#include <cmath>
#include <cstdint>

#include "kernels/common/vector_math.h"  // exp_, log_ (after SPML_HD: it uses the macro)

namespace spml::kernels {

// Overloads so shared math reads the same for float and double on host and device (exp_ and log_: vector_math.h).
SPML_HD float sqrt_(float x) {
  return ::sqrtf(x);
}
SPML_HD double sqrt_(double x) {
  return ::sqrt(x);
}
SPML_HD float pow_(float x, float e) {
  return ::powf(x, e);
}
SPML_HD double pow_(double x, double e) {
  return ::pow(x, e);
}
SPML_HD float tanh_(float x) {
  return ::tanhf(x);
}
SPML_HD double tanh_(double x) {
  return ::tanh(x);
}

}  // namespace spml::kernels
