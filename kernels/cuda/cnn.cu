// CUDA batch normalisation, max pooling and adaptive average pooling (contracts of kernels/cpu/cpu_kernels.h,
// mirrored from kernels/cpu/cnn.cpp). Deterministic: per-channel sums use one block and a fixed shared-memory tree
// (no atomics); pooling backward is a gather in which every input sums its outputs in the CPU's order.
#include <algorithm>
#include <cstdint>

#include "kernels/common/accumulate.h"
#include "kernels/common/batchnorm_math.h"
#include "kernels/common/pool_math.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {

// Block size of the block-per-channel kernels, kept apart from launch.cuh's kThreads: it fixes their reduction
// tree, so changing it changes the statistics' bits. One block walks a whole channel (n * hw values), hence the
// larger block.
constexpr int kBnThreads = 512;

// Sum of one value per thread over the block, returned to every thread. The order depends only on kBnThreads:
// a shared-memory tree down to one warp, then a warp-shuffle tree. buf holds kBnThreads + 1 entries.
template <class Acc>
__device__ Acc block_sum(Acc v, Acc* buf) {
  const int t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (int s = kBnThreads / 2; s >= 32; s >>= 1) {
    if (t < s) buf[t] += buf[t + s];
    __syncthreads();
  }
  if (t < 32) {
    v = buf[t];
    for (int s = 16; s > 0; s >>= 1) v += __shfl_down_sync(0xffffffffu, v, s);
    if (t == 0) buf[kBnThreads] = v;
  }
  __syncthreads();
  v = buf[kBnThreads];
  __syncthreads();  // buf is rewritten by the next call
  return v;
}

// Calls f(offset) for this thread's share of channel ch of x [n, c, hw]: flat positions k = t, t + B, ... of the
// channel's n * hw values, walked without a division per element.
template <class F>
__device__ __forceinline__ void for_each_in_channel(int64_t ch, int64_t n, int64_t c, int64_t hw, F&& f) {
  if (hw <= 0) return;
  const int64_t step_i = kBnThreads / hw, step_j = kBnThreads % hw;
  int64_t i = threadIdx.x / hw, j = threadIdx.x % hw;
  while (i < n) {
    f((i * c + ch) * hw + j);
    i += step_i;
    j += step_j;
    if (j >= hw) {
      j -= hw;
      ++i;
    }
  }
}

// Training statistics, one block per channel: mean, then the biased variance around it (two passes, like the CPU),
// save_mean / save_invstd, and the momentum update of the running statistics with the unbiased variance.
template <class T>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_stats_kernel(const T* __restrict__ x, T* __restrict__ save_mean, T* __restrict__ save_invstd,
                           T* __restrict__ running_mean, T* __restrict__ running_var, int64_t n, int64_t c, int64_t hw,
                           double momentum, double eps) {
  using Acc = acc_t<T>;
  __shared__ Acc buf[kBnThreads + 1];
  const double m = double(n) * double(hw);
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    Acc sum = 0;
    for_each_in_channel(ch, n, c, hw, [&](int64_t at) { sum += x[at]; });
    sum = block_sum(sum, buf);
    const double mean = double(sum) / m;
    Acc sq = 0;
    for_each_in_channel(ch, n, c, hw, [&](int64_t at) {
      const Acc d = Acc(x[at]) - Acc(mean);
      sq += d * d;
    });
    sq = block_sum(sq, buf);
    if (threadIdx.x == 0) {
      const double var = double(sq) / m;
      const double invstd = batchnorm_invstd(var, eps);
      save_mean[ch] = T(mean);
      save_invstd[ch] = T(invstd);
      batchnorm_update_running(running_mean, running_var, ch, mean, var, m, momentum);
    }
  }
}

// Eval statistics: the running statistics, as save_mean / save_invstd.
template <class T>
__global__ void batchnorm_eval_stats_kernel(const T* __restrict__ running_mean, const T* __restrict__ running_var,
                                            T* __restrict__ save_mean, T* __restrict__ save_invstd, int64_t c,
                                            double eps) {
  for (int64_t ch = global_thread(); ch < c; ch += grid_threads()) {
    save_mean[ch] = running_mean[ch];
    save_invstd[ch] = T(batchnorm_invstd(double(running_var[ch]), eps));
  }
}

// y = x * scale + shift per channel, with the CPU's scale and shift (gamma / beta nullable: 1 / 0).
template <class T>
__global__ void batchnorm_apply_kernel(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                       const T* __restrict__ mean, const T* __restrict__ invstd, T* __restrict__ y,
                                       int64_t total, int64_t c, int64_t hw) {
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t ch = (e / hw) % c;
    const BatchnormAffine<T> affine = batchnorm_affine(gamma, beta, ch, double(mean[ch]), double(invstd[ch]));
    y[e] = x[e] * affine.scale + affine.shift;
  }
}

