// The fast kernels for float32 CPU tensors (convolution on oneDNN, vectorised batch norm) and the switch that picks
// them or the reference kernels of cpu_kernels.h. Tensors stay NCHW at this interface: each call reorders into the
// layout oneDNN chose (format_tag::any) and back, with primitives and reorders cached per shape. The reference
// kernels remain the oracle and the only float64 path (oneDNN has no float64 convolution).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/common/cnn_shapes.h"

namespace spml::kernels::onednn {

enum class CpuKernels { Reference, OneDnn };

// True when the build links oneDNN (CMake SPML_ONEDNN).
bool built_with_onednn();
// The kernels float32 CPU ops use. Default: oneDNN when built with it, else the reference; the environment
// variable SPML_CPU_KERNELS=onednn|reference overrides the default at the first call.
CpuKernels cpu_kernels();
// Throws when asked for oneDNN in a build without it.
void set_cpu_kernels(CpuKernels kernels);
// "onednn" or "reference" -> the enum; anything else throws naming `what` and the accepted values.
CpuKernels parse_cpu_kernels(const std::string& name, const char* what);
const char* cpu_kernels_name(CpuKernels kernels);
// True when float32 CPU ops should call this header's kernels.
inline bool active() {
  return cpu_kernels() == CpuKernels::OneDnn;
}
// "oneDNN 2.6.3 (OpenMP)" or "none".
std::string version_string();

// x: [n, c_in, h, w], w: [c_out, c_in, kh, kw], y: [n, c_out, h_out, w_out] (overwritten).
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y);
// gy: [n, c_out, h_out, w_out]; gx: [n, c_in, h, w] and gw: [c_out, c_in, kh, kw] are overwritten (either may be
// null). One call shares the reorder of gy between the two passes.
void conv2d_backward(const Conv2dShape& s, const float* gy, const float* x, const float* w, float* gx, float* gw);

// Batch normalisation over x [n, c, hw] (gamma, beta: [c], nullable), vectorised over NCHW planes
// (batchnorm_f32.cpp; oneDNN's own plain-layout batch norm measured slower). Training: mean and BIASED variance of
// the batch go to mean / var [c]; eval: mean / var are the running statistics (inputs). relu: y = max(0, bn(x)) in
// the same pass. Training also moves running_mean / running_var [c] (nullable) with PyTorch's rule.
void batchnorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var,
                       float* running_mean, float* running_var, int64_t n, int64_t c, int64_t hw, bool training,
                       double momentum, double eps, bool relu);
// gx [n, c, hw], ggamma / gbeta [c]: overwritten, any may be null. training: the statistics depend on x. relu: gy
// passes only where the forward output y > 0 (y is read only then).
void batchnorm_backward(const float* x, const float* y, const float* gy, const float* gamma, const float* mean,
                        const float* var, float* gx, float* ggamma, float* gbeta, int64_t n, int64_t c, int64_t hw,
                        bool training, double eps, bool relu);

// Max pooling x [planes, h, w] -> y, argmax [planes, h_out, w_out] with the reference kernel's semantics (ties
// keep the first position in row-major window order, NaN wins); vectorised over output rows (maxpool_f32.cpp).
// The backward stays the reference kernel's (a gather by argmax).
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* argmax);

}  // namespace spml::kernels::onednn
