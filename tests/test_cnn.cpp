// CNN ops: finite-difference gradient checks at small odd shapes, batch-norm semantics (running statistics,
// frozen affine parameters, eval mode), pooling values, modules, bad-input messages and CPU/CUDA parity.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/nn/cnn_layers.h"
#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "framework/testing/gradcheck.h"
#include "test_util.h"

namespace spml {
namespace {
using test::leaf;
using test::random_tensor;
using Inputs = std::vector<Tensor>;

void expect_gradcheck(const std::function<Tensor(const Inputs&)>& f, const Inputs& inputs) {
  const testing::GradCheckResult r = testing::gradcheck(f, inputs);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.checked, 0);
}

TEST(CnnGradCheck, Conv2dStridesPaddingsAndPointwise) {
  const Tensor x = leaf(random_tensor({2, 3, 7, 6}, 1));
  for (auto [k, stride, pad] : {std::tuple{3, 1, 1}, std::tuple{3, 2, 1}, std::tuple{1, 1, 0}, std::tuple{1, 2, 0},
                                std::tuple{5, 2, 2}, std::tuple{2, 1, 0}}) {
    const Tensor w = leaf(random_tensor({4, 3, k, k}, 2 + k));
    expect_gradcheck([&](const Inputs& v) { return conv2d(v[0], v[1], Tensor(), {stride, pad}); }, {x, w});
  }
  const Tensor w = leaf(random_tensor({4, 3, 3, 3}, 9)), b = leaf(random_tensor({4}, 10));
  expect_gradcheck([](const Inputs& v) { return conv2d(v[0], v[1], v[2], {2, 1}); }, {x, w, b});
}

TEST(CnnGradCheck, BatchNormTrainingAndEval) {
  const Tensor x = leaf(random_tensor({3, 4, 3, 5}, 11, DType::Float64, -2, 3));
  const Tensor gamma = leaf(random_tensor({4}, 12, DType::Float64, 0.5, 1.5)), beta = leaf(random_tensor({4}, 13));
  const Tensor rm = random_tensor({4}, 14), rv = random_tensor({4}, 15, DType::Float64, 0.5, 2);
  expect_gradcheck([&](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], rm.clone(), rv.clone(), true); },
                   {x, gamma, beta});
  expect_gradcheck([&](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], rm, rv, false); }, {x, gamma, beta});
}

TEST(CnnGradCheck, Pooling) {
  const Tensor x = leaf(random_tensor({2, 3, 7, 8}, 16));  // random values: no ties
  expect_gradcheck([](const Inputs& v) { return max_pool2d(v[0], 3, 2, 1); }, {x});
  expect_gradcheck([](const Inputs& v) { return max_pool2d(v[0], 2, 2, 0); }, {x});
  expect_gradcheck([](const Inputs& v) { return adaptive_avg_pool2d(v[0], 3, 5); }, {x});
  expect_gradcheck([](const Inputs& v) { return global_avg_pool2d(v[0]); }, {x});
}

TEST(Cnn, Conv2dValuesByHand) {
  // A 1-channel 3x3 input with a 2x2 kernel of ones: each output is the sum of a 2x2 window.
  const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  const Tensor w = Tensor::ones({1, 1, 2, 2}, DType::Float64);
  EXPECT_EQ(conv2d(x, w).to_vector<double>(), (std::vector<double>{12, 16, 24, 28}));
  // Padding 1, stride 2: corners see one, two or four input values.
  EXPECT_EQ(conv2d(x, w, Tensor(), {2, 1}).to_vector<double>(), (std::vector<double>{1, 5, 11, 28}));
  const Tensor b = Tensor::from_vector<double>({0.5}, {1});
  EXPECT_EQ(conv2d(x, w, b).to_vector<double>(), (std::vector<double>{12.5, 16.5, 24.5, 28.5}));
}

