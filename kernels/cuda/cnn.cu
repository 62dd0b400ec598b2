// CUDA batch normalisation, max pooling and adaptive average pooling (contracts of kernels/cpu/cpu_kernels.h,
// mirrored from kernels/cpu/cnn.cpp). Deterministic, no atomics: a channel's batch-norm statistics and gradient sums
// come from a fixed partition of its n * hw values into chunks (one block each, fixed trees), whose partials a second
// kernel combines in a fixed order; pooling backward is a gather in which every input sums its outputs in the CPU's
// order.
#include <math_constants.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/common/accumulate.h"
#include "kernels/common/batchnorm_math.h"
#include "kernels/common/pool_math.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/stream_workspace.cuh"

namespace spml::kernels::cuda {
namespace {

// Block size of the batch-norm reduction kernels, kept apart from launch.cuh's kThreads: it fixes their reduction
// trees, so changing it changes the statistics' bits.
constexpr int kBnThreads = 256;
// Values of one chunk each thread holds in registers, so the chunk's mean and then its squared deviations come from
// one read of x.
constexpr int kBnValuesPerThread = 16;
// A channel's n * hw values, in image-major order, are cut into chunks of this many, one block each. The chunk count
// depends on the shape only (never on the GPU), which fixes the partials and their combine order. At ResNet-50's
// stem batch norm (batch 8, 112 x 112) that is 25 chunks x 64 channels = 1600 blocks; the old block per channel
// gave 64. A channel of at most kBnChunk values is one chunk.
constexpr int64_t kBnChunk = int64_t(kBnThreads) * kBnValuesPerThread;

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

int64_t chunks_per_channel(int64_t m) {
  return (m + kBnChunk - 1) / kBnChunk;
}
// Blocks of a grid-stride loop over `tasks` blocks' worth of work (the results never depend on it).
unsigned grid_for_tasks(int64_t tasks) {
  return unsigned(std::max<int64_t>(1, std::min(tasks, kMaxBlocks)));
}

// Values in chunk q of a channel of m values (the last chunk is the short one).
SPML_HD int64_t chunk_count(int64_t q, int64_t m) {
  return m - q * kBnChunk < kBnChunk ? m - q * kBnChunk : kBnChunk;
}

// Walks one channel ch of x [n, c, hw] in steps of `stride` flat positions p = image * hw + j, without a division
// per step; at() is the element's index in x.
struct ChannelWalk {
  int64_t image, j, step_images, step_j;
  SPML_HD ChannelWalk(int64_t p, int64_t stride, int64_t hw)
      : image(p / hw), j(p % hw), step_images(stride / hw), step_j(stride % hw) {}
  SPML_HD int64_t at(int64_t ch, int64_t c, int64_t hw) const { return (image * c + ch) * hw + j; }
  SPML_HD void next(int64_t hw) {
    image += step_images;
    j += step_j;
    if (j >= hw) {
      j -= hw;
      ++image;
    }
  }
};

// Count, mean and sum of squared deviations from the mean of a set of values. Two sets merge with Chan, Golub and
// LeVeque's pairwise formula, which never forms a raw sum of squares, so values far from zero keep their variance
// (the accuracy of the CPU's two passes).
struct Moments {
  double count, mean, m2;
};
SPML_HD Moments merge_moments(const Moments& a, const Moments& b) {
  if (b.count == 0) return a;
  if (a.count == 0) return b;
  const double count = a.count + b.count, delta = b.mean - a.mean, b_share = b.count / count;
  return {count, a.mean + delta * b_share, a.m2 + b.m2 + delta * delta * a.count * b_share};
}

// One chunk's partial of the forward: its mean and squared deviations (its count follows from its index).
struct ChunkMoments {
  double mean, m2;
};
// One chunk's (and then one channel's) partial of the backward.
struct GradSums {
  double sum_gy, sum_gy_xhat;
};

// Training statistics, pass 1: block task = (channel, chunk) computes the chunk's mean, then the squared deviations
// around it (two passes over the values in registers, like the CPU's two passes over the channel), in double.
// partial[ch * chunks + q].
template <class T>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_chunk_moments_kernel(const T* __restrict__ x, ChunkMoments* __restrict__ partial, int64_t n, int64_t c,
                                   int64_t hw, int64_t chunks) {
  __shared__ double buf[kBnThreads + 1];
  const int t = threadIdx.x;
  const int64_t m = n * hw, tasks = c * chunks;
  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t ch = task / chunks, q = task % chunks, count = chunk_count(q, m);
    ChannelWalk walk(q * kBnChunk + t, kBnThreads, hw);
    T v[kBnValuesPerThread];
    double sum = 0;
#pragma unroll
    for (int r = 0; r < kBnValuesPerThread; ++r) {
      v[r] = t + int64_t(r) * kBnThreads < count ? x[walk.at(ch, c, hw)] : T(0);
      sum += double(v[r]);
      walk.next(hw);
    }
    sum = block_sum(sum, buf);
    const double mean = sum / double(count);
    double m2 = 0;
#pragma unroll
    for (int r = 0; r < kBnValuesPerThread; ++r) {
      if (t + int64_t(r) * kBnThreads < count) {
        const double d = double(v[r]) - mean;
        m2 += d * d;
      }
    }
    m2 = block_sum(m2, buf);
    if (t == 0) partial[task] = {mean, m2};
  }
}

// Training statistics, pass 2, one block per channel: thread t merges chunks t, t + B, ... in order, then a fixed
// shared-memory tree merges the threads' moments; the biased variance normalises, save_mean / save_invstd, and the
// momentum update of the running statistics with the unbiased variance (as the CPU).
template <class T>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_finalize_stats_kernel(const ChunkMoments* __restrict__ partial, T* __restrict__ save_mean,
                                    T* __restrict__ save_invstd, T* __restrict__ running_mean,
                                    T* __restrict__ running_var, int64_t m, int64_t c, int64_t chunks, double momentum,
                                    double eps) {
  __shared__ Moments buf[kBnThreads];
  const int t = threadIdx.x;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    Moments s{0, 0, 0};
    for (int64_t q = t; q < chunks; q += kBnThreads) {
      const ChunkMoments p = partial[ch * chunks + q];
      s = merge_moments(s, {double(chunk_count(q, m)), p.mean, p.m2});
    }
    buf[t] = s;
    __syncthreads();
    for (int half = kBnThreads / 2; half > 0; half >>= 1) {
      if (t < half) buf[t] = s = merge_moments(s, buf[t + half]);
      __syncthreads();
    }
    if (t == 0) {
      const double mean = m > 0 ? s.mean : CUDART_NAN;  // the CPU's 0 / 0 for an empty channel
      const double var = s.m2 / double(m);
      save_mean[ch] = T(mean);
      save_invstd[ch] = T(batchnorm_invstd(var, eps));
      batchnorm_update_running(running_mean, running_var, ch, mean, var, double(m), momentum);
    }
    __syncthreads();  // buf is rewritten for the next channel
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

// Backward sums, pass 1: block task = (channel, chunk) sums gy and gy * xhat over the chunk, in double, with the
// CPU's per-element terms. partial[ch * chunks + q].
template <class T>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_chunk_grad_sums_kernel(const T* __restrict__ x, const T* __restrict__ gy, const T* __restrict__ save_mean,
                                     const T* __restrict__ save_invstd, GradSums* __restrict__ partial, int64_t n,
                                     int64_t c, int64_t hw, int64_t chunks) {
  __shared__ double buf[kBnThreads + 1];
  const int t = threadIdx.x;
  const int64_t m = n * hw, tasks = c * chunks;
  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t ch = task / chunks, q = task % chunks, count = chunk_count(q, m);
    const double mean = double(save_mean[ch]), invstd = double(save_invstd[ch]);
    ChannelWalk walk(q * kBnChunk + t, kBnThreads, hw);
    double sum_gy = 0, sum_gy_xhat = 0;
#pragma unroll
    for (int r = 0; r < kBnValuesPerThread; ++r) {
      if (t + int64_t(r) * kBnThreads < count) {
        const int64_t at = walk.at(ch, c, hw);
        const double g = double(gy[at]);
        sum_gy += g;
        sum_gy_xhat += g * batchnorm_xhat(double(x[at]), mean, invstd);
      }
      walk.next(hw);
    }
    sum_gy = block_sum(sum_gy, buf);
    sum_gy_xhat = block_sum(sum_gy_xhat, buf);
    if (t == 0) partial[task] = {sum_gy, sum_gy_xhat};
  }
}

// Backward sums, pass 2, one block per channel: thread t adds chunks t, t + B, ... in order, then block_sum's tree;
// dL/dbeta and dL/dgamma (either may be null) and the channel's sums in double for the gx kernel.
template <class T>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_finalize_grad_sums_kernel(const GradSums* __restrict__ partial, GradSums* __restrict__ channel_sums,
                                        T* __restrict__ ggamma, T* __restrict__ gbeta, int64_t c, int64_t chunks) {
  __shared__ double buf[kBnThreads + 1];
  const int t = threadIdx.x;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    double sum_gy = 0, sum_gy_xhat = 0;
    for (int64_t q = t; q < chunks; q += kBnThreads) {
      const GradSums p = partial[ch * chunks + q];
      sum_gy += p.sum_gy;
      sum_gy_xhat += p.sum_gy_xhat;
    }
    sum_gy = block_sum(sum_gy, buf);
    sum_gy_xhat = block_sum(sum_gy_xhat, buf);
    if (t == 0) {
      channel_sums[ch] = {sum_gy, sum_gy_xhat};
      if (gbeta) gbeta[ch] = T(sum_gy);
      if (ggamma) ggamma[ch] = T(sum_gy_xhat);
    }
  }
}

