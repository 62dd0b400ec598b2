// The ResNet family (18/34/50/101) in torchvision's layout (v1.5: the bottleneck's stride sits on its 3x3
// conv), with torchvision's state-dict keys ("conv1.weight", "layer1.0.downsample.0.weight", "fc.bias", ...)
// so ImageNet weights map one to one, torchvision's initialisation (seeded), and a features-only mode.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/nn/cnn_layers.h"

namespace spml::models {

struct ResNetConfig {
  std::string arch = "resnet50";  // resnet18, resnet34, resnet50, resnet101
  int64_t num_classes = 1000;     // 0: features only (no fc)
  int64_t width = 64;             // channels of the stem; 64 as in torchvision (smaller for tests)
  uint64_t seed = 0;
  DType dtype = DType::Float32;
};

class ResNet : public nn::Layer {
 public:
  explicit ResNet(const ResNetConfig& config);
  // x: [N, 3, H, W] -> logits [N, num_classes] (features [N, feature_dim] when num_classes == 0).
  Tensor forward(const Tensor& x) override;
  // x: [N, 3, H, W] -> globally pooled features [N, feature_dim] (2048 for ResNet-50/101 at width 64).
  Tensor features(const Tensor& x);
  // features: [N, feature_dim] -> logits [N, num_classes]: the head alone (training on cached features).
  Tensor classify(const Tensor& features);
  int64_t feature_dim() const { return feature_dim_; }
  const ResNetConfig& config() const { return config_; }
  // Every parameter except the head "fc.*" (the backbone group of SPML training).
  std::vector<Tensor> backbone_parameters() const { return parameters_with_prefix("fc.", /*exclude=*/true); }
  std::vector<Tensor> head_parameters() const { return parameters_with_prefix("fc."); }

 private:
  ResNetConfig config_;
  int64_t feature_dim_ = 0;
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::vector<std::shared_ptr<nn::Sequential>> layers_;
  std::shared_ptr<nn::Linear> fc_;
};

// Architectures known to ResNet ("resnet18", ...); an unknown name is an error listing them.
std::vector<std::string> resnet_architectures();

}  // namespace spml::models
