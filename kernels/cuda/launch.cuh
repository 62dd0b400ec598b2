// Launch helpers shared by the CUDA kernels: grid sizes for grid-stride loops and the loop indices.
#pragma once

#include <algorithm>
#include <cstdint>

namespace spml::kernels::cuda {

constexpr int kDefaultThreads = 256;
// Grid-stride loops make any grid correct; the cap only bounds the launch size of huge tensors.
constexpr int64_t kMaxBlocks = int64_t(1) << 16;

inline unsigned blocks_for(int64_t n, int threads = kDefaultThreads) {
  return unsigned(std::min((n + threads - 1) / threads, kMaxBlocks));
}

__device__ __forceinline__ int64_t global_thread() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() {
  return int64_t(gridDim.x) * blockDim.x;
}

}  // namespace spml::kernels::cuda
