// Conv2d and BatchNorm2d modules.
#include "framework/nn/cnn_layers.h"

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/nn/init.h"
#include "framework/ops/ops.h"

namespace spml::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
               uint64_t seed, DType dtype)
    : options_{stride, padding} {
  SPML_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0, "Conv2d: channels and kernel must be positive, got ",
             in_channels, ", ", out_channels, ", ", kernel);
  Tensor w = Tensor::empty({out_channels, in_channels, kernel, kernel}, dtype);
  Tensor b = bias ? Tensor::empty({out_channels}, dtype) : Tensor();
  init::linear_default_(w, b, seed);
  weight_ = &register_parameter("weight", w);
  bias_ = bias ? &register_parameter("bias", b) : &no_bias_;
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, *weight_, *bias_, options_);
}

BatchNorm2d::BatchNorm2d(int64_t channels, double momentum, double eps, DType dtype) : momentum_(momentum), eps_(eps) {
  SPML_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
  weight_ = &register_parameter("weight", Tensor::ones({channels}, dtype));
  bias_ = &register_parameter("bias", Tensor::zeros({channels}, dtype));
  running_mean_ = &register_buffer("running_mean", Tensor::zeros({channels}, dtype));
  running_var_ = &register_buffer("running_var", Tensor::ones({channels}, dtype));
  batches_tracked_ = &register_buffer("num_batches_tracked", Tensor::zeros(Shape{}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  return run(x, false);
}
Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  return run(x, true);
}
Tensor BatchNorm2d::run(const Tensor& x, bool relu) {
  if (is_training()) {
    autograd::NoGradGuard no_grad;
    // torchvision's counter, kept for state-dict compatibility: read once (a device sync on CUDA), then counted
    // on the host and written with an asynchronous fill.
    if (batches_seen_ < 0) batches_seen_ = int64_t(batches_tracked_->item());
    batches_tracked_->fill_(double(++batches_seen_));
  }
  return batch_norm2d(x, *weight_, *bias_, *running_mean_, *running_var_, is_training(), momentum_, eps_, relu);
}

}  // namespace spml::nn
