// The differentiable ops of the framework (forward here, backward recorded next to each forward in ops/*.cpp).
// Every op checks dtype, device and shapes and throws spml::Error naming the op and the shapes. Compute ops
// take float32 or float64; inputs of one op share one device. Element-wise binary ops broadcast NumPy-style
// (e.g. [N, C] + [C], [N, C, H, W] * [C, 1, 1]); the gradient of a broadcast operand is summed back to its shape.
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace spml {

// --- element-wise ---
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double scalar);
Tensor mul(const Tensor& a, double scalar);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
// ReLU in place: overwrites x and returns it (recorded; the backward reads the output, whose sign equals the
// input's). Safe only where no recorded op saved x for its backward (e.g. after batch norm or an add, as in
// ResNet); saves one activation buffer per use.
Tensor relu_(const Tensor& x);

inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator+(const Tensor& a, double s) {
  return add(a, s);
}
inline Tensor operator-(const Tensor& a, double s) {
  return add(a, -s);
}
inline Tensor operator*(const Tensor& a, double s) {
  return mul(a, s);
}
inline Tensor operator*(double s, const Tensor& a) {
  return mul(a, s);
}
inline Tensor operator-(const Tensor& x) {
  return neg(x);
}

// --- reductions (sum of all elements gives a 0-d tensor, shape []) ---
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);

// --- shape ---
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 1);
Tensor transpose(const Tensor& x);                // x: [R, C] -> [C, R] (a copy)
Tensor concat(const std::vector<Tensor>& parts);  // along dim 0; other dims must match

// Rows of x picked by indices (int64 [B], any device): x [N, ...] -> [B, ...]. The gradient is scattered back
// (rows repeated in indices add up). Used for per-sample parameters such as ROLE's label estimates.
Tensor index_rows(const Tensor& x, const Tensor& indices);

// --- linear algebra (cuBLAS on CUDA, OpenBLAS or the builtin GEMM on the CPU) ---
Tensor matmul(const Tensor& a, const Tensor& b);                                      // a: [M, K], b: [K, N] -> [M, N]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());  // x: [N, in],
                                                                                      // weight: [out, in], bias: [out]
// --- not recorded ---
// Sums `x` over the dimensions along which `shape` was broadcast to x's shape (the gradient of broadcasting).
Tensor sum_to_shape(const Tensor& x, const Shape& shape);
// max |a - b| over all elements (same shape; any devices), as double.
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace spml
