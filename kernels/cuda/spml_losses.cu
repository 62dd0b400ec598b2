// CUDA fused SPML losses: the element kernel computes every entry's loss and dL/dz (dL/dg for ROLE) in one pass
// with the math shared with the CPU (kernels/common/spml_loss_math.h); the mean is one deterministic reduction.
// EPR and ROLE first need the batch's row sums: a block-per-row kernel and a one-block batch kernel (fixed
// reduction trees, no atomics), whose results the element kernel reads from device memory (no host sync). LL's
// large-loss selection is a stable radix sort (CUB) of the logits' order keys and a marking kernel.
#include <algorithm>
#include <cstdint>
#include <cub/device/device_radix_sort.cuh>
#include <type_traits>

#include "kernels/common/accumulate.h"
#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace spml::kernels::cuda {
namespace {
// Block size of the row-sum and regulariser kernels, kept apart from launch.cuh's kThreads: it is the width of
// block_sum's tree, so changing it changes the regularisers' bits.
constexpr int kSumThreads = 256;

// Workspace layout (elements of T): [0, n) element losses | [n, n + rows) row sums of p |
// [n + rows, n + 2 rows) row sums of Yhat | 4 scalars: coef_p, coef_q, regulariser value, unused.
struct Layout {
  int64_t n, rows;
  int64_t losses() const { return 0; }
  int64_t row_p() const { return n; }
  int64_t row_q() const { return n + rows; }
  int64_t scalars() const { return n + 2 * rows; }
};

// Sums `count` values produced by value(i) with a fixed block-wide tree; the result is valid in thread 0.
template <class Acc, class F>
__device__ Acc block_sum(int64_t count, F value) {
  __shared__ Acc partial[kSumThreads];
  Acc acc = 0;
  for (int64_t i = threadIdx.x; i < count; i += kSumThreads) acc += value(i);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kSumThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  const Acc total = partial[0];
  __syncthreads();  // partial[] may be reused by the caller's next call
  return total;
}

// Row b: sum_c sigmoid(z[b, c]) (and of g for ROLE).
template <class T>
__global__ void row_sums_kernel(const T* z, const T* g, int64_t rows, int64_t cols, T* row_p, T* row_q) {
  for (int64_t b = blockIdx.x; b < rows; b += gridDim.x) {
    const T* zr = z + b * cols;
    const acc_t<T> sp = block_sum<acc_t<T>>(cols, [&](int64_t c) { return acc_t<T>(SigmoidOp::fwd(zr[c], T(0))); });
    acc_t<T> sq = 0;
    if (g) {
      const T* gr = g + b * cols;
      sq = block_sum<acc_t<T>>(cols, [&](int64_t c) { return acc_t<T>(SigmoidOp::fwd(gr[c], T(0))); });
    }
    if (threadIdx.x == 0) {
      row_p[b] = T(sp);
      if (g) row_q[b] = T(sq);
    }
  }
}

// One block: the batch totals, then R values and dR/dx coefficients (batch_regulariser, regulariser_weight).
template <class T>
__global__ void regulariser_kernel(const T* row_p, const T* row_q, int64_t rows, int64_t cols, double k, double weight,
                                   T* scalars) {
  const double sp = double(block_sum<acc_t<T>>(rows, [&](int64_t b) { return acc_t<T>(row_p[b]); }));
  double sq = 0;
  if (row_q) sq = double(block_sum<acc_t<T>>(rows, [&](int64_t b) { return acc_t<T>(row_q[b]); }));
  if (threadIdx.x == 0) {
    const BatchRegulariser reg_p = batch_regulariser(sp, rows, cols, k);
    const BatchRegulariser reg_q = row_q ? batch_regulariser(sq, rows, cols, k) : BatchRegulariser{};
    scalars[0] = T(weight * reg_p.grad);
    scalars[1] = T(weight * reg_q.grad);
    scalars[2] = T(weight * (reg_p.value + reg_q.value));
  }
}

template <class T>
__global__ void element_kernel(LossKind kind, const T* z, const T* y, const T* g, int64_t n, LossParams a, T inv_n,
                               const T* scalars, T* losses, T* dz, T* dg) {
  const T coef_p = scalars ? scalars[0] : T(0), coef_q = scalars ? scalars[1] : T(0);
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T p = scalars ? SigmoidOp::fwd(z[i], T(0)) : T(0);  // only the regularisers need p here
    if (kind == LossKind::ROLE) {
      const RoleElementLoss<T> e = role_element(z[i], g[i], y[i]);
      const T q = SigmoidOp::fwd(g[i], T(0));
      losses[i] = e.loss;
      dz[i] = e.dz * inv_n + regulariser_dz(coef_p, p);
      dg[i] = e.dg * inv_n + regulariser_dz(coef_q, q);
    } else if (g) {  // EM+APL's soft targets or LL's selection mask
      const ElementLoss<T> e = aux_element(kind, z[i], y[i], g[i], a);
      losses[i] = e.loss;
      dz[i] = e.dz * inv_n;
    } else {
      const ElementLoss<T> e = spml_element(kind, z[i], y[i], a);
      losses[i] = e.loss;
      dz[i] = e.dz * inv_n + regulariser_dz(coef_p, p);
    }
  }
}

