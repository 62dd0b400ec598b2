// Tensor basics (factories, views sharing storage, copies, casts, random fills) and the autograd engine.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/core/runtime.h"
#include "framework/io/npy_tensor.h"
#include "framework/ops/ops.h"
#include "test_util.h"

namespace spml {
namespace {
using test::leaf;

TEST(Tensor, FactoriesAndMetadata) {
  const Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_TRUE(z.device().is_cpu());
  EXPECT_EQ(z.description(), "float32[2, 3] on cpu");
  EXPECT_EQ(Tensor::full({2}, 2.5, DType::Float64).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(Tensor::ones({3}, DType::Int64).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  const Tensor s = Tensor::from_vector<double>({4.0}, Shape{});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), 4.0);
  EXPECT_EQ(element_size(DType::BFloat16), 2u);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor base = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor rows = base.slice(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 2}));
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{2, 3, 4, 5}));
  Tensor flat = base.reshape({-1});
  EXPECT_EQ(flat.shape(), (Shape{6}));
  Tensor detached = base.detach();
  rows.fill_(9.0f);
  EXPECT_EQ(base.to_vector<float>(), (std::vector<float>{0, 1, 9, 9, 9, 9}));
  EXPECT_EQ(flat.to_vector<float>()[2], 9.0f);
  EXPECT_TRUE(detached.same_storage(base));
  Tensor copy = base.clone();
  copy.fill_(0.0);
  EXPECT_EQ(base.to_vector<float>()[0], 0.0f);
  EXPECT_EQ(base.to_vector<float>()[5], 9.0f);
  EXPECT_FALSE(copy.same_storage(base));
}

TEST(Tensor, CastsAndDeviceNames) {
  const Tensor x = Tensor::from_vector<double>({1.5, -2.0, 3.25}, {3});
  EXPECT_EQ(x.to(DType::Float32).to_vector<float>(), (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(x.to(DType::Int64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(Device::parse("cuda:1").index, 1);
  EXPECT_TRUE(Device::parse("cpu").is_cpu());
  EXPECT_ERROR_CONTAINS(Device::parse("gpu0"), "gpu0", "cpu, cuda or cuda:N");
}

TEST(Tensor, RandomFillsAreSeededAndHaveTheRightMoments) {
  Tensor a = Tensor::empty({20000}, DType::Float64), b = Tensor::empty({20000}, DType::Float64);
  a.normal_(1.0, 2.0, 42);
  b.normal_(1.0, 2.0, 42);
  EXPECT_EQ(max_abs_diff(a, b), 0.0);
  const std::vector<double> v = a.to_vector<double>();
  double m = 0, s2 = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  for (double x : v) s2 += (x - m) * (x - m);
  const double sd = std::sqrt(s2 / double(v.size()));
  EXPECT_NEAR(m, 1.0, 0.05);  // 3 sigma of the mean: 3 * 2 / sqrt(20000) = 0.042
  EXPECT_NEAR(sd, 2.0, 0.05);
  Tensor u = Tensor::empty({20000}, DType::Float32);
  u.uniform_(-3.0, 5.0, 7);
  const std::vector<float> uv = u.to_vector<float>();
  double lo = 1e9, hi = -1e9, um = 0;
  for (float x : uv) lo = std::min(lo, double(x)), hi = std::max(hi, double(x)), um += x;
  EXPECT_GE(lo, -3.0);
  EXPECT_LT(hi, 5.0);
  EXPECT_NEAR(um / double(uv.size()), 1.0, 0.1);
  // A different offset continues the stream: element 10 of offset 0 == element 0 of offset 10.
  Tensor c = Tensor::empty({1}, DType::Float64);
  c.normal_(1.0, 2.0, 42, 10);
  EXPECT_EQ(c.to_vector<double>()[0], v[10]);
}

TEST(Autograd, AccumulatesIntoLeavesAcrossBackwardCalls) {
  Tensor x = leaf(Tensor::from_vector<double>({1.0, 2.0}, {2}));
  sum(mul(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 4.0}));
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5.0, 7.0}));  // += , not =
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = leaf(Tensor::from_vector<double>({3.0}, {1}));
  const Tensor y = mul(x, 2.0);
  sum(add(mul(y, y), y)).backward();  // d/dx (4x^2 + 2x) = 8x + 2 = 26
  EXPECT_DOUBLE_EQ(x.grad().item(), 26.0);
}