// dL/dx per element: the training formula from the channel's sums, or the eval one (constant statistics, no sums).
template <class T>
__global__ void batchnorm_grad_x_kernel(const T* __restrict__ x, const T* __restrict__ gy, const T* __restrict__ gamma,
                                        const T* __restrict__ save_mean, const T* __restrict__ save_invstd,
                                        const GradSums* __restrict__ channel_sums, T* __restrict__ gx, int64_t total,
                                        int64_t c, int64_t hw, double m, bool training) {
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t ch = (e / hw) % c;
    const double invstd = double(save_invstd[ch]);
    if (training) {
      const GradSums s = channel_sums[ch];
      const BatchnormGradTerms terms = batchnorm_grad_terms(gamma, ch, invstd, m, s.sum_gy, s.sum_gy_xhat);
      gx[e] = T(
          batchnorm_grad_x_training(terms, double(gy[e]), batchnorm_xhat(double(x[e]), double(save_mean[ch]), invstd)));
    } else {
      gx[e] = T(batchnorm_grad_x_eval(batchnorm_grad_terms(gamma, ch, invstd, m, 0.0, 0.0), double(gy[e])));
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
    const int64_t m = n * hw, chunks = chunks_per_channel(m);
    StreamWorkspace partial(sizeof(ChunkMoments) * std::size_t(c * chunks), stream, "batch-norm partials");
    if (chunks > 0) {
      batchnorm_chunk_moments_kernel<T>
          <<<grid_for_tasks(c * chunks), kBnThreads, 0, stream>>>(x, partial.as<ChunkMoments>(), n, c, hw, chunks);
      SPML_CUDA_CHECK_LAUNCH();
    }
    batchnorm_finalize_stats_kernel<T><<<grid_for_tasks(c), kBnThreads, 0, stream>>>(
        partial.as<ChunkMoments>(), save_mean, save_invstd, running_mean, running_var, m, c, chunks, momentum, eps);
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
  const int64_t m = n * hw, chunks = chunks_per_channel(m);
  const bool need_sums = ggamma || gbeta || (gx && training);
  // [c * chunks chunk partials][c channel sums]
  StreamWorkspace sums(need_sums ? sizeof(GradSums) * std::size_t(c * chunks + c) : 0, stream, "batch-norm partials");
  GradSums* partial = sums.as<GradSums>();
  GradSums* channel_sums = need_sums ? partial + c * chunks : nullptr;
  if (need_sums) {
    if (chunks > 0) {
      batchnorm_chunk_grad_sums_kernel<T><<<grid_for_tasks(c * chunks), kBnThreads, 0, stream>>>(
          x, gy, save_mean, save_invstd, partial, n, c, hw, chunks);
      SPML_CUDA_CHECK_LAUNCH();
    }
    batchnorm_finalize_grad_sums_kernel<T>
        <<<grid_for_tasks(c), kBnThreads, 0, stream>>>(partial, channel_sums, ggamma, gbeta, c, chunks);
    SPML_CUDA_CHECK_LAUNCH();
  }
  const int64_t total = n * c * hw;
  if (!gx || total <= 0) return;
  batchnorm_grad_x_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
      x, gy, gamma, save_mean, save_invstd, channel_sums, gx, total, c, hw, double(m), training);
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
