// Element-wise forward/backward math, written once and used by the CPU loops and the CUDA kernels.
// Each op is a struct with fwd(x, s) and bwd(x, y, gy, s) -> dL/dx, where s is the op's scalar parameter.
#pragma once

#include "kernels/common/hd.h"

namespace spml::kernels {

enum class UnaryOp : int { Neg, Exp, Log, Sqrt, Pow, Relu, Sigmoid, Tanh, AddScalar, MulScalar };
enum class BinaryOp : int { Add, Sub, Mul, Div };

// The ops' names for messages; inline because kernels/common has no source file of its own.
inline const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
      return "neg";
    case UnaryOp::Exp:
      return "exp";
    case UnaryOp::Log:
      return "log";
    case UnaryOp::Sqrt:
      return "sqrt";
    case UnaryOp::Pow:
      return "pow";
    case UnaryOp::Relu:
      return "relu";
    case UnaryOp::Sigmoid:
      return "sigmoid";
    case UnaryOp::Tanh:
      return "tanh";
    case UnaryOp::AddScalar:
      return "add_scalar";
    case UnaryOp::MulScalar:
      return "mul_scalar";
  }
  return "unknown";
}

inline const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "add";
    case BinaryOp::Sub:
      return "sub";
    case BinaryOp::Mul:
      return "mul";
    case BinaryOp::Div:
      return "div";
  }
  return "unknown";
}

struct NegOp {
  template <class T>
  SPML_HD static T fwd(T x, T) {
    return -x;
  }
  template <class T>
  SPML_HD static T bwd(T, T, T g, T) {
    return -g;
  }
};
struct ExpOp {
  template <class T>
  SPML_HD static T fwd(T x, T) {
    return exp_(x);
  }
  template <class T>
  SPML_HD static T bwd(T, T y, T g, T) {
    return g * y;
  }
};
struct LogOp {
  template <class T>
  SPML_HD static T fwd(T x, T) {
    return log_(x);
  }
  template <class T>
  SPML_HD static T bwd(T x, T, T g, T) {
    return g / x;
  }
};
struct SqrtOp {
  template <class T>
  SPML_HD static T fwd(T x, T) {
    return sqrt_(x);
  }
  template <class T>
  SPML_HD static T bwd(T, T y, T g, T) {
    return g / (T(2) * y);
  }
};
struct PowOp {  // x^s for a scalar exponent s
  template <class T>
  SPML_HD static T fwd(T x, T s) {
    return pow_(x, s);
  }
  template <class T>
  SPML_HD static T bwd(T x, T, T g, T s) {
    return s == T(0) ? T(0) : g * s * pow_(x, s - T(1));
  }
};
struct ReluOp {  // subgradient 0 at x == 0; NaN passes through (a diverged net must not look finite), like PyTorch
  // x > 0 read on the bit pattern (positive, non-zero), so the CPU loops vectorise (vector_math.h).
  template <class T>
  SPML_HD static T fwd(T x, T) {
    return (vm::bits(x) > 0 || vm::is_nan(x)) ? x : T(0);
  }
  template <class T>
  SPML_HD static T bwd(T x, T, T g, T) {
    return (vm::bits(x) > 0 && !vm::is_nan(x)) ? g : T(0);
  }
};
struct SigmoidOp {  // 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: exp never overflows
  // Branch-free on the sign bit (the same two formulas), so the CPU loops vectorise; a NaN comes out as it went in
  // (-|x| would flip its sign, and a "-nan" loss reads like something else than a diverged net).
  template <class T>
  SPML_HD static T fwd(T x, T) {
    const T e = exp_(-vm::abs(x));
    return vm::select(vm::is_nan(x), x, vm::select(vm::sign_bit(x), e, T(1)) / (T(1) + e));
  }
  template <class T>
  SPML_HD static T bwd(T, T y, T g, T) {
    return g * y * (T(1) - y);
  }
};
struct TanhOp {
  template <class T>
  SPML_HD static T fwd(T x, T) {
    return tanh_(x);
  }
  template <class T>
  SPML_HD static T bwd(T, T y, T g, T) {
    return g * (T(1) - y * y);
  }
};
struct AddScalarOp {
  template <class T>
  SPML_HD static T fwd(T x, T s) {
    return x + s;
  }
  template <class T>
  SPML_HD static T bwd(T, T, T g, T) {
    return g;
  }
};
struct MulScalarOp {
  template <class T>
  SPML_HD static T fwd(T x, T s) {
    return x * s;
  }
  template <class T>
  SPML_HD static T bwd(T, T, T g, T s) {
    return g * s;
  }
};