// Backward, one block per channel: the sums of gy and gy * xhat (when a gradient or the training formula needs
// them), then gx over the same channel, so the sums never leave the block (ggamma and gbeta may be null).
template <class T>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_backward_kernel(const T* __restrict__ x, const T* __restrict__ gy, const T* __restrict__ gamma,
                              const T* __restrict__ save_mean, const T* __restrict__ save_invstd, T* __restrict__ gx,
                              T* __restrict__ ggamma, T* __restrict__ gbeta, int64_t n, int64_t c, int64_t hw,
                              bool training) {
  using Acc = acc_t<T>;
  __shared__ Acc buf[kBnThreads + 1];
  const double m = double(n) * double(hw);
  const bool need_sums = ggamma || gbeta || (gx && training);
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    const double mean = double(save_mean[ch]), invstd = double(save_invstd[ch]);
    Acc sum_gy = 0, sum_gy_xhat = 0;
    if (need_sums) {
      for_each_in_channel(ch, n, c, hw, [&](int64_t at) {
        sum_gy += gy[at];
        sum_gy_xhat += Acc(gy[at]) * Acc(batchnorm_xhat(double(x[at]), mean, invstd));
      });
      sum_gy = block_sum(sum_gy, buf);
      sum_gy_xhat = block_sum(sum_gy_xhat, buf);
      if (threadIdx.x == 0) {
        if (gbeta) gbeta[ch] = T(sum_gy);
        if (ggamma) ggamma[ch] = T(sum_gy_xhat);
      }
    }
    if (!gx) continue;
    const BatchnormGradTerms terms = batchnorm_grad_terms(gamma, ch, invstd, m, double(sum_gy), double(sum_gy_xhat));
    if (training) {
      for_each_in_channel(ch, n, c, hw, [&](int64_t at) {
        gx[at] = T(batchnorm_grad_x_training(terms, double(gy[at]), batchnorm_xhat(double(x[at]), mean, invstd)));
      });
    } else {
      for_each_in_channel(ch, n, c, hw, [&](int64_t at) { gx[at] = T(batchnorm_grad_x_eval(terms, double(gy[at]))); });
    }
  }
}

// One thread per output; ties keep the first position in row-major window order, NaN wins.
template <class T>
__global__ void max_pool2d_forward_kernel(Pool2dShape s, const T* __restrict__ x, T* __restrict__ y,
                                          int64_t* __restrict__ argmax, int64_t total) {
  for (int64_t out = global_thread(); out < total; out += grid_threads()) {
    const int64_t ox = out % s.w_out, oy = (out / s.w_out) % s.h_out, p = out / (s.w_out * s.h_out);
    const T* plane = x + p * s.h * s.w;
    const WindowMax<T> best = max_pool_window(s, plane, oy, ox);
    y[out] = best.value;
    argmax[out] = best.at;
  }
}

// Outputs o (along one axis) whose window [o * stride - pad, o * stride - pad + k) contains input position i.
__device__ __forceinline__ void window_range(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t out_size,
                                             int64_t& lo, int64_t& hi) {
  const int64_t first = i + pad - k + 1;  // o * stride >= first
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = min((i + pad) / stride, out_size - 1);  // o * stride <= i + pad
}

// One thread per input: sums, in increasing output order like the CPU's scatter, the gradients of the outputs
// whose argmax is this position.
template <class T>
__global__ void max_pool2d_backward_kernel(Pool2dShape s, const T* __restrict__ gy, const int64_t* __restrict__ argmax,
                                           T* __restrict__ gx, int64_t total) {
  for (int64_t in = global_thread(); in < total; in += grid_threads()) {
    const int64_t pos = in % (s.h * s.w), p = in / (s.h * s.w);
    const int64_t iy = pos / s.w, ix = pos % s.w;
    int64_t oy0, oy1, ox0, ox1;
    window_range(iy, s.kh, s.stride_h, s.pad_h, s.h_out, oy0, oy1);
    window_range(ix, s.kw, s.stride_w, s.pad_w, s.w_out, ox0, ox1);
    const int64_t base = p * s.h_out * s.w_out;
    T acc = 0;
    for (int64_t oy = oy0; oy <= oy1; ++oy)
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const int64_t o = base + oy * s.w_out + ox;
        if (argmax[o] == pos) acc += gy[o];
      }
    gx[in] = acc;
  }
}

template <class T>
__global__ void adaptive_avg_pool2d_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t h, int64_t w,
                                                   int64_t h_out, int64_t w_out, int64_t total) {
  for (int64_t out = global_thread(); out < total; out += grid_threads()) {
    const int64_t ox = out % w_out, oy = (out / w_out) % h_out, p = out / (w_out * h_out);
    const int64_t y0 = adaptive_bin_start(oy, h, h_out), y1 = adaptive_bin_end(oy, h, h_out);
    const int64_t x0 = adaptive_bin_start(ox, w, w_out), x1 = adaptive_bin_end(ox, w, w_out);
    acc_t<T> sum = 0;
    for (int64_t iy = y0; iy < y1; ++iy)
      for (int64_t ix = x0; ix < x1; ++ix) sum += x[(p * h + iy) * w + ix];
    y[out] = T(sum / acc_t<T>((y1 - y0) * (x1 - x0)));
  }
}