template <class T>
__global__ void add_scalar_kernel(T* out, const T* value) {
  out[0] += value[0];
}
}  // namespace

int64_t spml_loss_workspace_elements(int64_t rows, int64_t cols) {
  return rows * cols + 2 * rows + 4;
}

template <class T>
void spml_loss(LossKind kind, const T* z, const T* y, const T* g, int64_t rows, int64_t cols, const LossParams& params,
               T* loss_out, T* dz, T* dg, T* workspace, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  LossParams a = params;
  a.num_classes = double(cols);
  const Layout layout{n, rows};
  const bool regularised = kind == LossKind::EPR || kind == LossKind::ROLE;
  T* scalars = workspace + layout.scalars();
  if (regularised) {
    const T* role_g = kind == LossKind::ROLE ? g : nullptr;
    row_sums_kernel<T><<<unsigned(std::min(rows, kMaxBlocks)), kSumThreads, 0, stream>>>(
        z, role_g, rows, cols, workspace + layout.row_p(), workspace + layout.row_q());
    SPML_CUDA_CHECK_LAUNCH();
    regulariser_kernel<T><<<1, kSumThreads, 0, stream>>>(workspace + layout.row_p(),
                                                         role_g ? workspace + layout.row_q() : nullptr, rows, cols,
                                                         a.expected_positives, regulariser_weight(kind), scalars);
    SPML_CUDA_CHECK_LAUNCH();
  }
  element_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
      kind, z, y, g, n, a, T(1.0 / double(n)), regularised ? scalars : nullptr, workspace + layout.losses(), dz, dg);
  SPML_CUDA_CHECK_LAUNCH();
  reduce_sum<T>(workspace + layout.losses(), loss_out, 1, n, 1, T(1.0 / double(n)), stream);
  if (regularised) {
    add_scalar_kernel<T><<<1, 1, 0, stream>>>(loss_out, scalars + 2);
    SPML_CUDA_CHECK_LAUNCH();
  }
}

namespace {
// Unsigned radix keys in the order of vm::order_key (the CPU's key), observed entries 0 (sorted last in a descending
// sort; the marking kernel skips them whatever their place).
template <class T>
using RadixKey = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

template <class T>
__global__ void large_loss_keys_kernel(const T* z, const T* y, int64_t n, RadixKey<T>* keys, int32_t* indices) {
  using Key = RadixKey<T>;
  constexpr Key kSignFlip = Key(1) << (8 * sizeof(Key) - 1);
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    keys[i] = positive_label(y[i]) ? Key(0) : Key(vm::order_key(z[i])) ^ kSignFlip;
    indices[i] = int32_t(i);
  }
}

