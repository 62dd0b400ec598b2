// Element-wise ops (unary, scalar, broadcasting binary) with their backward; math from kernels/common.
#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/ops/ops.h"

namespace spml {
namespace {
using kernels::BinaryOp;
using kernels::BroadcastIndex;
using kernels::UnaryOp;

void check_floating(const Tensor& t, const char* op) {
  SPML_CHECK(t.defined(), op, ": input is undefined");
  SPML_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, op, ": expected float32 or float64, got ",
             t.description());
}

// Forward of a unary op into a new tensor.
Tensor unary_raw(UnaryOp op, const Tensor& x, double s) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  SPML_DISPATCH_FLOATING(x.dtype(), kernels::unary_op_name(op), {
    SPML_RUN_KERNEL(x.device(), unary_forward, op, x.data<scalar_t>(), y.data<scalar_t>(), n, scalar_t(s));
  });
  return y;
}

// gx = gy * f'(x, y); x or y may be undefined when the op's derivative does not read it.
Tensor unary_backward_raw(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, double s) {
  Tensor gx = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
  const int64_t n = gy.numel();
  SPML_DISPATCH_FLOATING(gy.dtype(), kernels::unary_op_name(op), {
    const scalar_t* xp = x.defined() ? x.data<scalar_t>() : nullptr;
    const scalar_t* yp = y.defined() ? y.data<scalar_t>() : nullptr;
    SPML_RUN_KERNEL(gy.device(), unary_backward, op, xp, yp, gy.data<scalar_t>(), gx.data<scalar_t>(), n, scalar_t(s));
  });
  return gx;
}

// Which of x (input) and y (output) the backward of `op` reads; the other is not kept alive.
bool backward_reads_input(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Pow || op == UnaryOp::Relu;
}
bool backward_reads_output(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Sigmoid || op == UnaryOp::Tanh;
}

Tensor unary(UnaryOp op, const Tensor& x, double s = 0.0) {
  const char* name = kernels::unary_op_name(op);
  NvtxRange range(name);
  check_floating(x, name);
  Tensor y = unary_raw(op, x, s);
  if (!autograd::needs_grad({x})) return y;
  const Tensor saved_x = backward_reads_input(op) ? x.detach() : Tensor();
  // Saving the output itself would make a cycle (output -> node -> output): keep a detached alias.
  const Tensor saved_y = backward_reads_output(op) ? y.detach() : Tensor();
  return autograd::record(name, y, {x}, [op, saved_x, saved_y, s](const Tensor& g) {
    return std::vector<Tensor>{unary_backward_raw(op, saved_x, saved_y, g, s)};
  });
}

