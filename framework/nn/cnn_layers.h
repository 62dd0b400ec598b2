// CNN layers on the nn::Module base, with torchvision's parameter and buffer names: Conv2d ("weight",
// "bias"), BatchNorm2d ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"). Pooling has no
// parameters, so models call the ops (max_pool2d, global_avg_pool2d) directly.
#pragma once

#include "framework/nn/layers.h"
#include "framework/ops/cnn.h"

namespace spml::nn {

class Conv2d : public Layer {
 public:
  // weight: [out, in, k, k]; PyTorch's default init (uniform +-1/sqrt(fan_in)) from `seed`.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = false, uint64_t seed = 0, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;  // x: [N, in, H, W] -> [N, out, H_out, W_out]
  Tensor& weight() { return *weight_; }
  Tensor& bias() { return *bias_; }

 private:
  Conv2dOptions options_;
  Tensor* weight_ = nullptr;
  Tensor* bias_ = nullptr;
  Tensor no_bias_;
};

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5, DType dtype = DType::Float32);
  // Training mode: batch statistics, running statistics updated (also when weight and bias are frozen);
  // eval mode: running statistics.
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as one fused op (where the backend fuses it).
  Tensor forward_relu(const Tensor& x);
  Tensor& weight() { return *weight_; }
  Tensor& bias() { return *bias_; }
  Tensor& running_mean() { return *running_mean_; }
  Tensor& running_var() { return *running_var_; }

 private:
  Tensor run(const Tensor& x, bool relu);
  double momentum_, eps_;
  int64_t batches_seen_ = -1;  // host copy of num_batches_tracked (-1: not read yet)
  Tensor *weight_ = nullptr, *bias_ = nullptr, *running_mean_ = nullptr, *running_var_ = nullptr,
         *batches_tracked_ = nullptr;
};

}  // namespace spml::nn
