// CUDA element-wise, broadcast, layout, fill and cast kernels (contracts in cuda_kernels.h, math shared with
// kernels/cpu/elementwise.cpp through kernels/common).
#include <algorithm>
#include <cstdint>

#include "kernels/common/philox.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {

bool same_shape_contiguous(const BroadcastIndex& index) {
  int64_t stride = 1;
  for (int d = index.ndim - 1; d >= 0; --d) {
    if (index.a_stride[d] != stride || index.b_stride[d] != stride) return false;
    stride *= index.out_shape[d];
  }
  return true;
}

int64_t numel_of(const BroadcastIndex& index) {
  int64_t n = 1;
  for (int d = 0; d < index.ndim; ++d) n *= index.out_shape[d];
  return n;
}

template <class F, class T>
__global__ void unary_forward_kernel(const T* x, T* y, int64_t n, T s) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = F::fwd(x[i], s);
}

// x or y may be null when the op's backward does not read it (the CPU passes 0 for them too).
template <class F, class T>
__global__ void unary_backward_kernel(const T* x, const T* y, const T* gy, T* gx, int64_t n, T s) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    gx[i] = F::bwd(x ? x[i] : T(0), y ? y[i] : T(0), gy[i], s);
}

template <class F, class T>
__global__ void binary_forward_flat_kernel(const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = F::fwd(a[i], b[i]);
}

template <class F, class T>
__global__ void binary_forward_kernel(BroadcastIndex index, const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t ia, ib;
    index.offsets(i, ia, ib);
    out[i] = F::fwd(a[ia], b[ib]);
  }
}

template <class F, class T>
__global__ void binary_backward_kernel(BroadcastIndex index, bool flat, const T* a, const T* b, const T* g, T* ga,
                                       T* gb, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t ia = i, ib = i;
    if (!flat) index.offsets(i, ia, ib);
    if (ga) ga[i] = F::da(a[ia], b[ib], g[i]);
    if (gb) gb[i] = F::db(a[ia], b[ib], g[i]);
  }
}

template <class T>
__global__ void broadcast_dim_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t inner, T scale,
                                     int64_t total) {
  const int64_t slab = n * inner;
  for (int64_t j = global_thread(); j < total; j += grid_threads()) y[j] = x[(j / slab) * inner + j % inner] * scale;
}

// 32x32 tiles staged through shared memory so both the reads and the writes are coalesced; the extra
// column avoids bank conflicts on the transposed read.
constexpr int kTile = 32;
constexpr int kTileRows = 8;

template <class T>
__global__ void transpose2d_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols,
                                   int64_t tiles_c, int64_t tiles) {
  __shared__ T tile[kTile][kTile + 1];
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t r0 = (t / tiles_c) * kTile, c0 = (t % tiles_c) * kTile;
    for (int dr = threadIdx.y; dr < kTile; dr += kTileRows) {
      const int64_t r = r0 + dr, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[dr][threadIdx.x] = x[r * cols + c];
    }
    __syncthreads();
    for (int dc = threadIdx.y; dc < kTile; dc += kTileRows) {
      const int64_t c = c0 + dc, r = r0 + threadIdx.x;
      if (r < rows && c < cols) y[c * rows + r] = tile[threadIdx.x][dc];
    }
    __syncthreads();  // the tile is refilled for the next t
  }
}

template <class T>
__global__ void fill_kernel(T* y, int64_t n, T value) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = value;
}

template <class T>
__global__ void fill_uniform_kernel(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    y[i] = static_cast<T>(philox_uniform(seed, offset + uint64_t(i), lo, hi));
}

template <class T>
__global__ void fill_normal_kernel(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    y[i] = static_cast<T>(philox_normal(seed, offset + uint64_t(i), mean, stddev));
}

template <class Src, class Dst>
__global__ void cast_kernel(const Src* x, Dst* y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = static_cast<Dst>(x[i]);
}

template <class T>
__global__ void axpy_kernel(T* y, const T* x, int64_t n, T alpha) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] += alpha * x[i];
}

}  // namespace

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T s, cudaStream_t stream) {
  if (n <= 0) return;
  dispatch_unary(op, [&](auto f) {
    unary_forward_kernel<decltype(f), T><<<blocks_for(n), kThreads, 0, stream>>>(x, y, n, s);
    SPML_CUDA_CHECK_LAUNCH();
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T s, cudaStream_t stream) {
  if (n <= 0) return;
  dispatch_unary(op, [&](auto f) {
    unary_backward_kernel<decltype(f), T><<<blocks_for(n), kThreads, 0, stream>>>(x, y, gy, gx, n, s);
    SPML_CUDA_CHECK_LAUNCH();
  });
}

template <class T>
void binary_forward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, T* out, cudaStream_t stream) {
  const int64_t n = numel_of(index);
  if (n <= 0) return;
  const bool flat = same_shape_contiguous(index);
  dispatch_binary(op, [&](auto f) {
    using F = decltype(f);
    if (flat) {
      binary_forward_flat_kernel<F, T><<<blocks_for(n), kThreads, 0, stream>>>(a, b, out, n);
    } else {
      binary_forward_kernel<F, T><<<blocks_for(n), kThreads, 0, stream>>>(index, a, b, out, n);
    }
    SPML_CUDA_CHECK_LAUNCH();
  });
}

template <class T>
void binary_backward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, const T* g, T* ga, T* gb,
                     cudaStream_t stream) {
  const int64_t n = numel_of(index);
  if (n <= 0 || (!ga && !gb)) return;
  const bool flat = same_shape_contiguous(index);
  dispatch_binary(op, [&](auto f) {
    binary_backward_kernel<decltype(f), T><<<blocks_for(n), kThreads, 0, stream>>>(index, flat, a, b, g, ga, gb, n);
    SPML_CUDA_CHECK_LAUNCH();
  });
}

