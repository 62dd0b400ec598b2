// The gradient checker itself (kinks skipped, module parameters checked, float32 tolerances, a wrong gradient
// caught) and gradient checks of what is not one op: graphs that reuse values. Every op's own check is a row of
// the op table (tests/op_table.cpp, run by OpTableGradcheck in tests/test_op_table.cpp).
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "framework/testing/gradcheck.h"
#include "test_util.h"

namespace spml {
namespace {
using test::expect_gradcheck;
using test::Inputs;
using test::leaf;
using test::random_tensor;
using testing::gradcheck;

TEST(GradCheck, ReluSkipsTheKink) {
  // Exact zeros sit on the kink: the checker must skip them and check the rest.
  Tensor x = Tensor::from_vector<double>({-1.0, 0.0, 0.5, 0.0, 2.0, -0.3}, {2, 3});
  x.set_requires_grad(true);
  const testing::GradCheckResult r = gradcheck([](const Inputs& v) { return relu(v[0]); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.skipped, 2) << r.message;
  EXPECT_EQ(r.checked, 4) << r.message;
}

// The gradient of relu_ is the op table's relu_inplace_after_add row; here what it may be applied to.
TEST(GradCheck, InPlaceReluRefusesLeavesAndReusesTheBuffer) {
  const Tensor x = leaf(random_tensor({4, 5}, 24, DType::Float64, -2.0, 2.0));
  EXPECT_ERROR_CONTAINS(relu_(x), "relu_", "leaf");
  const Tensor y = add(x, 0.0);
  const Tensor z = relu_(y);
  EXPECT_TRUE(z.same_storage(y));  // no new buffer
}

TEST(GradCheck, ModuleParametersAreChecked) {
  nn::Linear layer(4, 3, true, /*seed=*/5, DType::Float64);
  const Tensor x = random_tensor({2, 4}, 18);  // input not checked, parameters are
  expect_gradcheck([&](const Inputs& v) { return tanh(layer(v[0])); }, {x, layer.weight(), layer.bias()});
}

TEST(GradCheck, CompositeGraphWithReuse) {
  // A value used twice (diamond) and a broadcast bias: gradients from both paths must add up.
  const Tensor x = leaf(random_tensor({4, 3}, 19)), b = leaf(random_tensor({3}, 20));
  expect_gradcheck(
      [](const Inputs& v) {
        const Tensor h = sigmoid(add(v[0], v[1]));
        return mean(mul(h, h) + exp(neg(h)), 1);
      },
      {x, b});
}

TEST(GradCheck, Float32WithDerivedTolerances) {
  const Tensor x = leaf(random_tensor({4, 3}, 21, DType::Float32)), w = leaf(random_tensor({2, 3}, 22, DType::Float32));
  expect_gradcheck([](const Inputs& v) { return sigmoid(linear(v[0], v[1])); }, {x, w});
}

TEST(GradCheck, CatchesAWrongGradient) {
  // An op whose recorded backward is off by 10% must fail the check.
  const Tensor x = leaf(random_tensor({3}, 23));
  auto wrong_square = [](const Inputs& v) {
    Tensor y = mul(v[0].detach(), v[0].detach());
    const Tensor saved = v[0].detach();
    return autograd::record("wrong_square", y, {v[0]},
                            [saved](const Tensor& g) { return std::vector<Tensor>{mul(mul(g, saved), 2.2)}; });
  };
  const testing::GradCheckResult r = gradcheck(wrong_square, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("FAILED"), std::string::npos);
}

}  // namespace
}  // namespace spml