// One thread per input: sums gy / count over the bins containing it, in the CPU's (oy, ox) order. Bin o contains
// i iff o >= floor(i * out / in) and o <= floor(((i + 1) * out - 1) / in); the bounds are re-checked exactly.
template <class T>
__global__ void adaptive_avg_pool2d_backward_kernel(const T* __restrict__ gy, T* __restrict__ gx, int64_t h, int64_t w,
                                                    int64_t h_out, int64_t w_out, int64_t total) {
  for (int64_t in = global_thread(); in < total; in += grid_threads()) {
    const int64_t ix = in % w, iy = (in / w) % h, p = in / (w * h);
    const int64_t oy0 = iy * h_out / h, oy1 = min(((iy + 1) * h_out - 1) / h, h_out - 1);
    const int64_t ox0 = ix * w_out / w, ox1 = min(((ix + 1) * w_out - 1) / w, w_out - 1);
    T acc = 0;
    for (int64_t oy = oy0; oy <= oy1; ++oy) {
      const int64_t y0 = adaptive_bin_start(oy, h, h_out), y1 = adaptive_bin_end(oy, h, h_out);
      if (iy < y0 || iy >= y1) continue;
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const int64_t x0 = adaptive_bin_start(ox, w, w_out), x1 = adaptive_bin_end(ox, w, w_out);
        if (ix < x0 || ix >= x1) continue;
        acc += gy[(p * h_out + oy) * w_out + ox] / T((y1 - y0) * (x1 - x0));
      }
    }
    gx[in] = acc;
  }
}

}  // namespace

template <class T>
void batchnorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* save_mean, T* save_invstd, T* running_mean,
                       T* running_var, int64_t n, int64_t c, int64_t hw, bool training, double momentum, double eps,
                       cudaStream_t stream) {
  if (c <= 0) return;
  if (training) {
    const unsigned grid = unsigned(std::min(c, kMaxBlocks));
    batchnorm_stats_kernel<T><<<grid, kBnThreads, 0, stream>>>(x, save_mean, save_invstd, running_mean, running_var, n,
                                                               c, hw, momentum, eps);
  } else {
    batchnorm_eval_stats_kernel<T>
        <<<blocks_for(c), kThreads, 0, stream>>>(running_mean, running_var, save_mean, save_invstd, c, eps);
  }
  SPML_CUDA_CHECK_LAUNCH();
  const int64_t total = n * c * hw;
  if (total <= 0) return;
  batchnorm_apply_kernel<T>
      <<<blocks_for(total), kThreads, 0, stream>>>(x, gamma, beta, save_mean, save_invstd, y, total, c, hw);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void batchnorm_backward(const T* x, const T* gy, const T* gamma, const T* save_mean, const T* save_invstd, T* gx,
                        T* ggamma, T* gbeta, int64_t n, int64_t c, int64_t hw, bool training, cudaStream_t stream) {
  if (c <= 0 || (!gx && !ggamma && !gbeta)) return;
  const unsigned grid = unsigned(std::min(c, kMaxBlocks));
  batchnorm_backward_kernel<T>
      <<<grid, kBnThreads, 0, stream>>>(x, gy, gamma, save_mean, save_invstd, gx, ggamma, gbeta, n, c, hw, training);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* argmax, cudaStream_t stream) {
  const int64_t total = s.planes * s.h_out * s.w_out;
  if (total <= 0) return;
  max_pool2d_forward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(s, x, y, argmax, total);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void max_pool2d_backward(const Pool2dShape& s, const T* gy, const int64_t* argmax, T* gx, cudaStream_t stream) {
  const int64_t total = s.planes * s.h * s.w;
  if (total <= 0) return;
  max_pool2d_backward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(s, gy, argmax, gx, total);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w, int64_t h_out, int64_t w_out,
                                 cudaStream_t stream) {
  const int64_t total = planes * h_out * w_out;
  if (total <= 0) return;
  adaptive_avg_pool2d_forward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(x, y, h, w, h_out, w_out, total);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void adaptive_avg_pool2d_backward(const T* gy, T* gx, int64_t planes, int64_t h, int64_t w, int64_t h_out,
                                  int64_t w_out, cudaStream_t stream) {
  const int64_t total = planes * h * w;
  if (total <= 0) return;
  adaptive_avg_pool2d_backward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(gy, gx, h, w, h_out, w_out, total);
  SPML_CUDA_CHECK_LAUNCH();
}

#define SPML_INSTANTIATE_CNN(T)                                                                                       \
  template void batchnorm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, int64_t, int64_t, int64_t,     \
                                     bool, double, double, cudaStream_t);                                             \
  template void batchnorm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                      int64_t, bool, cudaStream_t);                                                   \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int64_t*, cudaStream_t);                      \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*, cudaStream_t);               \
  template void adaptive_avg_pool2d_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,             \
                                               cudaStream_t);                                                         \
  template void adaptive_avg_pool2d_backward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,            \
                                                cudaStream_t);
SPML_INSTANTIATE_CNN(float)
SPML_INSTANTIATE_CNN(double)
#undef SPML_INSTANTIATE_CNN

}  // namespace spml::kernels::cuda