TEST(Autograd, NoGradGuardAndDetachStopRecording) {
  Tensor x = leaf(Tensor::from_vector<double>({1.0}, {1}));
  {
    autograd::NoGradGuard guard;
    EXPECT_FALSE(exp(x).requires_grad());
  }
  EXPECT_TRUE(exp(x).requires_grad());
  EXPECT_FALSE(exp(x.detach()).requires_grad());
  EXPECT_TRUE(autograd::grad_mode_enabled());
}

TEST(Autograd, FreesSavedTensorsUnlessRetained) {
  Tensor x = leaf(Tensor::from_vector<double>({2.0}, {1}));
  const Tensor y = sum(exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_NEAR(x.grad().item(), 2 * std::exp(2.0), 1e-12);
  EXPECT_ERROR_CONTAINS(y.backward(), "saved tensors were freed", "retain_graph");
}

TEST(Autograd, BranchWithoutGradientDoesNotStallTheWalk) {
  // z depends on x through two paths; one path's op returns no gradient for x.
  Tensor x = leaf(Tensor::from_vector<double>({1.0, 2.0}, {2}));
  const Tensor blocked = autograd::record("blocked", mul(x.detach(), 1.0), {x},
                                          [](const Tensor&) { return std::vector<Tensor>{Tensor()}; });
  sum(add(blocked, mul(x, 2.0))).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 2.0}));
}

TEST(Autograd, ErrorsNameTheProblem) {
  Tensor x = leaf(Tensor::from_vector<double>({1.0, 2.0}, {2}));
  EXPECT_ERROR_CONTAINS(exp(x).backward(), "not a scalar", "float64[2]");
  EXPECT_ERROR_CONTAINS(Tensor::ones({2}).backward(), "does not require grad");
  EXPECT_ERROR_CONTAINS(exp(x).backward(Tensor::ones({3}, DType::Float64)), "gradient", "float64[3]", "float64[2]");
  EXPECT_ERROR_CONTAINS(exp(x).set_requires_grad(false), "only leaf tensors", "exp");
  EXPECT_ERROR_CONTAINS(x.fill_(0.0), "fill_", "requires grad");
  EXPECT_ERROR_CONTAINS(Tensor::ones({2}, DType::Int64).set_requires_grad(true), "float32/float64", "int64");
}

TEST(Runtime, ThreadPolicyAndBuildInfo) {
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(0);
  EXPECT_GE(num_threads(), 1);
  const std::string info = build_info_string();
  EXPECT_NE(info.find("GEMM"), std::string::npos) << info;
  EXPECT_NE(info.find(build_info().cuda ? "CUDA on" : "CUDA off"), std::string::npos) << info;
}

TEST(Runtime, CudaRequestWithoutDeviceGivesAClearError) {
  if (cuda_runtime::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const std::string reason = cuda_runtime::unavailable_reason();
  EXPECT_FALSE(reason.empty());
  EXPECT_ERROR_CONTAINS(Tensor::zeros({2}, DType::Float32, Device::cuda(0)), "CUDA device 0", reason.c_str());
}

TEST(NpyTensor, RoundTripAndTypeMapping) {
  const std::string path = ::testing::TempDir() + "/spml_npy_tensor.npy";
  const Tensor t = Tensor::from_vector<float>({1.5f, -2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  io::write_npy_tensor(path, t);
  const Tensor back = io::read_npy_tensor(path);
  EXPECT_EQ(back.dtype(), DType::Float32);
  EXPECT_EQ(back.shape(), (Shape{2, 3}));
  EXPECT_EQ(back.to_vector<float>(), t.to_vector<float>());
  io::NpyArray labels;
  labels.type = io::NpyType::Int8;
  labels.shape = {3};
  labels.data = {1, 0, 0xFF};
  EXPECT_EQ(io::npy_to_tensor(labels, "labels").to_vector<int64_t>(), (std::vector<int64_t>{1, 0, -1}));
  EXPECT_ERROR_CONTAINS(io::npy_to_tensor(io::make_npy_strings({"a.jpg"}, {1}), "images.npy"), "images.npy", "strings");
}
}  // namespace
}  // namespace spml
