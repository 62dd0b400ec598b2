// Batch-norm math shared by the CPU kernels (reference and fast) and the CUDA kernel: the per-channel formulas.
// The loops, reductions and threading stay with each backend; these functions only turn a channel's statistics
// and sums into the scalars those loops apply, so every backend rounds them the same way.
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"

namespace spml::kernels {

// PyTorch's running statistics after one training batch of `count` values per channel: momentum-weighted, the
// variance UNBIASED (biased_var * count / (count - 1)). Either pointer may be null.
template <class T>
SPML_HD void batchnorm_update_running(T* running_mean, T* running_var, int64_t ch, double mean, double biased_var,
                                      double count, double momentum) {
  if (running_mean) running_mean[ch] = T((1 - momentum) * double(running_mean[ch]) + momentum * mean);
  if (running_var) {
    const double denominator = count - 1 > 1 ? count - 1 : 1.0;
    running_var[ch] = T((1 - momentum) * double(running_var[ch]) + momentum * biased_var * count / denominator);
  }
}

// 1 / sqrt(var + eps) in double, whatever T: from the batch's biased variance (training) or the running one (eval).
SPML_HD double batchnorm_invstd(double var, double eps) {
  return 1.0 / sqrt_(var + eps);
}

// The forward as one multiply-add per element, y = x * scale + shift, both rounded to T once per channel (gamma /
// beta nullable: 1 / 0). The shift uses the rounded scale, so x = mean maps to beta as closely as T allows.
template <class T>
struct BatchnormAffine {
  T scale, shift;
};
template <class T>
SPML_HD BatchnormAffine<T> batchnorm_affine(const T* gamma, const T* beta, int64_t ch, double mean, double invstd) {
  const T scale = T(double(gamma ? gamma[ch] : T(1)) * invstd);
  const T shift = T(double(beta ? beta[ch] : T(0)) - mean * double(scale));
  return {scale, shift};
}

SPML_HD double batchnorm_xhat(double x, double mean, double invstd) {
  return (x - mean) * invstd;
}

// The backward from a channel's sums over its `count` values, in double (the reference kernels): dL/dbeta = sum_gy,
// dL/dgamma = sum_gy_xhat, and dL/dx per element (batchnorm_grad_x_*). gamma nullable: 1.
struct BatchnormGradTerms {
  double gamma, invstd, count, sum_gy, sum_gy_xhat;
  double k;  // gamma invstd / count, the training formula's factor
};
template <class T>
SPML_HD BatchnormGradTerms batchnorm_grad_terms(const T* gamma, int64_t ch, double invstd, double count, double sum_gy,
                                                double sum_gy_xhat) {
  const double g = gamma ? double(gamma[ch]) : 1.0;
  return {g, invstd, count, sum_gy, sum_gy_xhat, g * invstd / count};
}
// training: the batch statistics depend on x, gx = gamma invstd / m (m gy - sum_gy - xhat sum_gy_xhat).
SPML_HD double batchnorm_grad_x_training(const BatchnormGradTerms& t, double gy, double xhat) {
  return t.k * (t.count * gy - t.sum_gy - xhat * t.sum_gy_xhat);
}
// eval: the statistics are constants, gx = gy gamma invstd.
SPML_HD double batchnorm_grad_x_eval(const BatchnormGradTerms& t, double gy) {
  return gy * t.gamma * t.invstd;
}

// The same backward in the form of the fast float32 kernel, whose second sum is sum_gy_dx = sum gy (x - mean)
// (xhat is never formed): gx = k (gy - c0 - (x - mean) c1), every coefficient rounded to T once per channel so the
// element loop stays in T lanes; dL/dgamma = sum_gy_dx invstd, dL/dbeta = sum_gy.
template <class T>
struct BatchnormCenteredGrad {
  T k, c0, c1;
  double ggamma, gbeta;
};
template <class T>
SPML_HD BatchnormCenteredGrad<T> batchnorm_centered_grad(const T* gamma, int64_t ch, double invstd, double count,
                                                         double sum_gy, double sum_gy_dx, bool training) {
  const double g = gamma ? double(gamma[ch]) : 1.0;
  return {T(g * invstd), training ? T(sum_gy / count) : T(0), training ? T(sum_gy_dx / count * invstd * invstd) : T(0),
          sum_gy_dx * invstd, sum_gy};
}

}  // namespace spml::kernels
