// CUDA row gather and its deterministic transpose (scatter-add in row order, one thread per column).
#include <algorithm>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace spml::kernels::cuda {
namespace {
constexpr int kThreads = 256;

template <class T>
__global__ void gather_rows_kernel(const T* x, const int64_t* index, T* out, int64_t count, int64_t width) {
  const int64_t total = count * width;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[index[i / width] * width + i % width];
}

template <class T>
__global__ void scatter_add_rows_kernel(const T* g, const int64_t* index, T* out, int64_t count, int64_t width) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < width; c += int64_t(gridDim.x) * blockDim.x)
    for (int64_t r = 0; r < count; ++r) out[index[r] * width + c] += g[r * width + c];
}
}  // namespace

template <class T>
void gather_rows(const T* x, const int64_t* index, T* out, int64_t count, int64_t width, cudaStream_t stream) {
  const int64_t total = count * width;
  if (total <= 0) return;
  const unsigned grid = unsigned(std::min<int64_t>((total + kThreads - 1) / kThreads, 1 << 16));
  gather_rows_kernel<T><<<grid, kThreads, 0, stream>>>(x, index, out, count, width);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void scatter_add_rows(const T* g, const int64_t* index, T* out, int64_t count, int64_t width, cudaStream_t stream) {
  if (count <= 0 || width <= 0) return;
  const unsigned grid = unsigned(std::min<int64_t>((width + kThreads - 1) / kThreads, 1 << 16));
  scatter_add_rows_kernel<T><<<grid, kThreads, 0, stream>>>(g, index, out, count, width);
  SPML_CUDA_CHECK_LAUNCH();
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, cudaStream_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, cudaStream_t);
template void scatter_add_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, cudaStream_t);
template void scatter_add_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, cudaStream_t);

}  // namespace spml::kernels::cuda
