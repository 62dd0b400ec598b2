// Forward values of the ops against hand-computed numbers, the GEMM backends against a naive product, and the
// error messages of bad calls (they name the op and both shapes).
#include <gtest/gtest.h>

#include <cmath>

#include "framework/ops/ops.h"
#include "kernels/cpu/cpu_kernels.h"
#include "test_util.h"

namespace spml {
namespace {
using V = std::vector<double>;
V values(const Tensor& t) {
  return t.to(DType::Float64).to_vector<double>();
}

void expect_near(const V& got, const V& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(Ops, ElementwiseValues) {
  const Tensor x = Tensor::from_vector<double>({-2.0, 0.0, 1.0, 4.0}, {4});
  expect_near(values(relu(x)), {0, 0, 1, 4});
  expect_near(values(sigmoid(x)), {1 / (1 + std::exp(2.0)), 0.5, 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(-4.0))});
  expect_near(values(tanh(x)), {std::tanh(-2.0), 0, std::tanh(1.0), std::tanh(4.0)});
  expect_near(values(exp(x)), {std::exp(-2.0), 1, std::exp(1.0), std::exp(4.0)});
  expect_near(values(neg(x)), {2, 0, -1, -4});
  expect_near(values(add(x, 1.5)), {-0.5, 1.5, 2.5, 5.5});
  expect_near(values(mul(x, 2.0)), {-4, 0, 2, 8});
  const Tensor pos = Tensor::from_vector<double>({0.25, 1.0, 4.0}, {3});
  expect_near(values(log(pos)), {std::log(0.25), 0, std::log(4.0)});
  expect_near(values(sqrt(pos)), {0.5, 1, 2});
  expect_near(values(pow(pos, 1.5)), {0.125, 1, 8});
  // Sigmoid never overflows: the extreme logits of the SPML losses stay finite and exact.
  const Tensor extreme = Tensor::from_vector<float>({-100.f, 100.f, -30.f}, {3});
  const auto s = sigmoid(extreme).to_vector<float>();
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_GT(s[0], 0.0f);
  EXPECT_NEAR(s[2], 9.357622968840175e-14, 1e-18);
}

TEST(Ops, BroadcastingBinaryValues) {
  const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor row = Tensor::from_vector<double>({10, 20, 30}, {3});
  const Tensor col = Tensor::from_vector<double>({100, 200}, {2, 1});
  expect_near(values(add(a, row)), {11, 22, 33, 14, 25, 36});
  expect_near(values(sub(row, a)), {9, 18, 27, 6, 15, 24});
  expect_near(values(mul(a, col)), {100, 200, 300, 800, 1000, 1200});
  expect_near(values(div(a, col)), {0.01, 0.02, 0.03, 0.02, 0.025, 0.03});
  EXPECT_EQ(add(col, row).shape(), (Shape{2, 3}));  // both operands broadcast
  expect_near(values(add(col, row)), {110, 120, 130, 210, 220, 230});
  expect_near(values(sum_to_shape(a, {3})), {5, 7, 9});
  expect_near(values(sum_to_shape(a, {2, 1})), {6, 15});
}

TEST(Ops, ReductionsAndShapes) {
  const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sum(a).item(), 21.0);
  EXPECT_EQ(sum(a).dim(), 0);
  EXPECT_EQ(mean(a).item(), 3.5);
  expect_near(values(sum(a, 0)), {5, 7, 9});
  expect_near(values(mean(a, 1)), {2, 5});
  EXPECT_EQ(sum(a, 1, true).shape(), (Shape{2, 1}));
  expect_near(values(transpose(a)), {1, 4, 2, 5, 3, 6});
  expect_near(values(concat({a, a.slice(1, 2)})), {1, 2, 3, 4, 5, 6, 4, 5, 6});
  EXPECT_EQ(a.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(Tensor::zeros({2, 3, 4, 5}).flatten().shape(), (Shape{2, 60}));
}

TEST(Ops, MatmulAndLinearValues) {
  const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2});
  expect_near(values(matmul(a, b)), {58, 64, 139, 154});
  const Tensor w = Tensor::from_vector<double>({1, 0, -1, 2, 1, 0}, {2, 3});
  const Tensor bias = Tensor::from_vector<double>({0.5, -0.5}, {2});
  expect_near(values(linear(a, w, bias)), {1 - 3 + 0.5, 2 + 2 - 0.5, 4 - 6 + 0.5, 8 + 5 - 0.5});
}

