// Vectorised float32 batch norm over NCHW for the fast CPU kernel set (onednn_kernels.h). oneDNN normalises a
// plain NCHW tensor with its generic "ncsp" implementation, which measured 4-5x slower than these loops in a
// ResNet-18 step; its jit kernels want blocked layouts. Each channel is one task: its n planes of hw contiguous
// floats are summed plane by plane (vector-lane float partial sums, added into double per plane), so a channel's
// result does not depend on the thread count (it does on the vector width the CPU picks: AVX-512 and AVX2 sum in
// different orders). A channel's planes (n * hw floats) usually fit in L2, so the later passes over them hit
// cache. The per-channel work is compiled for AVX-512, AVX2 and baseline x86-64 (SPML_CPU_SIMD_CLONES), since the
// project itself is built for baseline x86-64.
#include <omp.h>

#include "kernels/common/batchnorm_math.h"
#include "kernels/common/vector_math.h"  // SPML_CPU_SIMD_CLONES
#include "kernels/cpu/onednn_kernels.h"

namespace spml::kernels::onednn {
namespace {
// sum of p[0..len) in float lanes, returned in double.
inline double plane_sum(const float* __restrict p, int64_t len) {
  float acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < len; ++i) acc += p[i];
  return double(acc);
}
inline double plane_sq_dev(const float* __restrict p, int64_t len, float mean) {
  float acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < len; ++i) {
    const float d = p[i] - mean;
    acc += d * d;
  }
  return double(acc);
}
// Small tensors stay on the calling thread (a parallel region costs more than their work).
bool parallel_worth_it(int64_t n, int64_t c, int64_t hw) {
  return n * c * hw > (1 << 15) && omp_get_max_threads() > 1 && !omp_in_parallel();
}

// One channel of the forward: statistics (training) and the normalised output.
SPML_CPU_SIMD_CLONES void forward_channel(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                          float* var, float* running_mean, float* running_var, int64_t n, int64_t c,
                                          int64_t hw, int64_t ch, bool training, double momentum, double eps,
                                          bool relu) {
  const double m = double(n) * double(hw);
  if (training) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += plane_sum(x + (i * c + ch) * hw, hw);
    const float mu = float(sum / m);
    double sq = 0;  // two passes: the variance of values far from zero stays accurate
    for (int64_t i = 0; i < n; ++i) sq += plane_sq_dev(x + (i * c + ch) * hw, hw, mu);
    mean[ch] = mu;
    var[ch] = float(sq / m);
    batchnorm_update_running(running_mean, running_var, ch, double(mu), sq / m, m, momentum);
  }
  const BatchnormAffine<float> affine =
      batchnorm_affine(gamma, beta, ch, double(mean[ch]), batchnorm_invstd(double(var[ch]), eps));
  const float scale = affine.scale, shift = affine.shift;
  for (int64_t i = 0; i < n; ++i) {
    const float* __restrict src = x + (i * c + ch) * hw;
    float* __restrict dst = y + (i * c + ch) * hw;
    if (relu) {
#pragma omp simd
      for (int64_t j = 0; j < hw; ++j) {
        const float v = src[j] * scale + shift;
        dst[j] = v > 0.f || v != v ? v : 0.f;  // NaN passes, as in the ReLU op
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < hw; ++j) dst[j] = src[j] * scale + shift;
    }
  }
}

// One channel of the backward. The ReLU's gate is a select of loaded values (not a conditional load), so it
// vectorises.
SPML_CPU_SIMD_CLONES void backward_channel(const float* x, const float* y, const float* gy, const float* gamma,
                                           const float* mean, const float* var, float* gx, float* ggamma, float* gbeta,
                                           int64_t n, int64_t c, int64_t hw, int64_t ch, bool training, double eps,
                                           bool relu) {
  const double m = double(n) * double(hw);
  const float mu = mean[ch];
  const double invstd = batchnorm_invstd(double(var[ch]), eps);
  // sum gy and sum gy * (x - mean), gy gated by the ReLU (y > 0) when it was fused.
  double sum_gy = 0, sum_gy_dx = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t at = (i * c + ch) * hw;
    const float* __restrict g = gy + at;
    const float* __restrict xp = x + at;
    float a = 0, b = 0;
    if (relu) {
      const float* __restrict yp = y + at;
#pragma omp simd reduction(+ : a, b)
      for (int64_t j = 0; j < hw; ++j) {
        const float gv = g[j], yv = yp[j];
        const float gj = yv > 0.f ? gv : 0.f;
        a += gj;
        b += gj * (xp[j] - mu);
      }
    } else {
#pragma omp simd reduction(+ : a, b)
      for (int64_t j = 0; j < hw; ++j) {
        a += g[j];
        b += g[j] * (xp[j] - mu);
      }
    }
    sum_gy += double(a);
    sum_gy_dx += double(b);
  }
  const BatchnormCenteredGrad<float> terms = batchnorm_centered_grad(gamma, ch, invstd, m, sum_gy, sum_gy_dx, training);
  if (gbeta) gbeta[ch] = float(terms.gbeta);
  if (ggamma) ggamma[ch] = float(terms.ggamma);
  if (!gx) return;
  const float k = terms.k, c0 = terms.c0, c1 = terms.c1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t at = (i * c + ch) * hw;
    const float* __restrict g = gy + at;
    const float* __restrict xp = x + at;
    float* __restrict out = gx + at;
    if (relu) {
      const float* __restrict yp = y + at;
#pragma omp simd
      for (int64_t j = 0; j < hw; ++j) {
        const float gv = g[j], yv = yp[j];
        const float gj = yv > 0.f ? gv : 0.f;
        out[j] = k * (gj - c0 - (xp[j] - mu) * c1);
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < hw; ++j) out[j] = k * (g[j] - c0 - (xp[j] - mu) * c1);
    }
  }
}
}  // namespace

void batchnorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var,
                       float* running_mean, float* running_var, int64_t n, int64_t c, int64_t hw, bool training,
                       double momentum, double eps, bool relu) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(n, c, hw))
  for (int64_t ch = 0; ch < c; ++ch)
    forward_channel(x, gamma, beta, y, mean, var, running_mean, running_var, n, c, hw, ch, training, momentum, eps,
                    relu);
}

void batchnorm_backward(const float* x, const float* y, const float* gy, const float* gamma, const float* mean,
                        const float* var, float* gx, float* ggamma, float* gbeta, int64_t n, int64_t c, int64_t hw,
                        bool training, double eps, bool relu) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(n, c, hw))
  for (int64_t ch = 0; ch < c; ++ch)
    backward_channel(x, y, gy, gamma, mean, var, gx, ggamma, gbeta, n, c, hw, ch, training, eps, relu);
}

}  // namespace spml::kernels::onednn
