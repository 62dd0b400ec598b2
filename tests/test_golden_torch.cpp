// Golden files from PyTorch/torchvision (scripts/make_golden.py, float64): the CNN ops' forward and backward on
// odd shapes and two reduced ResNets (torchvision's own blocks, stem width 2): logits, every parameter gradient
// and the BatchNorm running statistics after one training-mode forward. Tolerances are stated per comparison.
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/io/safetensors.h"
#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "models/resnet.h"
#include "test_util.h"

namespace spml {
namespace {
std::map<std::string, Tensor> golden(const std::string& name) {
  return io::read_safetensors(std::string(SPML_TEST_DATA_DIR) + "/golden/" + name).tensors;
}

void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": no value";
  ASSERT_EQ(got.shape(), want.shape()) << what;
  EXPECT_LE(max_abs_diff(got, want), tol) << what;
}

TEST(GoldenTorch, CnnOpsForwardAndBackward) {
  auto g = golden("cnn_ops.safetensors");
  constexpr double kTol = 1e-12;  // float64 on both sides; only summation order differs
  {
    Tensor x = test::leaf(g.at("conv.x").clone()), w = test::leaf(g.at("conv.w").clone()),
           b = test::leaf(g.at("conv.b").clone());
    const Tensor y = conv2d(x, w, b, {2, 1});
    expect_close(y, g.at("conv.y"), kTol, "conv2d y");
    y.backward(g.at("conv.r"));
    expect_close(x.grad(), g.at("conv.gx"), kTol, "conv2d dx");
    expect_close(w.grad(), g.at("conv.gw"), kTol, "conv2d dw");
    expect_close(b.grad(), g.at("conv.gb"), kTol, "conv2d db");
  }
  {
    Tensor x = test::leaf(g.at("bn.x").clone()), gamma = test::leaf(g.at("bn.gamma").clone()),
           beta = test::leaf(g.at("bn.beta").clone());
    Tensor rm = g.at("bn.running_mean").clone(), rv = g.at("bn.running_var").clone();
    const Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true);
    expect_close(y, g.at("bn.y"), kTol, "batch_norm y");
    expect_close(rm, g.at("bn.running_mean_after"), kTol, "running_mean");
    expect_close(rv, g.at("bn.running_var_after"), kTol, "running_var (unbiased)");
    y.backward(g.at("bn.r"));
    expect_close(x.grad(), g.at("bn.gx"), 1e-11, "batch_norm dx");
    expect_close(gamma.grad(), g.at("bn.ggamma"), kTol, "batch_norm dgamma");
    expect_close(beta.grad(), g.at("bn.gbeta"), kTol, "batch_norm dbeta");
    x.set_grad(Tensor());
    const Tensor ye = batch_norm2d(x, gamma, beta, rm, rv, false);
    expect_close(ye, g.at("bn_eval.y"), kTol, "batch_norm eval y");
    ye.backward(g.at("bn.r"));
    expect_close(x.grad(), g.at("bn_eval.gx"), kTol, "batch_norm eval dx");
  }
  for (const char* op : {"maxpool", "avgpool"}) {
    const std::string k(op);
    Tensor x = test::leaf(g.at(k + ".x").clone());
    const Tensor y = k == "maxpool" ? max_pool2d(x, 3, 2, 1) : adaptive_avg_pool2d(x, 3, 2);
    expect_close(y, g.at(k + ".y"), kTol, k + " y");
    y.backward(g.at(k + ".r"));
    expect_close(x.grad(), g.at(k + ".gx"), kTol, k + " dx");
  }
}

void check_resnet(const std::string& file, const std::string& arch) {
  auto g = golden(file);
  models::ResNet net({arch, 5, 2, 0, DType::Float64});
  std::map<std::string, Tensor> params;
  for (const auto& [key, t] : g)
    if (key.rfind("param.", 0) == 0) params[key.substr(6)] = t;
  net.load_state_dict(params);  // strict: the names must match torchvision's one to one
  net.train();
  const Tensor logits = net.forward(g.at("input"));
  expect_close(logits, g.at("logits"), 1e-11, arch + " logits");
  sum(mul(logits, g.at("r"))).backward();
  int checked = 0;
  for (const auto& [name, p] : net.named_parameters()) {
    expect_close(p.grad(), g.at("grad." + name), 1e-10, arch + " gradient of " + name);
    ++checked;
  }
  EXPECT_EQ(checked, arch == "resnet18" ? 62 : 161);
  for (const auto& [name, t] : net.named_buffers())
    if (name.find("running") != std::string::npos) expect_close(t, g.at("after." + name), 1e-12, arch + " " + name);
}

TEST(GoldenTorch, ReducedResNet18MatchesTorchvision) {
  check_resnet("resnet18_w2.safetensors", "resnet18");
}
TEST(GoldenTorch, ReducedResNet50MatchesTorchvision) {
  check_resnet("resnet50_w2.safetensors", "resnet50");
}

}  // namespace
}  // namespace spml
