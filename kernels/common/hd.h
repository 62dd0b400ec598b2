// Host/device qualifiers for math shared between the CPU loops and the CUDA kernels (DESIGN.md principle 2).
#pragma once

#if defined(__CUDACC__)
#define SPML_HD __host__ __device__ __forceinline__
#else
#define SPML_HD inline
#endif

#include <cmath>
#include <cstdint>

namespace spml::kernels {

// Overloads so shared math reads the same for float and double on host and device.
SPML_HD float exp_(float x) {
  return ::expf(x);
}
SPML_HD double exp_(double x) {
  return ::exp(x);
}
SPML_HD float log_(float x) {
  return ::logf(x);
}
SPML_HD double log_(double x) {
  return ::log(x);
}
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
