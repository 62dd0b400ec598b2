// CUDA optimizer steps: multi-tensor Adam (one launch per table of up to kCapacity tensors) and SGD.
#include <climits>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {

constexpr int64_t kAdamChunk = 4 * kThreads;  // elements per block: one block never spans two tensors

// The tensor list of one launch, passed by value as a kernel parameter (CUDA 12.1+ allows up to 32 KB on
// sm_70+; this stays under 16 KB with the AdamParams beside it). block_start is the prefix sum of each
// tensor's block count, so a block finds its tensor by binary search without any device-side setup.
template <class T>
struct AdamTable {
  static constexpr std::size_t kBytes = 15 * 1024;
  static constexpr int kCapacity =
      int((kBytes - sizeof(int64_t) - sizeof(int)) / (sizeof(AdamTensor<T>) + sizeof(int64_t)));
  AdamTensor<T> tensors[kCapacity];
  int64_t block_start[kCapacity + 1];
  int count;
};
static_assert(sizeof(AdamTable<float>) + sizeof(AdamParams) <= 16 * 1024);
static_assert(sizeof(AdamTable<double>) + sizeof(AdamParams) <= 16 * 1024);

// __grid_constant__ keeps the table in parameter space: dynamic indexing does not copy it per thread.
template <class T>
__global__ void adam_multi_kernel(const __grid_constant__ AdamTable<T> table,
                                  const __grid_constant__ AdamParams shared) {
  const int64_t block = blockIdx.x;
  // Last tensor whose first block is <= this block (empty tensors are never in the table).
  int lo = 0, hi = table.count;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (table.block_start[mid] <= block)
      lo = mid;
    else
      hi = mid;
  }
  const AdamTensor<T>& t = table.tensors[lo];
  AdamParams a = shared;
  a.bias_correction1 = t.bias_correction1;
  a.bias_correction2 = t.bias_correction2;
  const int64_t begin = (block - table.block_start[lo]) * kAdamChunk;
  const int64_t end = min(begin + kAdamChunk, t.n);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) adam_update(t.p[i], t.g[i], t.m[i], t.v[i], a);
}

template <class T>
__global__ void sgd_kernel(T* p, const T* g, T* momentum_buffer, int64_t n, SgdParams params) {
  T unused = 0;
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    sgd_update(p[i], g[i], momentum_buffer ? momentum_buffer[i] : unused, params);
}

}  // namespace

template <class T>
void adam_step_multi(const std::vector<AdamTensor<T>>& tensors, const AdamParams& shared, cudaStream_t stream) {
  AdamTable<T> table{};
  table.count = 0;
  table.block_start[0] = 0;
  const auto launch = [&] {
    if (table.count == 0) return;
    const int64_t blocks = table.block_start[table.count];
    adam_multi_kernel<T><<<unsigned(blocks), kThreads, 0, stream>>>(table, shared);
    SPML_CUDA_CHECK_LAUNCH();
    table.count = 0;
  };
  for (const AdamTensor<T>& t : tensors) {
    if (t.n <= 0) continue;
    const int64_t blocks = (t.n + kAdamChunk - 1) / kAdamChunk;
    SPML_CHECK(blocks <= INT_MAX, "cuda::adam_step_multi: tensor of ", t.n, " elements is too large for one launch");
    if (table.count == AdamTable<T>::kCapacity || table.block_start[table.count] + blocks > INT_MAX) launch();
    table.tensors[table.count] = t;
    table.block_start[table.count + 1] = table.block_start[table.count] + blocks;
    ++table.count;
  }
  launch();
}

template <class T>
void sgd_step(T* p, const T* g, T* momentum_buffer, int64_t n, const SgdParams& params, cudaStream_t stream) {
  if (n <= 0) return;
  sgd_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(p, g, momentum_buffer, n, params);
  SPML_CUDA_CHECK_LAUNCH();
}

template void adam_step_multi<float>(const std::vector<AdamTensor<float>>&, const AdamParams&, cudaStream_t);
template void adam_step_multi<double>(const std::vector<AdamTensor<double>>&, const AdamParams&, cudaStream_t);
template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdParams&, cudaStream_t);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdParams&, cudaStream_t);

}  // namespace spml::kernels::cuda
