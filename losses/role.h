// ROLE's per-image label estimates (docs/method.md section 6): a trainable logit matrix G [N_train, C], one row per
// training image (picked by the samples' dataset indices), Yhat = sigmoid(G). The trainer's one Adam trains it as
// the group "label_estimates" at kLrMultiplier x the backbone's learning rate, densely (every row's Adam state
// moves every step, as with any dense parameter).
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace spml::losses {

class RoleLabelEstimates {
 public:
  static constexpr double kLrMultiplier = 10.0;

  // observed_labels: [N_train, C] in {0, 1}. Init: observed positive -> logit(0.995); unobserved ->
  // uniform in (-ln 1.5, ln 1.5) from `seed`.
  RoleLabelEstimates(const Tensor& observed_labels, uint64_t seed, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  // G [N_train, C], a leaf that requires grad.
  Tensor& logits() { return logits_; }
  // The batch's rows of G: indices int64 [B] (dataset indices) -> [B, C]; gradients flow back into G.
  Tensor rows(const Tensor& indices) const;

 private:
  Tensor logits_;
};

}  // namespace spml::losses