// sorted: the indices by key descending (ties: the sort is stable, so lower indices first); marks the first k
// unobserved ones.
template <class T>
__global__ void large_loss_mark_kernel(const int32_t* sorted, const T* y, int64_t n, int64_t k, T* mask) {
  for (int64_t j = global_thread(); j < n; j += grid_threads()) {
    const int32_t i = sorted[j];
    mask[i] = (j < k && !positive_label(y[i])) ? T(1) : T(0);
  }
}

constexpr int64_t kAlign = 256;
int64_t aligned(int64_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}
// Workspace layout: keys in | keys out | indices in | indices out | the sort's scratch.
struct MaskLayout {
  int64_t key_bytes, index_bytes, scratch_bytes;
  int64_t keys_in() const { return 0; }
  int64_t keys_out() const { return key_bytes; }
  int64_t indices_in() const { return 2 * key_bytes; }
  int64_t indices_out() const { return 2 * key_bytes + index_bytes; }
  int64_t scratch() const { return 2 * key_bytes + 2 * index_bytes; }
  int64_t total() const { return scratch() + scratch_bytes; }
};
template <class Key>
MaskLayout mask_layout(int64_t n) {
  size_t scratch = 0;
  SPML_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(
      nullptr, scratch, static_cast<const Key*>(nullptr), static_cast<Key*>(nullptr),
      static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), int(n)));
  return {aligned(n * int64_t(sizeof(Key))), aligned(n * int64_t(sizeof(int32_t))), aligned(int64_t(scratch))};
}
}  // namespace

int64_t large_loss_mask_workspace_bytes(int64_t n, int64_t element_size) {
  return (element_size == 4 ? mask_layout<uint32_t>(n) : mask_layout<uint64_t>(n)).total();
}

template <class T>
void large_loss_mask(const T* z, const T* y, int64_t n, int64_t k, T* mask, void* workspace, cudaStream_t stream) {
  if (n <= 0) return;
  SPML_CHECK(n < (int64_t(1) << 31), "large_loss_mask: ", n, " entries exceed the 32-bit indices");
  using Key = RadixKey<T>;
  const MaskLayout layout = mask_layout<Key>(n);
  char* base = static_cast<char*>(workspace);
  Key* keys_in = reinterpret_cast<Key*>(base + layout.keys_in());
  Key* keys_out = reinterpret_cast<Key*>(base + layout.keys_out());
  int32_t* indices_in = reinterpret_cast<int32_t*>(base + layout.indices_in());
  int32_t* indices_out = reinterpret_cast<int32_t*>(base + layout.indices_out());
  large_loss_keys_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(z, y, n, keys_in, indices_in);
  SPML_CUDA_CHECK_LAUNCH();
  size_t scratch = size_t(layout.scratch_bytes);
  SPML_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(base + layout.scratch(), scratch, keys_in, keys_out,
                                                            indices_in, indices_out, int(n), 0, int(8 * sizeof(Key)),
                                                            stream));
  SPML_CUDA_CHECK_LAUNCH();
  large_loss_mark_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(indices_out, y, n, std::max<int64_t>(k, 0), mask);
  SPML_CUDA_CHECK_LAUNCH();
}

template void large_loss_mask<float>(const float*, const float*, int64_t, int64_t, float*, void*, cudaStream_t);
template void large_loss_mask<double>(const double*, const double*, int64_t, int64_t, double*, void*, cudaStream_t);

template void spml_loss<float>(LossKind, const float*, const float*, const float*, int64_t, int64_t, const LossParams&,
                               float*, float*, float*, float*, cudaStream_t);
template void spml_loss<double>(LossKind, const double*, const double*, const double*, int64_t, int64_t,
                                const LossParams&, double*, double*, double*, double*, cudaStream_t);

}  // namespace spml::kernels::cuda
