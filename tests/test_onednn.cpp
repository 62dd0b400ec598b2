// oneDNN CPU kernels against the reference kernels (the oracle), through the ops: convolution forward and both
// backward passes, batch norm (training, eval, with and without gamma/beta, fused ReLU, input gradient only) at
// real ResNet shapes, float32, with errors relative to the values' scale. Also the kernel switch itself.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "framework/autograd/autograd.h"
#include "framework/nn/cnn_layers.h"
#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/onednn_kernels.h"
#include "test_util.h"

namespace spml {
namespace {
using kernels::onednn::CpuKernels;

// Restores the kernel selection at the end of a test.
class KernelsGuard {
 public:
  KernelsGuard() : saved_(kernels::onednn::cpu_kernels()) {}
  ~KernelsGuard() { kernels::onednn::set_cpu_kernels(saved_); }

 private:
  CpuKernels saved_;
};

#define EXPECT_RELATIVE(got, want, tol, what)                                         \
  do {                                                                                \
    ASSERT_TRUE((got).defined()) << (what) << ": undefined";                          \
    ASSERT_EQ((got).shape(), (want).shape()) << (what);                               \
    EXPECT_LE(test::relative_error((got), (want)), (tol)) << (what) << " (relative)"; \
  } while (0)

class OneDnnParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels::onednn::built_with_onednn()) GTEST_SKIP() << "built without oneDNN (SPML_ONEDNN=OFF or not found)";
  }
  KernelsGuard guard_;
};

struct ConvResult {
  Tensor y, gx, gw;
};
ConvResult run_conv(CpuKernels which, const Tensor& x0, const Tensor& w0, const Tensor& r, Conv2dOptions o) {
  kernels::onednn::set_cpu_kernels(which);
  Tensor x = test::leaf(x0.clone()), w = test::leaf(w0.clone());
  const Tensor y = conv2d(x, w, Tensor(), o);
  y.backward(r);
  return {y.detach(), x.grad(), w.grad()};
}

// The shapes a ResNet step runs: the stem (7x7/2 on 224 px), 3x3 and 1x1 convolutions with stride 1 and 2,
// batch 1 and 32.
TEST_F(OneDnnParity, ConvolutionAtResNetShapes) {
  struct Case {
    Shape x, w;
    Conv2dOptions o;
  };
  const std::vector<Case> cases{
      {{1, 3, 224, 224}, {64, 3, 7, 7}, {2, 3}},    {{32, 64, 16, 16}, {128, 64, 3, 3}, {2, 1}},
      {{32, 64, 28, 28}, {128, 64, 1, 1}, {2, 0}},  {{32, 256, 14, 14}, {64, 256, 1, 1}, {1, 0}},
      {{1, 128, 28, 28}, {128, 128, 3, 3}, {1, 1}}, {{32, 3, 64, 64}, {16, 3, 7, 7}, {2, 3}},
      {{2, 5, 9, 7}, {6, 5, 3, 3}, {2, 1}},  // odd sizes: partial blocks everywhere
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    const Tensor x = test::random_tensor(c.x, seed++, DType::Float32);
    const Tensor w = test::random_tensor(c.w, seed++, DType::Float32, -0.1, 0.1);
    const int64_t ho = (c.x[2] + 2 * c.o.padding - c.w[2]) / c.o.stride + 1;
    const int64_t wo = (c.x[3] + 2 * c.o.padding - c.w[3]) / c.o.stride + 1;
    const Tensor r = test::random_tensor({c.x[0], c.w[0], ho, wo}, seed++, DType::Float32);
    const ConvResult ref = run_conv(CpuKernels::Reference, x, w, r, c.o);
    const ConvResult dnn = run_conv(CpuKernels::OneDnn, x, w, r, c.o);
    const std::string what =
        "conv x " + shape_str(c.x) + " w " + shape_str(c.w) + " stride " + std::to_string(c.o.stride);
    // Each output is a float32 sum of K products, summed in different orders (OpenBLAS vs oneDNN's blocking):
    // rounding errors random-walk to about sqrt(K) x 2^-24 of the values' scale; the bound allows twice that.
    const auto tol = [](int64_t k) { return 2.0 * std::sqrt(double(k)) * std::ldexp(1.0, -24); };
    EXPECT_RELATIVE(dnn.y, ref.y, tol(c.w[1] * c.w[2] * c.w[3]), what + " y");
    EXPECT_RELATIVE(dnn.gx, ref.gx, tol(c.w[0] * c.w[2] * c.w[3]), what + " dx");
    EXPECT_RELATIVE(dnn.gw, ref.gw, tol(c.x[0] * ho * wo), what + " dw");
  }
}

