// 2-D convolution as im2col + cuBLAS GEMM: the fallback of conv_cudnn.cu when cuDNN has no float64 algorithm that
// runs for a shape, and the path of every CUDA convolution under set_conv_force_im2col (so tests can check it). It
// mirrors kernels/cpu/cnn.cpp image by image: forward y_n = W col(x_n); backward data col = W^T gy_n, then col2im;
// backward filter gw = sum over n, in image order, of gy_n col(x_n)^T. Deterministic: col2im is a gather (every
// input element sums its column entries in the CPU's order, no atomics) and the GEMMs are cuBLAS's, which repeat
// bit for bit on one GPU model.

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {

// A 1x1 stride-1 unpadded convolution reads the image as its own column matrix (no im2col, no workspace).
bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// col[(ci, ky, kx), (oy, ox)] = x[ci, oy * stride_h - pad_h + ky, ox * stride_w - pad_w + kx], 0 in the padding.
// x: [c_in, h, w] (one image); col: [c_in * kh * kw, h_out * w_out]; total: the elements of col.
template <class T>
__global__ void im2col_kernel(Conv2dShape s, const T* __restrict__ x, T* __restrict__ col, int64_t total) {
  const int64_t out_hw = s.h_out * s.w_out;
  for (int64_t at = global_thread(); at < total; at += grid_threads()) {
    const int64_t o = at % out_hw, r = at / out_hw;
    const int64_t kx = r % s.kw, ky = (r / s.kw) % s.kh, ci = r / (s.kw * s.kh);
    const int64_t oy = o / s.w_out, ox = o % s.w_out;
    const int64_t iy = oy * s.stride_h - s.pad_h + ky, ix = ox * s.stride_w - s.pad_w + kx;
    col[at] = (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) ? x[(ci * s.h + iy) * s.w + ix] : T(0);
  }
}

// The transpose of im2col as a gather: gx[ci, iy, ix] = sum of the col entries im2col read from it. One thread per
// input element adds them in (ky, kx) order, the order in which the CPU's col2im accumulates them, so the two agree
// bit for bit on the same columns. col: [c_in * kh * kw, h_out * w_out]; gx: [c_in, h, w] (one image, overwritten);
// total: the elements of gx.
template <class T>
__global__ void col2im_gather_kernel(Conv2dShape s, const T* __restrict__ col, T* __restrict__ gx, int64_t total) {
  const int64_t out_hw = s.h_out * s.w_out;
  for (int64_t at = global_thread(); at < total; at += grid_threads()) {
    const int64_t ix = at % s.w, iy = (at / s.w) % s.h, ci = at / (s.w * s.h);
    T sum = 0;
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      const int64_t ty = iy + s.pad_h - ky;  // oy * stride_h when this tap read row iy
      if (ty < 0) break;                     // ty only falls as ky grows
      if (ty % s.stride_h != 0 || ty / s.stride_h >= s.h_out) continue;
      const int64_t oy = ty / s.stride_h;
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        const int64_t tx = ix + s.pad_w - kx;
        if (tx < 0) break;
        if (tx % s.stride_w != 0 || tx / s.stride_w >= s.w_out) continue;
        const int64_t ox = tx / s.stride_w;
        sum += col[((ci * s.kh + ky) * s.kw + kx) * out_hw + oy * s.w_out + ox];
      }
    }
    gx[at] = sum;
  }
}

template <class T>
void im2col(const Conv2dShape& s, const T* x, T* col, cudaStream_t stream) {
  const int64_t total = s.c_in * s.kh * s.kw * s.h_out * s.w_out;
  if (total <= 0) return;
  im2col_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(s, x, col, total);
  SPML_CUDA_CHECK_LAUNCH();
}

template <class T>
void col2im(const Conv2dShape& s, const T* col, T* gx, cudaStream_t stream) {
  const int64_t total = s.c_in * s.h * s.w;
  if (total <= 0) return;
  col2im_gather_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(s, col, gx, total);
  SPML_CUDA_CHECK_LAUNCH();
}

