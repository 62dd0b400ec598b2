// Deterministic CUDA sum over the middle axis of [outer, n, inner]: each output is reduced in a fixed order
// that depends only on the shape (no atomics), so repeated runs give bit-identical results. A thread per output
// for short n; a block per output for long n; and for few outputs over a very long n (a full reduction) two passes:
// blocks over fixed chunks of each output's n write partial sums, then a block per output adds its partials in order.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/common/accumulate.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/stream_workspace.cuh"

namespace spml::kernels::cuda {
namespace {

// Block size of the block paths, apart from launch.cuh's kThreads (which the thread-per-output path uses): it fixes
// their reduction trees and the n from which they are taken, so the sums' bits.
constexpr int kThreadsPerOutput = 256;
// With inner > 1 the block path reads strided columns; it only pays off while there are too few outputs to
// fill the GPU with one thread each.
constexpr int64_t kFewOutputs = 4096;
// The two-pass path: the values of n one first-pass block sums (64 per thread), and the output count from which a
// block per output already keeps a large GPU busy (132 SMs x 8 resident blocks of 256 threads). Both are constants,
// so the partition, hence the bits, depends on the shape only: one output over 10^7 values is 611 blocks, then one.
constexpr int64_t kValuesPerChunk = int64_t(kThreadsPerOutput) * 64;
constexpr int64_t kOutputsFillingTheGpu = 1024;

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

// One block per (output j, chunk q of its n values, `chunk` long): thread t sums k = begin + t, begin + t + B, ...
// below the chunk's end, then a fixed shared-memory tree and a final warp-shuffle tree combine the B partial sums
// into y[j * chunks + q], scaled. With one chunk of n values this is the block-per-output path; the two-pass path
// runs it over chunks into Acc partials (scale 1), then with one chunk over each output's partials.
template <class In, class Out>
__global__ void __launch_bounds__(kThreadsPerOutput)
    reduce_sum_block_kernel(const In* __restrict__ x, Out* __restrict__ y, int64_t outputs, int64_t n, int64_t inner,
                            int64_t chunks, int64_t chunk, acc_t<Out> scale) {
  using Acc = acc_t<Out>;
  __shared__ Acc partial[kThreadsPerOutput];
  const int t = threadIdx.x;
  const int64_t tasks = outputs * chunks;
  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t j = task / chunks, begin = (task % chunks) * chunk, end = min(n, begin + chunk);
    const In* base = x + (j / inner) * n * inner + j % inner;
    Acc acc = 0;
    for (int64_t k = begin + t; k < end; k += kThreadsPerOutput) acc += base[k * inner];
    partial[t] = acc;
    __syncthreads();
    for (int s = kThreadsPerOutput / 2; s >= 32; s >>= 1) {
      if (t < s) partial[t] += partial[t + s];
      __syncthreads();
    }
    if (t < 32) {
      acc = partial[t];
      for (int s = 16; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s);
      if (t == 0) y[task] = static_cast<Out>(acc * scale);
    }
    __syncthreads();  // partial[] is rewritten for the next task
  }
}

unsigned grid_for_tasks(int64_t tasks) {
  return unsigned(std::min(tasks, kMaxBlocks));
}

}  // namespace

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale, cudaStream_t stream) {
  using Acc = acc_t<T>;
  const int64_t outputs = outer * inner;
  if (outputs <= 0) return;  // n == 0 still writes zeros below, like the CPU
  const bool block_per_output = n >= kThreadsPerOutput && (inner == 1 || outputs <= kFewOutputs);
  if (block_per_output && n > kValuesPerChunk && outputs < kOutputsFillingTheGpu) {
    const int64_t chunks = (n + kValuesPerChunk - 1) / kValuesPerChunk;
    StreamWorkspace partials(sizeof(Acc) * std::size_t(outputs * chunks), stream, "reduce_sum partials");
    reduce_sum_block_kernel<T, Acc><<<grid_for_tasks(outputs * chunks), kThreadsPerOutput, 0, stream>>>(
        x, partials.as<Acc>(), outputs, n, inner, chunks, kValuesPerChunk, Acc(1));
    SPML_CUDA_CHECK_LAUNCH();
    reduce_sum_block_kernel<Acc, T><<<grid_for_tasks(outputs), kThreadsPerOutput, 0, stream>>>(
        partials.as<Acc>(), y, outputs, chunks, 1, 1, chunks, Acc(scale));
  } else if (block_per_output) {
    reduce_sum_block_kernel<T, T>
        <<<grid_for_tasks(outputs), kThreadsPerOutput, 0, stream>>>(x, y, outputs, n, inner, 1, n, Acc(scale));
  } else {
    reduce_sum_thread_kernel<T><<<blocks_for(outputs), kThreads, 0, stream>>>(x, y, outputs, n, inner, scale);
  }
  SPML_CUDA_CHECK_LAUNCH();
}

template void reduce_sum<float>(const float*, float*, int64_t, int64_t, int64_t, float, cudaStream_t);
template void reduce_sum<double>(const double*, double*, int64_t, int64_t, int64_t, double, cudaStream_t);

}  // namespace spml::kernels::cuda