TEST_F(OneDnnParity, ConvolutionGradientOfOneInputOnly) {
  const Tensor x = test::random_tensor({4, 8, 10, 10}, 1, DType::Float32);
  const Tensor w = test::random_tensor({16, 8, 3, 3}, 2, DType::Float32);
  const Tensor r = test::random_tensor({4, 16, 10, 10}, 3, DType::Float32);
  for (bool weight_grad : {false, true}) {
    Tensor got[2];
    for (CpuKernels k : {CpuKernels::Reference, CpuKernels::OneDnn}) {
      kernels::onednn::set_cpu_kernels(k);
      Tensor xi = x.clone(), wi = w.clone();
      (weight_grad ? wi : xi).set_requires_grad(true);
      conv2d(xi, wi, Tensor(), {1, 1}).backward(r);
      got[k == CpuKernels::OneDnn] = weight_grad ? wi.grad() : xi.grad();
      EXPECT_FALSE((weight_grad ? xi : wi).grad().defined());
    }
    EXPECT_RELATIVE(got[1], got[0], 2e-6, weight_grad ? "dw only" : "dx only");
  }
}

struct BnResult {
  Tensor y, gx, gg, gb, running_mean, running_var;
};
struct BnCase {
  Shape x;
  bool affine, training, relu, affine_frozen;
};
BnResult run_bn(CpuKernels which, const BnCase& c, const Tensor& x0, const Tensor& g0, const Tensor& b0,
                const Tensor& r) {
  kernels::onednn::set_cpu_kernels(which);
  const int64_t ch = c.x[1];
  Tensor x = test::leaf(x0.clone());
  Tensor gamma = c.affine ? g0.clone() : Tensor(), beta = c.affine ? b0.clone() : Tensor();
  if (c.affine && !c.affine_frozen) {
    gamma.set_requires_grad(true);
    beta.set_requires_grad(true);
  }
  Tensor rm = test::random_tensor({ch}, 40, DType::Float32, -0.5, 0.5);
  Tensor rv = test::random_tensor({ch}, 41, DType::Float32, 0.5, 2);
  const Tensor y = batch_norm2d(x, gamma, beta, rm, rv, c.training, 0.1, 1e-5, c.relu);
  y.backward(r);
  BnResult out{y.detach(), x.grad(), Tensor(), Tensor(), rm, rv};
  if (c.affine && !c.affine_frozen) out.gg = gamma.grad(), out.gb = beta.grad();
  return out;
}

// Stem-sized planes (H*W = 12544 > 512), layer shapes at batch 32, no affine parameters, eval mode, fused ReLU
// and the input-gradient-only case of frozen affine parameters (linear-init epochs).
TEST_F(OneDnnParity, BatchNormAtResNetShapes) {
  const std::vector<BnCase> cases{
      {{1, 64, 112, 112}, true, true, true, false}, {{32, 64, 16, 16}, true, true, false, false},
      {{32, 128, 8, 8}, true, true, true, false},   {{32, 512, 2, 2}, true, true, false, false},
      {{8, 64, 28, 28}, false, true, false, false}, {{8, 64, 28, 28}, true, false, false, false},
      {{8, 64, 28, 28}, true, false, true, false},  {{8, 64, 28, 28}, true, true, true, true},
      {{3, 5, 7, 3}, true, true, true, false},
  };
  uint64_t seed = 100;
  for (const BnCase& c : cases) {
    const Tensor x = test::random_tensor(c.x, seed++, DType::Float32, -2, 3);
    const Tensor g = test::random_tensor({c.x[1]}, seed++, DType::Float32, 0.5, 1.5);
    const Tensor b = test::random_tensor({c.x[1]}, seed++, DType::Float32, -0.5, 0.5);
    const Tensor r = test::random_tensor(c.x, seed++, DType::Float32);
    const BnResult ref = run_bn(CpuKernels::Reference, c, x, g, b, r);
    const BnResult dnn = run_bn(CpuKernels::OneDnn, c, x, g, b, r);
    const std::string what = "batch norm " + shape_str(c.x) + (c.affine ? " affine" : " plain") +
                             (c.training ? " training" : " eval") + (c.relu ? " +relu" : "") +
                             (c.affine_frozen ? " frozen" : "");
    EXPECT_RELATIVE(dnn.y, ref.y, 2e-6, what + " y");
    EXPECT_RELATIVE(dnn.running_mean, ref.running_mean, 1e-6, what + " running_mean");
    EXPECT_RELATIVE(dnn.running_var, ref.running_var, 1e-6, what + " running_var");
    // dx = gamma invstd / m (m gy - sum gy - xhat sum gy xhat): a difference of sums over up to 32768 values.
    EXPECT_RELATIVE(dnn.gx, ref.gx, 2e-5, what + " dx");
    if (ref.gg.defined()) {
      EXPECT_RELATIVE(dnn.gg, ref.gg, 2e-5, what + " dgamma");
      EXPECT_RELATIVE(dnn.gb, ref.gb, 2e-5, what + " dbeta");
    }
  }
}