BroadcastIndex broadcast_index(const Tensor& a, const Tensor& b, const char* op, Shape& out_shape) {
  const std::size_t nd = std::max(a.shape().size(), b.shape().size());
  SPML_CHECK(nd <= std::size_t(BroadcastIndex::kMaxDims), op, ": at most ", BroadcastIndex::kMaxDims,
             " dimensions, got ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  // Right-align both shapes (NumPy rules) and compute row-major strides, 0 where broadcast.
  out_shape.assign(nd, 1);
  Shape as(nd, 1), bs(nd, 1);
  std::copy(a.shape().begin(), a.shape().end(), as.begin() + (nd - a.shape().size()));
  std::copy(b.shape().begin(), b.shape().end(), bs.begin() + (nd - b.shape().size()));
  for (std::size_t d = 0; d < nd; ++d) {
    SPML_CHECK(as[d] == bs[d] || as[d] == 1 || bs[d] == 1, op, ": shapes ", shape_str(a.shape()), " and ",
               shape_str(b.shape()), " cannot be broadcast together");
    out_shape[d] = as[d] == 1 ? bs[d] : as[d];
  }
  BroadcastIndex index;
  index.ndim = int(nd);
  int64_t sa = 1, sb = 1;
  for (int d = int(nd) - 1; d >= 0; --d) {
    index.out_shape[d] = out_shape[std::size_t(d)];
    index.a_stride[d] = as[std::size_t(d)] == 1 ? 0 : sa;
    index.b_stride[d] = bs[std::size_t(d)] == 1 ? 0 : sb;
    sa *= as[std::size_t(d)];
    sb *= bs[std::size_t(d)];
  }
  return index;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = kernels::binary_op_name(op);
  NvtxRange range(name);
  check_floating(a, name);
  check_floating(b, name);
  SPML_CHECK(a.dtype() == b.dtype(), name, ": dtypes differ: ", a.description(), " and ", b.description());
  SPML_CHECK(a.device() == b.device(), name, ": operands on different devices: ", a.description(), " and ",
             b.description());
  Shape out_shape;
  const BroadcastIndex index = broadcast_index(a, b, name, out_shape);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  SPML_DISPATCH_FLOATING(a.dtype(), name, {
    SPML_RUN_KERNEL(a.device(), binary_forward, op, index, a.data<scalar_t>(), b.data<scalar_t>(),
                    out.data<scalar_t>());
  });
  if (!autograd::needs_grad({a, b})) return out;
  const bool grad_a = a.requires_grad(), grad_b = b.requires_grad();
  if (op == BinaryOp::Add || op == BinaryOp::Sub) {
    // d(a +- b) = g, +-g: no operand is saved (a residual add would keep both alive) and an operand of the output's
    // shape gets g itself, no copy (the engine never writes into a gradient it was handed).
    const Shape a_shape = a.shape(), b_shape = b.shape();
    const bool negate_b = op == BinaryOp::Sub;
    return autograd::record(name, out, {a, b}, [a_shape, b_shape, grad_a, grad_b, negate_b](const Tensor& g) {
      Tensor ga = grad_a ? (a_shape == g.shape() ? g : sum_to_shape(g, a_shape)) : Tensor();
      Tensor gb;
      if (grad_b) {
        gb = b_shape == g.shape() ? g : sum_to_shape(g, b_shape);
        if (negate_b) gb = neg(gb);
      }
      return std::vector<Tensor>{ga, gb};
    });
  }
  const Tensor sa = a.detach(), sb = b.detach();
  return autograd::record(name, out, {a, b}, [op, index, sa, sb, grad_a, grad_b](const Tensor& g) {
    Tensor ga = grad_a ? Tensor::empty(g.shape(), g.dtype(), g.device()) : Tensor();
    Tensor gb = grad_b ? Tensor::empty(g.shape(), g.dtype(), g.device()) : Tensor();
    SPML_DISPATCH_FLOATING(g.dtype(), "binary backward", {
      scalar_t* gap = ga.defined() ? ga.data<scalar_t>() : nullptr;
      scalar_t* gbp = gb.defined() ? gb.data<scalar_t>() : nullptr;
      SPML_RUN_KERNEL(g.device(), binary_backward, op, index, sa.data<scalar_t>(), sb.data<scalar_t>(),
                      g.data<scalar_t>(), gap, gbp);
    });
    if (ga.defined()) ga = sum_to_shape(ga, sa.shape());
    if (gb.defined()) gb = sum_to_shape(gb, sb.shape());
    return std::vector<Tensor>{ga, gb};
  });
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Add, a, b);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Sub, a, b);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Mul, a, b);
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Div, a, b);
}
Tensor add(const Tensor& a, double scalar) {
  return unary(UnaryOp::AddScalar, a, scalar);
}
Tensor mul(const Tensor& a, double scalar) {
  return unary(UnaryOp::MulScalar, a, scalar);
}
Tensor neg(const Tensor& x) {
  return unary(UnaryOp::Neg, x);
}
Tensor exp(const Tensor& x) {
  return unary(UnaryOp::Exp, x);
}
Tensor log(const Tensor& x) {
  return unary(UnaryOp::Log, x);
}
Tensor sqrt(const Tensor& x) {
  return unary(UnaryOp::Sqrt, x);
}
Tensor pow(const Tensor& x, double exponent) {
  return unary(UnaryOp::Pow, x, exponent);
}
Tensor relu(const Tensor& x) {
  return unary(UnaryOp::Relu, x);
}
Tensor sigmoid(const Tensor& x) {
  return unary(UnaryOp::Sigmoid, x);
}
Tensor tanh(const Tensor& x) {
  return unary(UnaryOp::Tanh, x);
}

Tensor relu_(const Tensor& x) {
  NvtxRange range("relu_");
  check_floating(x, "relu_");
  SPML_CHECK(!(x.requires_grad() && x.is_leaf()), "relu_: in-place update of a leaf that requires grad (",
             x.description(), ")");
  const int64_t n = x.numel();
  SPML_DISPATCH_FLOATING(x.dtype(), "relu_", {
    SPML_RUN_KERNEL(x.device(), unary_forward, UnaryOp::Relu, x.data<scalar_t>(), x.data<scalar_t>(), n, scalar_t(0));
  });
  if (!autograd::needs_grad({x})) return x;
  // A new handle on the same storage carries the ReLU node; the input's own node stays its producer's.
  const Tensor saved_y = x.detach();
  return autograd::record("relu_", x.detach(), {x}, [saved_y](const Tensor& g) {
    // relu'(x) = [x > 0] = [y > 0]: the output stands in for the overwritten input.
    return std::vector<Tensor>{unary_backward_raw(UnaryOp::Relu, saved_y, Tensor(), g, 0.0)};
  });
}

}  // namespace spml