// Both GEMM backends and all transpose combinations against a naive triple loop, at odd sizes that straddle
// the blocking.
TEST(Ops, GemmBackendsMatchNaiveProduct) {
  const int64_t m = 67, n = 130, k = 259;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const Tensor a = test::random_tensor(ta ? Shape{k, m} : Shape{m, k}, 1);
      const Tensor b = test::random_tensor(tb ? Shape{n, k} : Shape{k, n}, 2);
      const double* ap = a.data<double>();
      const double* bp = b.data<double>();
      std::vector<double> want(std::size_t(m * n), 0.0), got(std::size_t(m * n), 1.0), got2(std::size_t(m * n), 1.0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t p = 0; p < k; ++p)
            s += (ta ? ap[p * m + i] : ap[i * k + p]) * (tb ? bp[j * k + p] : bp[p * n + j]);
          want[std::size_t(i * n + j)] = 2.0 * s + 0.5;  // alpha 2, beta 0.5 on C = 1
        }
      kernels::cpu::gemm<double>(ta, tb, m, n, k, 2.0, ap, ta ? m : k, bp, tb ? k : n, 0.5, got.data(), n);
      kernels::cpu::gemm_builtin<double>(ta, tb, m, n, k, 2.0, ap, ta ? m : k, bp, tb ? k : n, 0.5, got2.data(), n);
      expect_near(got, want, 1e-10);
      expect_near(got2, want, 1e-10);
    }
  }
}

TEST(Ops, BadInputErrorsNameTheOpAndShapes) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  EXPECT_ERROR_CONTAINS(add(a, b), "add", "[2, 3]", "[4]", "cannot be broadcast");
  EXPECT_ERROR_CONTAINS(matmul(a, a), "matmul", "[2, 3]", "inner dimensions");
  EXPECT_ERROR_CONTAINS(linear(a, Tensor::zeros({5, 4})), "linear", "[2, 3]", "[5, 4]");
  EXPECT_ERROR_CONTAINS(linear(a, Tensor::zeros({5, 3}), Tensor::zeros({4})), "linear: bias", "[4]", "[5, 3]");
  EXPECT_ERROR_CONTAINS(mul(a, Tensor::zeros({2, 3}, DType::Float64)), "mul", "float32[2, 3]", "float64[2, 3]");
  EXPECT_ERROR_CONTAINS(exp(Tensor::zeros({2}, DType::Int64)), "exp", "int64[2]");
  EXPECT_ERROR_CONTAINS(sum(a, 2), "sum", "dimension 2", "[2, 3]");
  EXPECT_ERROR_CONTAINS(a.reshape({4, 2}), "reshape", "[2, 3]", "[4, 2]");
  EXPECT_ERROR_CONTAINS(a.slice(1, 3), "slice", "[1, 3)", "[2, 3]");
  EXPECT_ERROR_CONTAINS(concat({a, Tensor::zeros({1, 4})}), "concat", "part 1", "[1, 4]", "[2, 3]");
  EXPECT_ERROR_CONTAINS(transpose(b), "transpose", "float32[4]");
  EXPECT_ERROR_CONTAINS(Tensor::from_vector<float>({1, 2}, {3}), "from_vector", "[3]");
  EXPECT_ERROR_CONTAINS(Tensor().shape(), "undefined");
  if (!cuda_runtime::is_available()) {
    // Mixing devices needs a CUDA tensor; without a device, asking for one is itself the clear error.
    EXPECT_ERROR_CONTAINS(Tensor::zeros({2}, DType::Float32, Device::cuda(0)), "CUDA device 0");
  } else {
    EXPECT_ERROR_CONTAINS(add(a, Tensor::zeros({2, 3}, DType::Float32, Device::cuda(0))), "add", "different devices",
                          "on cpu", "on cuda:0");
  }
}

}  // namespace
}  // namespace spml
