// CUDA row gather and its deterministic transpose (scatter-add in row order, one thread per column).
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {
template <class T>
__global__ void gather_rows_kernel(const T* x, const int64_t* index, T* out, int64_t count, int64_t width) {
  const int64_t total = count * width;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) out[i] = x[index[i / width] * width + i % width];
}

template <class T>
__global__ void scatter_add_rows_kernel(const T* g, const int64_t* index, T* out, int64_t count, int64_t width) {
  for (int64_t c = global_thread(); c < width; c += grid_threads())
    for (int64_t r = 0; r < count; ++r) out[index[r] * width + c] += g[r * width + c];
}
}  // namespace

template <class T>
void gather_rows(const T* x, const int64_t* index, T* out, int64_t count, int64_t width, cudaStream_t stream) {
  const int64_t total = count * width;
  if (total <= 0) return;
  gather_rows_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(x, index, out, count, width);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void scatter_add_rows(const T* g, const int64_t* index, T* out, int64_t count, int64_t width, cudaStream_t stream) {
  if (count <= 0 || width <= 0) return;
  scatter_add_rows_kernel<T><<<blocks_for(width), kThreads, 0, stream>>>(g, index, out, count, width);
  SPML_CUDA_CHECK_LAUNCH();
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, cudaStream_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, cudaStream_t);
template void scatter_add_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, cudaStream_t);
template void scatter_add_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, cudaStream_t);

}  // namespace spml::kernels::cuda