// Binary ops: fwd(a, b); da(a, b, g) and db(a, b, g) are the gradient contributions.
struct AddOp {
  template <class T>
  SPML_HD static T fwd(T a, T b) {
    return a + b;
  }
  template <class T>
  SPML_HD static T da(T, T, T g) {
    return g;
  }
  template <class T>
  SPML_HD static T db(T, T, T g) {
    return g;
  }
};
struct SubOp {
  template <class T>
  SPML_HD static T fwd(T a, T b) {
    return a - b;
  }
  template <class T>
  SPML_HD static T da(T, T, T g) {
    return g;
  }
  template <class T>
  SPML_HD static T db(T, T, T g) {
    return -g;
  }
};
struct MulOp {
  template <class T>
  SPML_HD static T fwd(T a, T b) {
    return a * b;
  }
  template <class T>
  SPML_HD static T da(T, T b, T g) {
    return g * b;
  }
  template <class T>
  SPML_HD static T db(T a, T, T g) {
    return g * a;
  }
};
struct DivOp {
  template <class T>
  SPML_HD static T fwd(T a, T b) {
    return a / b;
  }
  template <class T>
  SPML_HD static T da(T, T b, T g) {
    return g / b;
  }
  template <class T>
  SPML_HD static T db(T a, T b, T g) {
    return -g * a / (b * b);
  }
};

// Calls F.template operator()<OpStruct>() for the runtime op id; one switch shared by both backends.
template <class F>
void dispatch_unary(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::Neg:
      f(NegOp{});
      return;
    case UnaryOp::Exp:
      f(ExpOp{});
      return;
    case UnaryOp::Log:
      f(LogOp{});
      return;
    case UnaryOp::Sqrt:
      f(SqrtOp{});
      return;
    case UnaryOp::Pow:
      f(PowOp{});
      return;
    case UnaryOp::Relu:
      f(ReluOp{});
      return;
    case UnaryOp::Sigmoid:
      f(SigmoidOp{});
      return;
    case UnaryOp::Tanh:
      f(TanhOp{});
      return;
    case UnaryOp::AddScalar:
      f(AddScalarOp{});
      return;
    case UnaryOp::MulScalar:
      f(MulScalarOp{});
      return;
  }
}
template <class F>
void dispatch_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add:
      f(AddOp{});
      return;
    case BinaryOp::Sub:
      f(SubOp{});
      return;
    case BinaryOp::Mul:
      f(MulOp{});
      return;
    case BinaryOp::Div:
      f(DivOp{});
      return;
  }
}

// Index map of a broadcast binary op: output element i (row-major over out_shape) reads a at
// sum(coord_d * a_stride[d]) and b likewise (stride 0 on broadcast dimensions).
struct BroadcastIndex {
  static constexpr int kMaxDims = 8;
  int ndim = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t a_stride[kMaxDims] = {};
  int64_t b_stride[kMaxDims] = {};

  SPML_HD void offsets(int64_t i, int64_t& ia, int64_t& ib) const {
    ia = 0;
    ib = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t c = i % out_shape[d];
      i /= out_shape[d];
      ia += c * a_stride[d];
      ib += c * b_stride[d];
    }
  }
};

}  // namespace spml::kernels