TEST(Cnn, BatchNormFollowsPyTorchSemantics) {
  // Channel 0 holds {1, 2, 3, 4} (mean 2.5, biased var 1.25, unbiased 5/3), channel 1 {0, 0, 2, 2}.
  const Tensor x = Tensor::from_vector<double>({1, 2, 0, 0, 3, 4, 2, 2}, {2, 2, 1, 2});
  nn::BatchNorm2d bn(2, 0.1, 1e-5, DType::Float64);
  bn.set_requires_grad("", false);  // frozen affine parameters: running statistics must still move
  const std::vector<double> y = bn.forward(x).to_vector<double>();
  const double inv0 = 1 / std::sqrt(1.25 + 1e-5), inv1 = 1 / std::sqrt(1.0 + 1e-5);
  EXPECT_NEAR(y[0], (1 - 2.5) * inv0, 1e-12);
  EXPECT_NEAR(y[5], (4 - 2.5) * inv0, 1e-12);
  EXPECT_NEAR(y[2], (0 - 1.0) * inv1, 1e-12);
  EXPECT_NEAR(bn.running_mean().to_vector<double>()[0], 0.1 * 2.5, 1e-15);
  EXPECT_NEAR(bn.running_var().to_vector<double>()[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-15);
  EXPECT_NEAR(bn.running_var().to_vector<double>()[1], 0.9 + 0.1 * 4.0 / 3.0, 1e-15);
  EXPECT_EQ(bn.state_dict().at("num_batches_tracked").to_vector<int64_t>()[0], 1);
  bn.eval();
  const double rm = 0.25, rv = 0.9 + 0.5 / 3.0;
  EXPECT_NEAR(bn.forward(x).to_vector<double>()[0], (1 - rm) / std::sqrt(rv + 1e-5), 1e-12);
  EXPECT_NEAR(bn.running_mean().to_vector<double>()[0], rm, 1e-15);  // eval leaves them alone
  EXPECT_EQ(bn.state_dict().at("num_batches_tracked").to_vector<int64_t>()[0], 1);
}

TEST(Cnn, PoolingValues) {
  const Tensor x = Tensor::from_vector<double>({1, 5, 2, 0, 3, 9, 4, 4, 6, 7, 8, 1, 2, 2, 2, 3}, {1, 1, 4, 4});
  EXPECT_EQ(max_pool2d(x, 2, 2).to_vector<double>(), (std::vector<double>{9, 4, 7, 8}));
  // ResNet's stem pool: kernel 3, stride 2, padding 1.
  EXPECT_EQ(max_pool2d(x, 3, 2, 1).to_vector<double>(), (std::vector<double>{9, 9, 9, 9}));
  EXPECT_EQ(global_avg_pool2d(x).to_vector<double>(), (std::vector<double>{59.0 / 16}));
  // Adaptive bins of 4 -> 3: rows [0, 2), [1, 3), [2, 4).
  EXPECT_NEAR(adaptive_avg_pool2d(x, 3, 3).to_vector<double>()[0], (1 + 5 + 3 + 9) / 4.0, 1e-15);
  // Ties keep the first maximum, and the gradient goes to it alone.
  Tensor ties = leaf(Tensor::from_vector<double>({4, 4, 4, 4}, {1, 1, 2, 2}));
  sum(max_pool2d(ties, 2, 2)).backward();
  EXPECT_EQ(ties.grad().to_vector<double>(), (std::vector<double>{1, 0, 0, 0}));
}

TEST(Cnn, BadInputsNameTheOpAndShapes) {
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  EXPECT_ERROR_CONTAINS(conv2d(x, Tensor::zeros({4, 5, 3, 3})), "conv2d", "[2, 3, 8, 8]", "[4, 5, 3, 3]");
  EXPECT_ERROR_CONTAINS(conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3})), "conv2d", "4-D", "[3, 8, 8]");
  EXPECT_ERROR_CONTAINS(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5})), "conv2d: bias", "[5]");
  EXPECT_ERROR_CONTAINS(batch_norm2d(x, Tensor::ones({4}), Tensor(), Tensor(), Tensor(), true), "batch_norm2d",
                        "weight", "[4]", "3 channels");
  EXPECT_ERROR_CONTAINS(batch_norm2d(Tensor::zeros({1, 3, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                        "more than one value per channel");
  EXPECT_ERROR_CONTAINS(max_pool2d(x, 3, 2, 2), "max_pool2d", "padding 2");
}

class CnnCudaParity : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { SPML_SKIP_WITHOUT_CUDA(); }
};

// Forward and every gradient of f on the CPU and on CUDA.
void expect_parity(const std::function<Tensor(const Inputs&)>& f, const Inputs& host, double tol) {
  Inputs cpu, gpu;
  for (const Tensor& t : host) {
    cpu.push_back(leaf(t.clone()));
    gpu.push_back(leaf(t.to(Device::cuda())));
  }
  const Tensor a = f(cpu), b = f(gpu);
  EXPECT_LE(max_abs_diff(a, b), tol) << "forward";
  Tensor r = test::random_tensor(a.shape(), 77, a.dtype());
  a.backward(r);
  b.backward(r.to(Device::cuda()));
  for (std::size_t i = 0; i < cpu.size(); ++i) EXPECT_LE(max_abs_diff(cpu[i].grad(), gpu[i].grad()), tol) << i;
}

TEST_P(CnnCudaParity, ConvBatchNormPooling) {
  const DType dt = GetParam();
  const double tol = dt == DType::Float64 ? 1e-10 : 2e-4;
  const Tensor x = random_tensor({4, 16, 15, 13}, 21, dt);
  for (auto [k, stride, pad] : {std::tuple{3, 1, 1}, std::tuple{3, 2, 1}, std::tuple{1, 1, 0}, std::tuple{7, 2, 3}}) {
    const Tensor w = random_tensor({8, 16, k, k}, 22 + k, dt);
    expect_parity([&](const Inputs& v) { return conv2d(v[0], v[1], Tensor(), {stride, pad}); }, {x, w}, tol);
  }
  for (bool deterministic : {false, true}) {
    set_deterministic_convolutions(deterministic);
    const Tensor w = random_tensor({8, 16, 3, 3}, 30, dt);
    expect_parity([&](const Inputs& v) { return conv2d(v[0], v[1], Tensor(), {1, 1}); }, {x, w}, tol);
  }
  set_deterministic_convolutions(false);
  const Tensor gamma = random_tensor({16}, 31, dt, 0.5, 1.5), beta = random_tensor({16}, 32, dt);
  Tensor rm_c = Tensor::zeros({16}, dt), rv_c = Tensor::ones({16}, dt);
  Tensor rm_g = rm_c.to(Device::cuda()), rv_g = rv_c.to(Device::cuda());
  int call = 0;
  expect_parity(
      [&](const Inputs& v) {
        const bool gpu = call++ == 1;
        return batch_norm2d(v[0], v[1], v[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, true);
      },
      {x, gamma, beta}, tol * 10);
  EXPECT_LE(max_abs_diff(rm_c, rm_g), tol);
  EXPECT_LE(max_abs_diff(rv_c, rv_g), tol);
  expect_parity(
      [&](const Inputs& v) {
        return batch_norm2d(v[0], v[1], v[2], rm_c.to(v[0].device()), rv_c.to(v[0].device()), false);
      },
      {x, gamma, beta}, tol);
  expect_parity([](const Inputs& v) { return max_pool2d(v[0], 3, 2, 1); }, {x}, tol);
  expect_parity([](const Inputs& v) { return adaptive_avg_pool2d(v[0], 4, 3); }, {x}, tol);
  expect_parity([](const Inputs& v) { return global_avg_pool2d(v[0]); }, {x}, tol);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CnnCudaParity, ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace spml
