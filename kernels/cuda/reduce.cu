// Deterministic CUDA sum over the middle axis of [outer, n, inner]: each output is reduced in a fixed order
// that depends only on the shape (no atomics), so repeated runs give bit-identical results.
#include <algorithm>
#include <cstdint>

#include "kernels/common/accumulate.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {

// Block size of the block-per-output path, apart from launch.cuh's kThreads (which the thread-per-output path
// uses): it fixes that path's reduction tree and the n from which it is taken, so the sums' bits.
constexpr int kThreadsPerOutput = 256;
// With inner > 1 the block path reads strided columns; it only pays off while there are too few outputs to
// fill the GPU with one thread each.
constexpr int64_t kFewOutputs = 4096;

// One thread per output: a sequential sum over k. Adjacent threads read adjacent i, so loads coalesce
// when inner is large.
template <class T>
__global__ void reduce_sum_thread_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outputs, int64_t n,
                                         int64_t inner, T scale) {
  for (int64_t j = global_thread(); j < outputs; j += grid_threads()) {
    const T* base = x + (j / inner) * n * inner + j % inner;
    acc_t<T> acc = 0;
    for (int64_t k = 0; k < n; ++k) acc += base[k * inner];
    y[j] = static_cast<T>(acc * scale);
  }
}

// One block per output: thread t sums k = t, t + B, t + 2B, ... then a fixed shared-memory tree and a
// final warp-shuffle tree combine the B partial sums.
template <class T>
__global__ void reduce_sum_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outputs, int64_t n,
                                        int64_t inner, T scale) {
  using Acc = acc_t<T>;
  __shared__ Acc partial[kThreadsPerOutput];
  const int t = threadIdx.x;
  for (int64_t j = blockIdx.x; j < outputs; j += gridDim.x) {
    const T* base = x + (j / inner) * n * inner + j % inner;
    Acc acc = 0;
    for (int64_t k = t; k < n; k += kThreadsPerOutput) acc += base[k * inner];
    partial[t] = acc;
    __syncthreads();
    for (int s = kThreadsPerOutput / 2; s >= 32; s >>= 1) {
      if (t < s) partial[t] += partial[t + s];
      __syncthreads();
    }
    if (t < 32) {
      acc = partial[t];
      for (int s = 16; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s);
      if (t == 0) y[j] = static_cast<T>(acc * scale);
    }
    __syncthreads();  // partial[] is rewritten for the next output
  }
}

}  // namespace

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale, cudaStream_t stream) {
  const int64_t outputs = outer * inner;
  if (outputs <= 0) return;  // n == 0 still writes zeros below, like the CPU
  const bool block_per_output = n >= kThreadsPerOutput && (inner == 1 || outputs <= kFewOutputs);
  if (block_per_output) {
    const unsigned grid = unsigned(std::min(outputs, kMaxBlocks));
    reduce_sum_block_kernel<T><<<grid, kThreadsPerOutput, 0, stream>>>(x, y, outputs, n, inner, scale);
  } else {
    reduce_sum_thread_kernel<T><<<blocks_for(outputs), kThreads, 0, stream>>>(x, y, outputs, n, inner, scale);
  }
  SPML_CUDA_CHECK_LAUNCH();
}

template void reduce_sum<float>(const float*, float*, int64_t, int64_t, int64_t, float, cudaStream_t);
template void reduce_sum<double>(const double*, double*, int64_t, int64_t, int64_t, double, cudaStream_t);

}  // namespace spml::kernels::cuda
