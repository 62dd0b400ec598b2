// Per-element optimizer updates with PyTorch's exact semantics, shared by the CPU loop and the CUDA kernel.
#pragma once

#include "kernels/common/hd.h"

namespace spml::kernels {

// torch.optim.Adam / AdamW for one parameter tensor at step t (1-based, per parameter).
struct AdamParams {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;       // AdamW: p *= 1 - lr * wd before the update
  double bias_correction1 = 1;  // 1 - beta1^t
  double bias_correction2 = 1;  // 1 - beta2^t
};

template <class T>
SPML_HD void adam_update(T& p, T g, T& m, T& v, const AdamParams& a) {
  if (a.decoupled) {
    p = p * T(1.0 - a.lr * a.weight_decay);
  } else if (a.weight_decay != 0.0) {
    g = g + T(a.weight_decay) * p;
  }
  m = m + T(1.0 - a.beta1) * (g - m);             // exp_avg.lerp_(grad, 1 - beta1), PyTorch's rounding
  v = T(a.beta2) * v + T(1.0 - a.beta2) * g * g;  // exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
  const T step_size = T(a.lr / a.bias_correction1);
  const T denom = sqrt_(v) / T(::sqrt(a.bias_correction2)) + T(a.eps);  // eps after the square root
  p = p - step_size * (m / denom);
}

// torch.optim.SGD for one element; `first_step` initialises the momentum buffer to the gradient.
struct SgdParams {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = true;
};

template <class T>
SPML_HD void sgd_update(T& p, T g, T& buf, const SgdParams& s) {
  if (s.weight_decay != 0.0) g = g + T(s.weight_decay) * p;
  if (s.momentum != 0.0) {
    buf = s.first_step ? g : T(s.momentum) * buf + T(1.0 - s.dampening) * g;
    g = s.nesterov ? g + T(s.momentum) * buf : buf;
  }
  p = p - T(s.lr) * g;
}

}  // namespace spml::kernels
