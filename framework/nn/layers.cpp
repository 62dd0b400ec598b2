// Linear, ReLU and Sequential.
#include "framework/nn/layers.h"

#include "framework/nn/init.h"
#include "framework/ops/ops.h"

namespace spml::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed, DType dtype)
    : in_features_(in_features), out_features_(out_features) {
  SPML_CHECK(in_features > 0 && out_features > 0, "Linear: features must be positive, got in=", in_features,
             " out=", out_features);
  Tensor w = Tensor::empty({out_features, in_features}, dtype);
  Tensor b = bias ? Tensor::empty({out_features}, dtype) : Tensor();
  init::linear_default_(w, b, seed);
  weight_ = &register_parameter("weight", w);
  bias_ = bias ? &register_parameter("bias", b) : &no_bias_;
}

Tensor Linear::forward(const Tensor& x) {
  return linear(x, *weight_, *bias_);
}

Tensor ReLU::forward(const Tensor& x) {
  return relu(x);
}

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
  for (auto& layer : layers) push_back(std::move(layer));
}

void Sequential::push_back(std::shared_ptr<Layer> layer) {
  SPML_CHECK(layer != nullptr, "Sequential: layer ", layers_.size(), " is null");
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& layer : layers_) h = layer->forward(h);
  return h;
}

}  // namespace spml::nn