// The columns of image xn [c_in, h, w] for a GEMM: the image itself for a pointwise convolution, else im2col into
// `workspace`. Stream order keeps it from overwriting columns an earlier image's GEMM still reads.
template <class T>
const T* columns(const Conv2dShape& s, const T* xn, void* workspace, cudaStream_t stream) {
  if (is_pointwise(s)) return xn;
  im2col(s, xn, static_cast<T*>(workspace), stream);
  return static_cast<const T*>(workspace);
}

}  // namespace

std::size_t conv2d_im2col_workspace_bytes(const Conv2dShape& s, std::size_t element_size) {
  if (is_pointwise(s)) return 0;
  return element_size * std::size_t(s.c_in * s.kh * s.kw * s.h_out * s.w_out);
}

template <class T>
void conv2d_im2col_forward(cublasHandle_t blas, cudaStream_t stream, const Conv2dShape& s, const T* x, const T* w, T* y,
                           void* workspace) {
  const int64_t k = s.c_in * s.kh * s.kw, out_hw = s.h_out * s.w_out;
  for (int64_t n = 0; n < s.n; ++n) {
    const T* col = columns(s, x + n * s.c_in * s.h * s.w, workspace, stream);
    // y_n [c_out, out_hw] = w [c_out, k] @ col [k, out_hw]
    gemm<T>(blas, false, false, s.c_out, out_hw, k, T(1), w, k, col, out_hw, T(0), y + n * s.c_out * out_hw, out_hw);
  }
}

template <class T>
void conv2d_im2col_backward_data(cublasHandle_t blas, cudaStream_t stream, const Conv2dShape& s, const T* gy,
                                 const T* w, T* gx, void* workspace) {
  const int64_t k = s.c_in * s.kh * s.kw, out_hw = s.h_out * s.w_out;
  for (int64_t n = 0; n < s.n; ++n) {
    T* gxn = gx + n * s.c_in * s.h * s.w;
    // dcol [k, out_hw] = w^T [k, c_out] @ gy_n [c_out, out_hw]; pointwise: dcol is gx_n itself
    T* dcol = is_pointwise(s) ? gxn : static_cast<T*>(workspace);
    gemm<T>(blas, true, false, k, out_hw, s.c_out, T(1), w, k, gy + n * s.c_out * out_hw, out_hw, T(0), dcol, out_hw);
    if (!is_pointwise(s)) col2im(s, dcol, gxn, stream);
  }
}

template <class T>
void conv2d_im2col_backward_filter(cublasHandle_t blas, cudaStream_t stream, const Conv2dShape& s, const T* gy,
                                   const T* x, T* gw, void* workspace) {
  const int64_t k = s.c_in * s.kh * s.kw, out_hw = s.h_out * s.w_out;
  for (int64_t n = 0; n < s.n; ++n) {
    const T* col = columns(s, x + n * s.c_in * s.h * s.w, workspace, stream);
    // gw [c_out, k] (+)= gy_n [c_out, out_hw] @ col^T [out_hw, k]: the first image overwrites, the others add
    gemm<T>(blas, false, true, s.c_out, k, out_hw, T(1), gy + n * s.c_out * out_hw, out_hw, col, out_hw,
            n ? T(1) : T(0), gw, k);
  }
}

#define SPML_INSTANTIATE_IM2COL(T)                                                                                     \
  template void conv2d_im2col_forward<T>(cublasHandle_t, cudaStream_t, const Conv2dShape&, const T*, const T*, T*,     \
                                         void*);                                                                       \
  template void conv2d_im2col_backward_data<T>(cublasHandle_t, cudaStream_t, const Conv2dShape&, const T*, const T*,   \
                                               T*, void*);                                                             \
  template void conv2d_im2col_backward_filter<T>(cublasHandle_t, cudaStream_t, const Conv2dShape&, const T*, const T*, \
                                                 T*, void*);
SPML_INSTANTIATE_IM2COL(float)
SPML_INSTANTIATE_IM2COL(double)
#undef SPML_INSTANTIATE_IM2COL

}  // namespace spml::kernels::cuda
