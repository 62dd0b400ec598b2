// CPU reference kernels: plain loops over raw pointers (OpenMP above a size threshold). They know nothing of
// tensors or autograd; the framework checks arguments and dispatches here. T is float or double.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/common/cnn_shapes.h"
#include "kernels/common/elementwise_math.h"
#include "kernels/common/optim_math.h"
#include "kernels/common/spml_loss_math.h"

namespace spml::kernels::cpu {

// y[i] = op(x[i], s)   x, y: [n]
template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T s);
// gx[i] = dop/dx * gy[i]   (x, y: the forward input and output)
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T s);

// out[i] = op(a[ia], b[ib]) with the broadcast index map (same shapes: a fast contiguous loop).
template <class T>
void binary_forward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, T* out);
// ga, gb: [out numel] per-output contributions (either may be null); the framework sums them to the
// operand shapes.
template <class T>
void binary_backward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, const T* g, T* ga, T* gb);

// y[o, i] = scale * sum_k x[o, k, i]   x: [outer, n, inner], y: [outer, inner]
template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale);
// y[o, k, i] = scale * x[o, i]   (the backward of reduce_sum)
template <class T>
void broadcast_dim(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale);

// y[c, r] = x[r, c]   x: [rows, cols]
template <class T>
void transpose2d(const T* x, T* y, int64_t rows, int64_t cols);

// C = alpha * op(A) op(B) + beta * C, row-major; op(A): [M, K], op(B): [K, N], C: [M, N].
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc);
// The builtin blocked GEMM (always available; the OpenBLAS build uses it as reference and inside parallel
// regions, where calling a threaded BLAS would oversubscribe the cores).
template <class T>
void gemm_builtin(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc);
// Which GEMM backs cpu::gemm: "openblas (pthreads|openmp|serial)" or "builtin".
const char* gemm_backend_name();
// The OPENBLAS_CORETYPE this CPU should use when OpenBLAS did not recognise it (it then falls back to its
// SSE3-only "Prescott" kernels, 2-3x slower on an AVX-512 machine): "SkylakeX" or "Haswell" by the CPU's
// features; empty when OpenBLAS chose a real core, is not linked, or the variable is already set.
const char* openblas_coretype_hint();

template <class T>
void fill(T* y, int64_t n, T value);
// y[i] = uniform / normal element (offset + i) of the Philox stream `seed`.
template <class T>
void fill_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
template <class T>
void fill_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev);

// Element-type conversion y[i] = Dst(x[i]).
template <class Src, class Dst>
void cast(const Src* x, Dst* y, int64_t n);

// y[i] += alpha * x[i]
template <class T>
void axpy(T* y, const T* x, int64_t n, T alpha);

// One optimizer step over one tensor: p, g, state: [n].
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamParams& params);
// One Adam step over several tensors of a group (each with its own step's bias corrections) in a single
// parallel region over their concatenated elements; the same bits as adam_step per tensor.
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
void adam_step_multi(const std::vector<AdamTensor<T>>& tensors, const AdamParams& shared);
template <class T>
void sgd_step(T* p, const T* g, T* momentum_buffer, int64_t n, const SgdParams& params);

// Index of the first y[i] that is neither 0 nor 1 (n when there is none): the losses' label check, vectorised.
template <class T>
int64_t first_non_binary(const T* y, int64_t n);

// out[r, :] = x[index[r], :] for r < count; rows of `width` elements. index values are already checked.
template <class T>
void gather_rows(const T* x, const int64_t* index, T* out, int64_t count, int64_t width);
// The transpose: out[index[r], :] += g[r, :] (out pre-filled), in row order so repeated indices add up
// deterministically.
template <class T>
void scatter_add_rows(const T* g, const int64_t* index, T* out, int64_t count, int64_t width);

// --- CNN kernels (NCHW) ---
// Convolution by im2col + GEMM, one image at a time (the GEMM carries the threads). workspace: at least
// conv2d_workspace_elements(s) elements (the column buffer of one image).
int64_t conv2d_workspace_elements(const Conv2dShape& s);
template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, T* y, T* workspace);
template <class T>
void conv2d_backward_data(const Conv2dShape& s, const T* gy, const T* w, T* gx, T* workspace);
// gw is overwritten with dL/dw summed over the batch.
template <class T>
void conv2d_backward_filter(const Conv2dShape& s, const T* gy, const T* x, T* gw, T* workspace);

// Batch normalisation over x [n, c, hw] with PyTorch semantics. Training: batch mean and biased variance
// normalise; save_mean / save_invstd [c] keep them for backward; running_mean / running_var (nullable) move by
// momentum with the UNBIASED variance. Eval: the running statistics normalise (save_* are filled with them).
template <class T>
void batchnorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* save_mean, T* save_invstd, T* running_mean,
                       T* running_var, int64_t n, int64_t c, int64_t hw, bool training, double momentum, double eps);
// dL/dx, dL/dgamma, dL/dbeta (the latter two overwritten; any of the three may be null). training: the batch
// statistics depend on x (the full formula); eval: they are constants.
template <class T>
void batchnorm_backward(const T* x, const T* gy, const T* gamma, const T* save_mean, const T* save_invstd, T* gx,
                        T* ggamma, T* gbeta, int64_t n, int64_t c, int64_t hw, bool training);

// Max pooling; argmax[i] = the winning position (h * w + w) inside its plane; ties keep the first, NaN wins.
template <class T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* argmax);
// gx overwritten; each input gathers the gradients of the outputs it won (deterministic, no scatter).
template <class T>
void max_pool2d_backward(const Pool2dShape& s, const T* gy, const int64_t* argmax, T* gx);
// Adaptive average pooling with PyTorch's bins: rows [floor(i h / h_out), ceil((i + 1) h / h_out)).
template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w, int64_t h_out, int64_t w_out);
template <class T>
void adaptive_avg_pool2d_backward(const T* gy, T* gx, int64_t planes, int64_t h, int64_t w, int64_t h_out,
                                  int64_t w_out);

// SPML loss over a [rows, cols] = [B, C] batch: loss_out[0] = mean over B * C of the element losses (plus EPR's and
// ROLE's batch regularisers), dz = dL/dz. g: the second input of the kinds that have one (loss_has_aux_input: ROLE's
// label-estimate logits, EM+APL's soft targets, LL's selection mask; null otherwise); dg = dL/dg for ROLE (null
// otherwise). Sums are taken row by row in a fixed order (deterministic for any thread count).
template <class T>
void spml_loss(LossKind kind, const T* z, const T* y, const T* g, int64_t rows, int64_t cols, const LossParams& params,
               T* loss_out, T* dz, T* dg);

// LL's large-loss selection over n = B * C entries: mask[i] = 1 for the k unobserved entries (y[i] = 0) with the
// largest logits z (the largest AN losses: -log(1 - sigmoid(z)) grows with z), ties broken by the lower index, and 0
// elsewhere; all unobserved entries when there are fewer than k. Keys are vm::order_key(z), as on CUDA, so both
// backends select the same entries.
template <class T>
void large_loss_mask(const T* z, const T* y, int64_t n, int64_t k, T* mask);

// Thread control shared by OpenMP loops and the BLAS (the project's one thread policy).
void set_num_threads(int n);
int num_threads();

}  // namespace spml::kernels::cpu
