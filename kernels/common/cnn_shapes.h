// Shape descriptions of the CNN kernels (convolution, pooling), shared by the CPU and CUDA implementations.
// Tensors are NCHW, contiguous.
#pragma once

#include <cstdint>

namespace spml::kernels {

// y[n, c_out, h_out, w_out] = sum over c_in, kh, kw of x[n, c_in, ...] * w[c_out, c_in, kh, kw] (dilation 1,
// no groups); h_out = (h + 2 pad_h - kh) / stride_h + 1.
struct Conv2dShape {
  int64_t n, c_in, h, w;
  int64_t c_out, kh, kw;
  int64_t stride_h, stride_w, pad_h, pad_w;
  int64_t h_out, w_out;
};

// Pooling over planes = n * c independent H x W planes (padding counts as -inf for max pooling).
struct Pool2dShape {
  int64_t planes, h, w;
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
  int64_t h_out, w_out;
};

}  // namespace spml::kernels
