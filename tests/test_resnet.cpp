// ResNet family: torchvision's parameter names and counts, initialisation statistics, shapes of logits and
// features, and a short training run of a small ResNet that must beat chance.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "models/resnet.h"
#include "test_util.h"

namespace spml {
namespace {

int64_t count(const std::vector<Tensor>& ps) {
  int64_t n = 0;
  for (const Tensor& p : ps) n += p.numel();
  return n;
}

TEST(ResNet, TorchvisionParameterCountsAndNames) {
  // torchvision: sum(p.numel() for p in resnetXX().parameters()) with 1000 classes.
  const std::pair<const char*, int64_t> expected[] = {
      {"resnet18", 11689512}, {"resnet34", 21797672}, {"resnet50", 25557032}, {"resnet101", 44549160}};
  for (const auto& [arch, n] : expected) {
    models::ResNet net({arch, 1000, 64, 0});
    EXPECT_EQ(count(net.parameters()), n) << arch;
  }
  models::ResNet r50({"resnet50", 20, 64, 0});
  const auto state = r50.state_dict();
  for (const char* key : {"conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.conv3.weight",
                          "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var", "layer4.2.bn3.bias",
                          "fc.weight", "fc.bias"})
    EXPECT_TRUE(state.count(key)) << key;
  EXPECT_EQ(state.at("layer2.0.conv2.weight").shape(), (Shape{128, 128, 3, 3}));  // v1.5: stride on the 3x3
  EXPECT_EQ(state.at("fc.weight").shape(), (Shape{20, 2048}));
  EXPECT_EQ(state.size(), 320u);  // len(torchvision.models.resnet50().state_dict())
  EXPECT_EQ(count(r50.head_parameters()), 20 * 2048 + 20);
  EXPECT_ERROR_CONTAINS(models::ResNet({"resnet51"}), "resnet51", "resnet18");
}

TEST(ResNet, InitAndOutputShapes) {
  models::ResNet net({"resnet18", 7, 16, 3});
  const Tensor conv = net.state_dict().at("layer3.1.conv2.weight");  // [64, 64, 3, 3], fan_out = 576
  double s2 = 0;
  for (float v : conv.to_vector<float>()) s2 += double(v) * v;
  EXPECT_NEAR(std::sqrt(s2 / double(conv.numel())), std::sqrt(2.0 / 576), 0.003);
  autograd::NoGradGuard no_grad;
  const Tensor x = test::random_tensor({2, 3, 40, 36}, 5, DType::Float32);
  EXPECT_EQ(net.forward(x).shape(), (Shape{2, 7}));
  EXPECT_EQ(net.features(x).shape(), (Shape{2, 128}));
  models::ResNet features_only({"resnet50", 0, 8, 1});
  features_only.eval();  // one 32x32 image leaves a 1x1 map: batch statistics need more values
  EXPECT_EQ(features_only.forward(test::random_tensor({1, 3, 32, 32}, 6, DType::Float32)).shape(), (Shape{1, 256}));
}

TEST(ResNet, SmallResNetLearnsASyntheticTask) {
  // Class = which half of the image (left or right) holds a bright square; chance is 50%.
  const int64_t n = 32, size = 24;
  std::vector<float> pixels(std::size_t(n * 3 * size * size), 0.f), labels(std::size_t(n), 0.f);
  for (int64_t i = 0; i < n; ++i) {
    const bool right = i % 2 == 1;
    labels[std::size_t(i)] = right ? 1.f : 0.f;
    const int64_t x0 = (right ? size / 2 : 0) + (i * 3) % 6, y0 = (i * 5) % (size - 8);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = y0; y < y0 + 6; ++y)
        for (int64_t x = x0; x < x0 + 6; ++x) pixels[std::size_t(((i * 3 + c) * size + y) * size + x)] = 1.f;
  }
  const Tensor images = Tensor::from_vector(pixels, {n, 3, size, size});
  const Tensor targets = Tensor::from_vector(labels, {n, 1});
  models::ResNet net({"resnet18", 1, 8, 7});
  optim::Adam adam({{net.parameters(), 3e-3, "all"}});
  for (int step = 0; step < 25; ++step) {
    adam.zero_grad();
    const Tensor p = sigmoid(net.forward(images));
    const Tensor loss =
        neg(mean(add(mul(targets, log(add(p, 1e-7))), mul(add(neg(targets), 1.0), log(add(neg(p), 1.0 + 1e-7))))));
    loss.backward();
    adam.step();
  }
  net.eval();
  autograd::NoGradGuard no_grad;
  const std::vector<float> p = sigmoid(net.forward(images)).to_vector<float>();
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += (p[std::size_t(i)] > 0.5f) == (labels[std::size_t(i)] > 0.5f);
  EXPECT_GE(correct, 28) << "accuracy " << correct << "/" << n << " (chance 16/32)";
}

}  // namespace
}  // namespace spml
