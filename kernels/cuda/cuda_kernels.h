// CUDA kernels with the same contracts as kernels/cpu/cpu_kernels.h (same math headers, same argument order),
// plus the stream they are queued on. Pointers are device pointers. T is float or double.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdint>
#include <vector>

#include "kernels/common/cnn_shapes.h"
#include "kernels/common/elementwise_math.h"
#include "kernels/common/optim_math.h"
#include "kernels/common/spml_loss_math.h"

namespace spml::kernels::cuda {

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T s, cudaStream_t stream);
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T s, cudaStream_t stream);

template <class T>
void binary_forward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, T* out, cudaStream_t stream);
template <class T>
void binary_backward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, const T* g, T* ga, T* gb,
                     cudaStream_t stream);

// Deterministic: a fixed reduction tree per output, no atomics.
template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale, cudaStream_t stream);
template <class T>
void broadcast_dim(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale, cudaStream_t stream);

template <class T>
void transpose2d(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream);

// Row-major GEMM through cuBLAS (the handle must already be bound to `stream`'s device and stream).
template <class T>
void gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

template <class T>
void fill(T* y, int64_t n, T value, cudaStream_t stream);
template <class T>
void fill_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi, cudaStream_t stream);
template <class T>
void fill_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev, cudaStream_t stream);

template <class Src, class Dst>
void cast(const Src* x, Dst* y, int64_t n, cudaStream_t stream);

template <class T>
void axpy(T* y, const T* x, int64_t n, T alpha, cudaStream_t stream);

// Multi-tensor Adam: one launch updates every tensor of the list (the descriptor table travels as kernel
// parameters; lists longer than one launch's table are split). `shared` holds the group's hyper-parameters;
// each tensor has its own bias corrections, as step counts can differ within a group.
template <class T>
struct AdamTensor {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n;
  double bias_correction1;  // 1 - beta1^t for this tensor's step t
  double bias_correction2;  // 1 - beta2^t
};
template <class T>
void adam_step_multi(const std::vector<AdamTensor<T>>& tensors, const AdamParams& shared, cudaStream_t stream);

template <class T>
void sgd_step(T* p, const T* g, T* momentum_buffer, int64_t n, const SgdParams& params, cudaStream_t stream);

// --- CNN kernels (NCHW) ---
// Convolution through cuDNN. conv2d_prepare picks, once per (shape, dtype, pass, deterministic) and caches, the
// best-ranked algorithm of cuDNN's heuristics (cudnnGet*Algorithm_v7) whose workspace fits workspace_limit (in
// deterministic mode only algorithms cuDNN reports as deterministic; float never uses TF32), and returns the bytes of
// workspace it needs. The three passes then run with that algorithm and a workspace of at least that size; `blas`
// (the device's cuBLAS handle, bound to the cuDNN handle's stream) serves the im2col fallback below.
enum class ConvPass : int { Forward, BackwardData, BackwardFilter };
std::size_t conv2d_prepare(cudnnHandle_t handle, const Conv2dShape& s, bool is_double, ConvPass pass,
                           bool deterministic, std::size_t workspace_limit);
template <class T>
void conv2d_forward(cudnnHandle_t handle, cublasHandle_t blas, const Conv2dShape& s, const T* x, const T* w, T* y,
                    void* workspace, std::size_t workspace_bytes, bool deterministic);
template <class T>
void conv2d_backward_data(cudnnHandle_t handle, cublasHandle_t blas, const Conv2dShape& s, const T* gy, const T* w,
                          T* gx, void* workspace, std::size_t workspace_bytes, bool deterministic);
template <class T>  // gw overwritten
void conv2d_backward_filter(cudnnHandle_t handle, cublasHandle_t blas, const Conv2dShape& s, const T* gy, const T* x,
                            T* gw, void* workspace, std::size_t workspace_bytes, bool deterministic);
// When a pass's algorithm fails with a NOT_SUPPORTED or EXECUTION_FAILED status (any sub-code), the next acceptable
// candidate runs (one that needs more workspace than passed, up to conv2d_prepare's limit, gets its own for that call),
// the failed algorithm is dropped for the (shape, dtype, pass, settings) and the next conv2d_prepare returns the new
// choice's bytes. After the last candidate float64 falls back to im2col + GEMM (below); float throws naming every
// algorithm tried and its status. A sticky device error is thrown, never retried.

// Process-wide convolution policy, read at every call (exclude_fft_winograd is part of the algorithm cache key).
// exclude_fft_winograd: never pick the FFT, FFT_TILING, WINOGRAD or WINOGRAD_NONFUSED algorithms, whose float error
// is the largest (for parity runs; deterministic mode always excludes them). Default off.
void set_conv_exclude_fft_winograd(bool exclude);
bool conv_exclude_fft_winograd();
// force_im2col: every CUDA convolution runs as im2col + cuBLAS GEMM instead of cuDNN (float and double), so tests can
// check the float64 fallback; conv2d_prepare then returns the columns' bytes. Default off.
void set_conv_force_im2col(bool force);
bool conv_force_im2col();

