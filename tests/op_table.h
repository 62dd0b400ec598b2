// The op table (in the style of ggml's test-backend-ops): one row per op variant, with the op, how to make its
// inputs and what it supports. tests/test_op_table.cpp runs every row through the finite-difference gradient
// check (OpTableGradcheck) and the CPU-vs-CUDA parity check (OpTableCudaParity), so an op added here gets both;
// kOpNames, next to the rows in tests/op_table.cpp, lists the ops that must have a row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/testing/gradcheck.h"
#include "test_util.h"

namespace spml::test {

// How one input of a row is made. Gradient checks use the small `gradcheck_shape` (every element is perturbed
// twice); parity runs use `parity_shape`, sized to reach the kernels' blocking and multi-block reductions.
struct InputSpec {
  enum class Kind {
    Uniform,     // U(lo, hi)
    AwayFrom,    // U(lo, hi) pushed at least `gap` away from `kink` (ReLU's 0): no element sits on the kink
    Distinct,    // a shuffled grid over [lo, hi]: no ties (max pooling routes the gradient to one element)
    Labels,      // {0, 1}: one observed positive in every row but the last (single-positive labels)
    FullLabels,  // {0, 1}: random multi-label targets (BCE)
    Indices,     // int64 row indices `gradcheck_indices` / `parity_indices`
  };
  Kind kind = Kind::Uniform;
  Shape gradcheck_shape, parity_shape;
  uint64_t seed = 1;
  double lo = -1, hi = 1;
  double kink = 0, gap = 0;
  bool requires_grad = true;
  std::vector<int64_t> gradcheck_indices, parity_indices;
};

// `seed` also picks the values: rows reuse seeds freely, rows are independent.
InputSpec uniform(Shape gradcheck, Shape parity, uint64_t seed, double lo = -1, double hi = 1);
InputSpec away_from(double kink, double gap, Shape gradcheck, Shape parity, uint64_t seed, double lo, double hi);
InputSpec distinct(Shape gradcheck, Shape parity, uint64_t seed);
InputSpec constant(InputSpec spec);  // the same values, not differentiated (running statistics, frozen weights)
InputSpec labels(Shape gradcheck, Shape parity, uint64_t seed, bool full = false);
InputSpec indices(std::vector<int64_t> gradcheck, std::vector<int64_t> parity);

// Row flags: what the op cannot do or how its inputs are chosen.
enum OpFlags : unsigned {
  kNone = 0,
  kKink = 1u << 0,              // not differentiable at a kink; the inputs avoid it (the gradcheck skips nothing)
  kGradcheckFloat32 = 1u << 1,  // gradcheck in float32 too (with the checker's float32 step and tolerances)
  kCudaForwardOnly = 1u << 2,   // CUDA parity covers the forward only
  kNoGradcheck = 1u << 3,       // the recorded gradient is not the derivative (stop-gradients): `note` says
                                // which test checks it instead
};

struct OpRow {
  std::string name;  // the test instances' name: [A-Za-z0-9_], unique
  std::string op;    // the entry of kOpNames it covers
  OpFn fn;
  std::vector<InputSpec> inputs;
  std::vector<DType> dtypes{DType::Float32, DType::Float64};  // parity runs each; gradcheck float64 (+ float32)
  double parity_scale = 1;  // x parity_tolerance(dtype): the op's output range and summation length
  unsigned flags = kNone;
  std::string note;  // why a flag is set
  testing::GradCheckOptions gradcheck;

  bool has(OpFlags f) const { return (flags & f) != 0; }
};

const std::vector<OpRow>& op_table();
// Every op that must have a row: the framework's differentiable ops (ops.h, cnn.h, Tensor's recorded views)
// with their overloads and modes, and the fused SPML losses ("spml_loss:<name>").
const std::vector<std::string>& op_names();
// Functions declared in the op headers that are not differentiable ops (not recorded, or test helpers).
const std::vector<std::string>& non_op_functions();

// The inputs of `row` in `dtype` (labels take it too; indices are int64), parity-sized or gradcheck-sized.
Inputs make_inputs(const OpRow& row, DType dtype, bool parity);

}  // namespace spml::test
