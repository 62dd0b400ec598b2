// Launch helpers shared by the CUDA kernels: the block size and grid cap of the grid-stride loops, and the loop
// indices.
#pragma once

#include <algorithm>
#include <cstdint>

namespace spml::kernels::cuda {

// Block size of the grid-stride kernels: 8 warps hide memory latency, and 256 divides every architecture's
// threads per SM (1024, 1536, 2048), so block granularity costs no occupancy; no kernel here is tuned finer.
// Grid-stride results do not depend on it; a kernel whose reduction tree is its block size names its own
// constant, so that tree cannot change with this one.
constexpr int kThreads = 256;
// Grid-stride loops make any grid correct; the cap only bounds the launch size of huge tensors.
constexpr int64_t kMaxBlocks = int64_t(1) << 16;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  return unsigned(std::min((n + threads - 1) / threads, kMaxBlocks));
}

__device__ __forceinline__ int64_t global_thread() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() {
  return int64_t(gridDim.x) * blockDim.x;
}

}  // namespace spml::kernels::cuda
