// CNN ops (NCHW, float32/float64, CPU and CUDA): conv2d (cuDNN on CUDA, im2col + GEMM on the CPU),
// batch_norm2d with PyTorch semantics, max_pool2d and adaptive average pooling, each with its backward.
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace spml {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
};

// x: [N, C_in, H, W], weight: [C_out, C_in, kH, kW], bias: [C_out] or undefined -> [N, C_out, H_out, W_out].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Conv2dOptions options = {});

// x: [N, C, H, W]; gamma, beta: [C] (either may be undefined); running_mean, running_var: [C] buffers.
// training: normalise with the batch statistics and update the running ones in place (momentum, unbiased
// variance), also when gamma and beta are frozen; eval: normalise with the running statistics.
// relu: max(0, batch_norm(x)) as one op (fused in oneDNN's kernel; batch norm then relu_ elsewhere).
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                    bool relu = false);

// x: [N, C, H, W] -> [N, C, H_out, W_out], H_out = (H + 2 padding - kernel) / stride + 1.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
// x: [N, C, H, W] -> [N, C, out_h, out_w] with PyTorch's adaptive bins.
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);
// x: [N, C, H, W] -> [N, C]: the mean over H and W.
Tensor global_avg_pool2d(const Tensor& x);

// cuDNN convolution algorithm choice: deterministic algorithms only (the --deterministic mode of the apps).
void set_deterministic_convolutions(bool deterministic);
bool deterministic_convolutions();

}  // namespace spml