template <class T>
void broadcast_dim(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale, cudaStream_t stream) {
  const int64_t total = outer * n * inner;
  if (total <= 0) return;
  broadcast_dim_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(x, y, n, inner, scale, total);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void transpose2d(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t tiles_c = (cols + kTile - 1) / kTile;
  const int64_t tiles = ((rows + kTile - 1) / kTile) * tiles_c;
  const unsigned grid = unsigned(std::min(tiles, kMaxBlocks));
  transpose2d_kernel<T><<<grid, dim3(kTile, kTileRows), 0, stream>>>(x, y, rows, cols, tiles_c, tiles);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void fill(T* y, int64_t n, T value, cudaStream_t stream) {
  if (n <= 0) return;
  fill_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y, n, value);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void fill_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi, cudaStream_t stream) {
  if (n <= 0) return;
  fill_uniform_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y, n, seed, offset, lo, hi);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void fill_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev, cudaStream_t stream) {
  if (n <= 0) return;
  fill_normal_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y, n, seed, offset, mean, stddev);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class Src, class Dst>
void cast(const Src* x, Dst* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  cast_kernel<Src, Dst><<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void axpy(T* y, const T* x, int64_t n, T alpha, cudaStream_t stream) {
  if (n <= 0) return;
  axpy_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y, x, n, alpha);
  SPML_CUDA_CHECK_LAUNCH();
}

#define SPML_INSTANTIATE_FLOAT(T)                                                                         \
  template void unary_forward<T>(UnaryOp, const T*, T*, int64_t, T, cudaStream_t);                        \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t, T, cudaStream_t);   \
  template void binary_forward<T>(BinaryOp, const BroadcastIndex&, const T*, const T*, T*, cudaStream_t); \
  template void binary_backward<T>(BinaryOp, const BroadcastIndex&, const T*, const T*, const T*, T*, T*, \
                                   cudaStream_t);                                                         \
  template void broadcast_dim<T>(const T*, T*, int64_t, int64_t, int64_t, T, cudaStream_t);               \
  template void fill_uniform<T>(T*, int64_t, uint64_t, uint64_t, double, double, cudaStream_t);           \
  template void fill_normal<T>(T*, int64_t, uint64_t, uint64_t, double, double, cudaStream_t);            \
  template void axpy<T>(T*, const T*, int64_t, T, cudaStream_t);
SPML_INSTANTIATE_FLOAT(float)
SPML_INSTANTIATE_FLOAT(double)
#undef SPML_INSTANTIATE_FLOAT

#define SPML_INSTANTIATE_ANY(T)                                               \
  template void transpose2d<T>(const T*, T*, int64_t, int64_t, cudaStream_t); \
  template void fill<T>(T*, int64_t, T, cudaStream_t);
SPML_INSTANTIATE_ANY(float)
SPML_INSTANTIATE_ANY(double)
SPML_INSTANTIATE_ANY(uint8_t)
SPML_INSTANTIATE_ANY(int32_t)
SPML_INSTANTIATE_ANY(int64_t)
#undef SPML_INSTANTIATE_ANY

#define SPML_INSTANTIATE_CAST_FROM(S)                                        \
  template void cast<S, float>(const S*, float*, int64_t, cudaStream_t);     \
  template void cast<S, double>(const S*, double*, int64_t, cudaStream_t);   \
  template void cast<S, uint8_t>(const S*, uint8_t*, int64_t, cudaStream_t); \
  template void cast<S, int32_t>(const S*, int32_t*, int64_t, cudaStream_t); \
  template void cast<S, int64_t>(const S*, int64_t*, int64_t, cudaStream_t);
SPML_INSTANTIATE_CAST_FROM(float)
SPML_INSTANTIATE_CAST_FROM(double)
SPML_INSTANTIATE_CAST_FROM(uint8_t)
SPML_INSTANTIATE_CAST_FROM(int32_t)
SPML_INSTANTIATE_CAST_FROM(int64_t)
#undef SPML_INSTANTIATE_CAST_FROM

}  // namespace spml::kernels::cuda