// The fused op equals batch norm followed by relu_, value and gradient, with the running statistics moving once.
TEST_F(OneDnnParity, FusedReluEqualsSeparateOps) {
  kernels::onednn::set_cpu_kernels(CpuKernels::OneDnn);
  nn::BatchNorm2d fused(16), separate(16);
  const Tensor x0 = test::random_tensor({4, 16, 9, 9}, 7, DType::Float32, -2, 2);
  const Tensor r = test::random_tensor({4, 16, 9, 9}, 8, DType::Float32);
  Tensor x1 = test::leaf(x0.clone()), x2 = test::leaf(x0.clone());
  const Tensor y1 = fused.forward_relu(x1), y2 = relu_(separate.forward(x2));
  y1.backward(r);
  y2.backward(r);
  EXPECT_RELATIVE(y1, y2, 1e-7, "y");
  EXPECT_RELATIVE(x1.grad(), x2.grad(), 1e-6, "dx");
  EXPECT_RELATIVE(fused.weight().grad(), separate.weight().grad(), 1e-6, "dgamma");
  EXPECT_RELATIVE(fused.running_var(), separate.running_var(), 1e-7, "running_var");
}

// Max pooling has exact semantics (ties keep the first position, NaN wins): the fast kernel must match the
// reference bit for bit, values and routed gradients, also on inputs full of ties (zeros after a ReLU) and NaN.
TEST_F(OneDnnParity, MaxPoolEqualsReferenceExactly) {
  struct Case {
    Shape x;
    int64_t k, stride, pad;
  };
  const std::vector<Case> cases{{{32, 64, 32, 32}, 3, 2, 1}, {{2, 3, 7, 8}, 3, 2, 1}, {{2, 3, 7, 8}, 2, 2, 0},
                                {{1, 2, 2, 3}, 3, 1, 1},     {{3, 4, 9, 9}, 3, 1, 1}, {{1, 1, 1, 5}, 3, 2, 1}};
  uint64_t seed = 300;
  for (const Case& c : cases) {
    for (int variant = 0; variant < 2; ++variant) {
      Tensor x0 = test::random_tensor(c.x, seed++, DType::Float32);
      if (variant == 1) {  // ReLU-like ties and a few NaN
        std::vector<float> v = x0.to_vector<float>();
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = i % 13 == 5 ? std::nanf("") : std::max(v[i], 0.f);
        x0 = Tensor::from_vector(v, c.x);
      }
      Tensor y[2], gx[2];
      for (CpuKernels k : {CpuKernels::Reference, CpuKernels::OneDnn}) {
        kernels::onednn::set_cpu_kernels(k);
        Tensor x = test::leaf(x0.clone());
        const Tensor out = max_pool2d(x, c.k, c.stride, c.pad);
        out.backward(test::random_tensor(out.shape(), 9, DType::Float32));
        y[k == CpuKernels::OneDnn] = out.detach();
        gx[k == CpuKernels::OneDnn] = x.grad();
      }
      const std::string what = "max_pool " + shape_str(c.x) + " k" + std::to_string(c.k) + " s" +
                               std::to_string(c.stride) + " p" + std::to_string(c.pad) + (variant ? " ties+NaN" : "");
      const auto yr = y[0].to_vector<float>(), yd = y[1].to_vector<float>();
      ASSERT_EQ(yr.size(), yd.size()) << what;
      for (std::size_t i = 0; i < yr.size(); ++i)
        ASSERT_TRUE(yr[i] == yd[i] || (std::isnan(yr[i]) && std::isnan(yd[i]))) << what << " y[" << i << "]";
      EXPECT_EQ(gx[0].to_vector<float>(), gx[1].to_vector<float>()) << what << " dx";
    }
  }
}

TEST(CpuKernelsSwitch, NamesAndErrors) {
  EXPECT_EQ(kernels::onednn::parse_cpu_kernels("onednn", "--cpu-kernels"), CpuKernels::OneDnn);
  EXPECT_EQ(kernels::onednn::parse_cpu_kernels("reference", "--cpu-kernels"), CpuKernels::Reference);
  const std::string message =
      test::error_message([] { kernels::onednn::parse_cpu_kernels("mkl", "SPML_CPU_KERNELS"); });
  EXPECT_NE(message.find("SPML_CPU_KERNELS: unknown CPU kernels 'mkl' (expected onednn or reference)"),
            std::string::npos)
      << message;
  KernelsGuard guard;
  if (kernels::onednn::built_with_onednn()) {
    kernels::onednn::set_cpu_kernels(CpuKernels::OneDnn);
    EXPECT_TRUE(kernels::onednn::active());
    EXPECT_NE(kernels::onednn::version_string().find("oneDNN"), std::string::npos);
  } else {
    EXPECT_NE(test::error_message([] { kernels::onednn::set_cpu_kernels(CpuKernels::OneDnn); }).find("no oneDNN"),
              std::string::npos);
  }
  kernels::onednn::set_cpu_kernels(CpuKernels::Reference);
  EXPECT_FALSE(kernels::onednn::active());
}

}  // namespace
}  // namespace spml
