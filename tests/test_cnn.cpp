// CNN ops: values by hand, batch-norm semantics (running statistics, frozen affine parameters, eval mode),
// pooling values, bad-input messages and cuDNN's deterministic mode. Their gradient checks and CPU/CUDA parity
// are rows of the op table (tests/op_table.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/nn/cnn_layers.h"
#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "test_util.h"

namespace spml {
namespace {
using test::Inputs;
using test::leaf;
using test::random_tensor;

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

class CnnCudaParity : public test::CudaDTypeTest {};

// cuDNN's algorithm choice is global state that must hold through the backward, which a row of the op table
// (its forward and backward at every conv2d shape) cannot express.
TEST_P(CnnCudaParity, DeterministicAndFastConvolutionsMatchTheCpu) {
  const Tensor x = rnd({4, 16, 15, 13}, 21), w = rnd({8, 16, 3, 3}, 30);
  for (bool deterministic : {false, true}) {
    set_deterministic_convolutions(deterministic);
    test::expect_parity([](const Inputs& v) { return conv2d(v[0], v[1], Tensor(), {1, 1}); }, {leaf(x), leaf(w)}, 10);
  }
  set_deterministic_convolutions(false);
}

SPML_INSTANTIATE_FLOAT_DTYPES(CnnCudaParity);

}  // namespace
}  // namespace spml
