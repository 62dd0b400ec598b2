// matmul and linear (x W^T + b) through one row-major GEMM entry point: cuBLAS on CUDA, OpenBLAS/builtin on CPU.
#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/ops/ops.h"

namespace spml {
namespace {
// c = op(a) op(b) (+ c when accumulate); shapes already checked. a, b, c contiguous row-major 2-D.
void gemm_into(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, bool accumulate) {
  const int64_t m = trans_a ? a.size(1) : a.size(0);
  const int64_t k = trans_a ? a.size(0) : a.size(1);
  const int64_t n = trans_b ? b.size(0) : b.size(1);
  SPML_DISPATCH_FLOATING(a.dtype(), "matmul", {
    const scalar_t beta = accumulate ? scalar_t(1) : scalar_t(0);
    SPML_ON_DEVICE(
        a.device(),
        kernels::cpu::gemm(trans_a, trans_b, m, n, k, scalar_t(1), a.data<scalar_t>(), a.size(1), b.data<scalar_t>(),
                           b.size(1), beta, c.data<scalar_t>(), n),
        kernels::cuda::gemm(cuda_runtime::cublas_handle(a.device().index), trans_a, trans_b, m, n, k, scalar_t(1),
                            a.data<scalar_t>(), a.size(1), b.data<scalar_t>(), b.size(1), beta, c.data<scalar_t>(), n));
  });
}

Tensor gemm_new(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b) {
  const int64_t m = trans_a ? a.size(1) : a.size(0);
  const int64_t n = trans_b ? b.size(0) : b.size(1);
  Tensor c = Tensor::empty({m, n}, a.dtype(), a.device());
  gemm_into(a, trans_a, b, trans_b, c, false);
  return c;
}

void check_matrix(const Tensor& t, const char* op, const char* role) {
  SPML_CHECK(t.defined(), op, ": ", role, " is undefined");
  SPML_CHECK(t.dim() == 2, op, ": ", role, " must be 2-D, got ", t.description());
  SPML_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, op, ": ", role,
             " must be float32 or float64, got ", t.description());
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  NvtxRange range("matmul");
  check_matrix(a, "matmul", "a");
  check_matrix(b, "matmul", "b");
  SPML_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: a ", shape_str(a.shape()), " and b ",
             shape_str(b.shape()));
  SPML_CHECK(a.dtype() == b.dtype() && a.device() == b.device(),
             "matmul: operands differ in dtype or device: ", a.description(), " and ", b.description());
  Tensor c = gemm_new(a, false, b, false);
  const Tensor sa = a.detach(), sb = b.detach();
  const bool grad_a = a.requires_grad(), grad_b = b.requires_grad();
  return autograd::record("matmul", c, {a, b}, [sa, sb, grad_a, grad_b](const Tensor& g) {
    // dA = G B^T, dB = A^T G
    return std::vector<Tensor>{grad_a ? gemm_new(g, false, sb, true) : Tensor(),
                               grad_b ? gemm_new(sa, true, g, false) : Tensor()};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  NvtxRange range("linear");
  check_matrix(x, "linear", "input");
  check_matrix(weight, "linear", "weight");
  SPML_CHECK(x.size(1) == weight.size(1), "linear: input ", shape_str(x.shape()), " has ", x.size(1),
             " features but weight ", shape_str(weight.shape()), " expects ", weight.size(1));
  SPML_CHECK(x.dtype() == weight.dtype() && x.device() == weight.device(),
             "linear: input and weight differ in dtype or device: ", x.description(), " and ", weight.description());
  if (bias.defined()) {
    SPML_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias ", shape_str(bias.shape()),
               " does not match weight ", shape_str(weight.shape()), " (expected [", weight.size(0), "])");
    SPML_CHECK(bias.dtype() == x.dtype() && bias.device() == x.device(), "linear: bias ", bias.description(),
               " differs in dtype or device from input ", x.description());
  }
  Tensor y = Tensor::empty({x.size(0), weight.size(0)}, x.dtype(), x.device());
  if (bias.defined()) {
    // Rows start as the bias, then the GEMM accumulates x W^T on top (beta = 1).
    SPML_DISPATCH_FLOATING(x.dtype(), "linear", {
      SPML_RUN_KERNEL(x.device(), broadcast_dim, bias.data<scalar_t>(), y.data<scalar_t>(), 1, x.size(0),
                      weight.size(0), scalar_t(1));
    });
  }
  gemm_into(x, false, weight, true, y, bias.defined());
  const Tensor sx = x.detach(), sw = weight.detach();
  const bool grad_x = x.requires_grad(), grad_w = weight.requires_grad();
  const bool grad_b = bias.defined() && bias.requires_grad();
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return autograd::record("linear", y, inputs,
                          [sx, sw, grad_x, grad_w, grad_b, has_bias = bias.defined()](const Tensor& g) {
                            std::vector<Tensor> grads{grad_x ? gemm_new(g, false, sw, false) : Tensor(),  // dX = G W
                                                      grad_w ? gemm_new(g, true, sx, false) : Tensor()};  // dW = G^T X
                            if (has_bias) grads.push_back(grad_b ? sum(g, 0) : Tensor());  // db = column sums of G
                            return grads;
                          });
}

}  // namespace spml
