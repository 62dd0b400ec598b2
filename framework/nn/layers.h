// Basic layers: Linear (x W^T + b, PyTorch's default init), ReLU and Sequential.
#pragma once

#include <memory>
#include <vector>

#include "framework/nn/module.h"

namespace spml::nn {

// Anything with forward(x); models and layers derive from it.
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Linear : public Layer {
 public:
  // weight: [out_features, in_features], bias: [out_features]; initialised from `seed`.
  Linear(int64_t in_features, int64_t out_features, bool bias = true, uint64_t seed = 0, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;  // x: [N, in_features] -> [N, out_features]
  Tensor& weight() { return *weight_; }
  Tensor& bias() { return *bias_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  int64_t in_features_, out_features_;
  Tensor* weight_ = nullptr;
  Tensor* bias_ = nullptr;
  Tensor no_bias_;
};

class ReLU : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

// Runs its layers in order; they are named "0", "1", ... as in torch.nn.Sequential.
class Sequential : public Layer {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers);
  void push_back(std::shared_ptr<Layer> layer);
  Tensor forward(const Tensor& x) override;
  std::size_t size() const { return layers_.size(); }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace spml::nn
