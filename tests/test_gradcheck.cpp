// Finite-difference gradient checks of every op (float64 on the CPU; one float32 pass), and proof that the
// checker itself catches a wrong gradient.
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "framework/testing/gradcheck.h"
#include "test_util.h"

namespace spml {
namespace {
using test::leaf;
using test::random_tensor;
using testing::gradcheck;
using Inputs = std::vector<Tensor>;

void expect_gradcheck(const std::function<Tensor(const Inputs&)>& f, const Inputs& inputs,
                      testing::GradCheckOptions options = {}) {
  const testing::GradCheckResult r = gradcheck(f, inputs, options);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.checked, 0) << r.message;
}

TEST(GradCheck, BinaryOpsSameShape) {
  const Tensor a = leaf(random_tensor({3, 4}, 1)), b = leaf(random_tensor({3, 4}, 2, DType::Float64, 0.5, 2.0));
  expect_gradcheck([](const Inputs& x) { return add(x[0], x[1]); }, {a, b});
  expect_gradcheck([](const Inputs& x) { return sub(x[0], x[1]); }, {a, b});
  expect_gradcheck([](const Inputs& x) { return mul(x[0], x[1]); }, {a, b});
  expect_gradcheck([](const Inputs& x) { return div(x[0], x[1]); }, {a, b});
}

TEST(GradCheck, BinaryOpsBroadcastBiasLike) {
  const Tensor a = leaf(random_tensor({2, 3, 4}, 3));
  const Tensor row = leaf(random_tensor({4}, 4, DType::Float64, 0.5, 2.0));
  const Tensor channel = leaf(random_tensor({3, 1}, 5, DType::Float64, 0.5, 2.0));
  for (const Tensor& b : {row, channel}) {
    expect_gradcheck([](const Inputs& x) { return add(x[0], x[1]); }, {a, b});
    expect_gradcheck([](const Inputs& x) { return sub(x[1], x[0]); }, {a, b});  // broadcast on the left
    expect_gradcheck([](const Inputs& x) { return mul(x[0], x[1]); }, {a, b});
    expect_gradcheck([](const Inputs& x) { return div(x[0], x[1]); }, {a, b});
  }
}

TEST(GradCheck, UnaryOps) {
  const Tensor x = leaf(random_tensor({5, 3}, 6, DType::Float64, -2.0, 2.0));
  const Tensor pos = leaf(random_tensor({5, 3}, 7, DType::Float64, 0.2, 3.0));
  expect_gradcheck([](const Inputs& v) { return neg(v[0]); }, {x});
  expect_gradcheck([](const Inputs& v) { return exp(v[0]); }, {x});
  expect_gradcheck([](const Inputs& v) { return log(v[0]); }, {pos});
  expect_gradcheck([](const Inputs& v) { return sqrt(v[0]); }, {pos});
  expect_gradcheck([](const Inputs& v) { return pow(v[0], 2.5); }, {pos});
  expect_gradcheck([](const Inputs& v) { return pow(v[0], -1.0); }, {pos});
  expect_gradcheck([](const Inputs& v) { return sigmoid(v[0]); }, {x});
  expect_gradcheck([](const Inputs& v) { return tanh(v[0]); }, {x});
  expect_gradcheck([](const Inputs& v) { return add(v[0], 3.5); }, {x});
  expect_gradcheck([](const Inputs& v) { return mul(v[0], -1.5); }, {x});
}

TEST(GradCheck, ReluSkipsTheKink) {
  // Exact zeros sit on the kink: the checker must skip them and check the rest.
  Tensor x = Tensor::from_vector<double>({-1.0, 0.0, 0.5, 0.0, 2.0, -0.3}, {2, 3});
  x.set_requires_grad(true);
  const testing::GradCheckResult r = gradcheck([](const Inputs& v) { return relu(v[0]); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.skipped, 2) << r.message;
  EXPECT_EQ(r.checked, 4) << r.message;
}

TEST(GradCheck, InPlaceReluAfterAnOpThatKeepsNoOutput) {
  const Tensor x = leaf(random_tensor({4, 5}, 24, DType::Float64, -2.0, 2.0));
  expect_gradcheck([](const Inputs& v) { return relu_(add(v[0], 0.25)); }, {x});
  EXPECT_ERROR_CONTAINS(relu_(x), "relu_", "leaf");
  const Tensor y = add(x, 0.0);
  const Tensor z = relu_(y);
  EXPECT_TRUE(z.same_storage(y));  // no new buffer
}

TEST(GradCheck, Reductions) {
  const Tensor x = leaf(random_tensor({2, 3, 4}, 8));
  expect_gradcheck([](const Inputs& v) { return sum(v[0]); }, {x});
  expect_gradcheck([](const Inputs& v) { return mean(v[0]); }, {x});
  for (int64_t d : {0, 1, 2, -1}) {
    expect_gradcheck([d](const Inputs& v) { return sum(v[0], d); }, {x});
    expect_gradcheck([d](const Inputs& v) { return mean(v[0], d, /*keepdim=*/true); }, {x});
  }
}

TEST(GradCheck, ShapeOps) {
  const Tensor x = leaf(random_tensor({2, 3, 4}, 9));
  expect_gradcheck([](const Inputs& v) { return reshape(v[0], {4, -1}); }, {x});
  expect_gradcheck([](const Inputs& v) { return flatten(v[0]); }, {x});
  expect_gradcheck([](const Inputs& v) { return v[0].slice(1, 2); }, {x});
  const Tensor m = leaf(random_tensor({3, 5}, 10));
  expect_gradcheck([](const Inputs& v) { return transpose(v[0]); }, {m});
  const Tensor a = leaf(random_tensor({2, 5}, 11)), b = leaf(random_tensor({1, 5}, 12));
  expect_gradcheck([](const Inputs& v) { return concat({v[0], v[1], v[0]}); }, {a, b});
}

TEST(GradCheck, MatmulAndLinear) {
  const Tensor a = leaf(random_tensor({3, 4}, 13)), b = leaf(random_tensor({4, 5}, 14));
  expect_gradcheck([](const Inputs& v) { return matmul(v[0], v[1]); }, {a, b});
  const Tensor x = leaf(random_tensor({6, 4}, 15)), w = leaf(random_tensor({3, 4}, 16)),
               bias = leaf(random_tensor({3}, 17));
  expect_gradcheck([](const Inputs& v) { return linear(v[0], v[1], v[2]); }, {x, w, bias});
  expect_gradcheck([](const Inputs& v) { return linear(v[0], v[1]); }, {x, w});
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