// im2col + cuBLAS GEMM convolution, image by image (the contracts of the cpu:: conv2d kernels, same results up to
// the GEMM's rounding; deterministic). Queued on `stream` (of the current device); `blas` is the device's cuBLAS handle
// bound to that stream, with the default math (no TF32).
// workspace: conv2d_im2col_workspace_bytes(s, sizeof(T)) bytes (one image's columns; 0 for a 1x1 stride-1 unpadded
// convolution). Shapes must not be empty (conv2d_forward & co. handle those).
std::size_t conv2d_im2col_workspace_bytes(const Conv2dShape& s, std::size_t element_size);
template <class T>  // x [n, c_in, h, w], w [c_out, c_in, kh, kw] -> y [n, c_out, h_out, w_out]
void conv2d_im2col_forward(cublasHandle_t blas, cudaStream_t stream, const Conv2dShape& s, const T* x, const T* w, T* y,
                           void* workspace);
template <class T>  // gy [n, c_out, h_out, w_out], w -> gx [n, c_in, h, w] (overwritten)
void conv2d_im2col_backward_data(cublasHandle_t blas, cudaStream_t stream, const Conv2dShape& s, const T* gy,
                                 const T* w, T* gx, void* workspace);
template <class T>  // gy, x -> gw [c_out, c_in, kh, kw] (overwritten)
void conv2d_im2col_backward_filter(cublasHandle_t blas, cudaStream_t stream, const Conv2dShape& s, const T* gy,
                                   const T* x, T* gw, void* workspace);

// Batch norm, max pooling and adaptive average pooling: the contracts of cpu_kernels.h (deterministic:
// per-channel reductions with fixed trees, pooling backward as a gather).
template <class T>
void batchnorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* save_mean, T* save_invstd, T* running_mean,
                       T* running_var, int64_t n, int64_t c, int64_t hw, bool training, double momentum, double eps,
                       cudaStream_t stream);
template <class T>
void batchnorm_backward(const T* x, const T* gy, const T* gamma, const T* save_mean, const T* save_invstd, T* gx,
                        T* ggamma, T* gbeta, int64_t n, int64_t c, int64_t hw, bool training, cudaStream_t stream);
template <class T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* argmax, cudaStream_t stream);
template <class T>
void max_pool2d_backward(const Pool2dShape& s, const T* gy, const int64_t* argmax, T* gx, cudaStream_t stream);
template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w, int64_t h_out, int64_t w_out,
                                 cudaStream_t stream);
template <class T>
void adaptive_avg_pool2d_backward(const T* gy, T* gx, int64_t planes, int64_t h, int64_t w, int64_t h_out,
                                  int64_t w_out, cudaStream_t stream);

// Row gather and its deterministic transpose (one thread per column walks the rows in order; no atomics).
template <class T>
void gather_rows(const T* x, const int64_t* index, T* out, int64_t count, int64_t width, cudaStream_t stream);
template <class T>
void scatter_add_rows(const T* g, const int64_t* index, T* out, int64_t count, int64_t width, cudaStream_t stream);

// The fused SPML loss (contract of cpu::spml_loss). loss_out is a device scalar.
// workspace: spml_loss_workspace_elements(rows, cols) elements of T (per-element losses, row sums, scalars).
// Launches: [EPR/ROLE: a row-sum kernel and a one-block batch-mean kernel], the element kernel computing the
// losses and the gradients in one pass, one deterministic reduction, [EPR/ROLE: adding the regulariser].
int64_t spml_loss_workspace_elements(int64_t rows, int64_t cols);
template <class T>
void spml_loss(LossKind kind, const T* z, const T* y, const T* g, int64_t rows, int64_t cols, const LossParams& params,
               T* loss_out, T* dz, T* dg, T* workspace, cudaStream_t stream);

// LL's large-loss selection (contract of cpu::large_loss_mask, the same entries): a stable descending radix sort of
// (order key of z, index) pairs with the observed entries keyed lowest, then the first k unobserved ones marked.
// workspace: large_loss_mask_workspace_bytes(n, sizeof(T)) bytes (keys, indices and the sort's scratch).
int64_t large_loss_mask_workspace_bytes(int64_t n, int64_t element_size);
template <class T>
void large_loss_mask(const T* z, const T* y, int64_t n, int64_t k, T* mask, void* workspace, cudaStream_t stream);

}  // namespace spml::kernels::cuda
