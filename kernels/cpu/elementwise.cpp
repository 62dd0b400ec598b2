// CPU element-wise, reduction, layout, fill and optimizer loops (see cpu_kernels.h).
#include <omp.h>

#include <cstring>
#include <type_traits>

#include "kernels/common/philox.h"
#include "kernels/cpu/cpu_kernels.h"

namespace spml::kernels {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
      return "neg";
    case UnaryOp::Exp:
      return "exp";
    case UnaryOp::Log:
      return "log";
    case UnaryOp::Sqrt:
      return "sqrt";
    case UnaryOp::Pow:
      return "pow";
    case UnaryOp::Relu:
      return "relu";
    case UnaryOp::Sigmoid:
      return "sigmoid";
    case UnaryOp::Tanh:
      return "tanh";
    case UnaryOp::AddScalar:
      return "add_scalar";
    case UnaryOp::MulScalar:
      return "mul_scalar";
  }
  return "unknown";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "add";
    case BinaryOp::Sub:
      return "sub";
    case BinaryOp::Mul:
      return "mul";
    case BinaryOp::Div:
      return "div";
  }
  return "unknown";
}

}  // namespace spml::kernels

namespace spml::kernels::cpu {
namespace {
// Below this many elements a loop runs on one thread: forking costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

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

// Float sums accumulate in double so the reference is not the least accurate backend.
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;
}  // namespace

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T s) {
  dispatch_unary(op, [&](auto f) {
    using F = decltype(f);
#pragma omp parallel for if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) y[i] = F::fwd(x[i], s);
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T s) {
  dispatch_unary(op, [&](auto f) {
    using F = decltype(f);
#pragma omp parallel for if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) gx[i] = F::bwd(x ? x[i] : T(0), y ? y[i] : T(0), gy[i], s);
  });
}

template <class T>
void binary_forward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, T* out) {
  const int64_t n = numel_of(index);
  const bool flat = same_shape_contiguous(index);
  dispatch_binary(op, [&](auto f) {
    using F = decltype(f);
    if (flat) {
#pragma omp parallel for if (n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) out[i] = F::fwd(a[i], b[i]);
    } else {
#pragma omp parallel for if (n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        int64_t ia, ib;
        index.offsets(i, ia, ib);
        out[i] = F::fwd(a[ia], b[ib]);
      }
    }
  });
}

template <class T>
void binary_backward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, const T* g, T* ga, T* gb) {
  const int64_t n = numel_of(index);
  dispatch_binary(op, [&](auto f) {
    using F = decltype(f);
#pragma omp parallel for if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) {
      int64_t ia, ib;
      index.offsets(i, ia, ib);
      if (ga) ga[i] = F::da(a[ia], b[ib], g[i]);
      if (gb) gb[i] = F::db(a[ia], b[ib], g[i]);
    }
  });
}

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale) {
  const int64_t outputs = outer * inner;
#pragma omp parallel for if (outputs * n > kParallelThreshold && outputs > 1)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      acc_t<T> acc = 0;
      const T* base = x + o * n * inner + i;
      for (int64_t k = 0; k < n; ++k) acc += base[k * inner];
      y[o * inner + i] = static_cast<T>(acc * scale);
    }
  }
}

template <class T>
void broadcast_dim(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale) {
#pragma omp parallel for if (outer * n * inner > kParallelThreshold)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < inner; ++i) y[(o * n + k) * inner + i] = x[o * inner + i] * scale;
}

template <class T>
void transpose2d(const T* x, T* y, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;  // tiles keep both the reads and the writes cache friendly
#pragma omp parallel for if (rows * cols > kParallelThreshold)
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile)
      for (int64_t r = r0; r < std::min(rows, r0 + kTile); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kTile); ++c) y[c * rows + r] = x[r * cols + c];
}

template <class T>
void fill(T* y, int64_t n, T value) {
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

template <class T>
void fill_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(philox_uniform(seed, offset + uint64_t(i), lo, hi));
}

template <class T>
void fill_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev) {
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(philox_normal(seed, offset + uint64_t(i), mean, stddev));
}

template <class Src, class Dst>
void cast(const Src* x, Dst* y, int64_t n) {
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<Dst>(x[i]);
}

template <class T>
void axpy(T* y, const T* x, int64_t n, T alpha) {
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamParams& params) {
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) adam_update(p[i], g[i], m[i], v[i], params);
}

template <class T>
void sgd_step(T* p, const T* g, T* momentum_buffer, int64_t n, const SgdParams& params) {
  T unused = 0;
#pragma omp parallel for if (n > kParallelThreshold) firstprivate(unused)
  for (int64_t i = 0; i < n; ++i) sgd_update(p[i], g[i], momentum_buffer ? momentum_buffer[i] : unused, params);
}

#define SPML_INSTANTIATE_FLOAT(T)                                                                          \
  template void unary_forward<T>(UnaryOp, const T*, T*, int64_t, T);                                       \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t, T);                  \
  template void binary_forward<T>(BinaryOp, const BroadcastIndex&, const T*, const T*, T*);                \
  template void binary_backward<T>(BinaryOp, const BroadcastIndex&, const T*, const T*, const T*, T*, T*); \
  template void reduce_sum<T>(const T*, T*, int64_t, int64_t, int64_t, T);                                 \
  template void broadcast_dim<T>(const T*, T*, int64_t, int64_t, int64_t, T);                              \
  template void fill_uniform<T>(T*, int64_t, uint64_t, uint64_t, double, double);                          \
  template void fill_normal<T>(T*, int64_t, uint64_t, uint64_t, double, double);                           \
  template void axpy<T>(T*, const T*, int64_t, T);                                                         \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, const AdamParams&);                            \
  template void sgd_step<T>(T*, const T*, T*, int64_t, const SgdParams&);
SPML_INSTANTIATE_FLOAT(float)
SPML_INSTANTIATE_FLOAT(double)
#undef SPML_INSTANTIATE_FLOAT

#define SPML_INSTANTIATE_ANY(T)                                 \
  template void transpose2d<T>(const T*, T*, int64_t, int64_t); \
  template void fill<T>(T*, int64_t, T);
SPML_INSTANTIATE_ANY(float)
SPML_INSTANTIATE_ANY(double)
SPML_INSTANTIATE_ANY(uint8_t)
SPML_INSTANTIATE_ANY(int32_t)
SPML_INSTANTIATE_ANY(int64_t)
#undef SPML_INSTANTIATE_ANY

#define SPML_INSTANTIATE_CAST_FROM(S)                          \
  template void cast<S, float>(const S*, float*, int64_t);     \
  template void cast<S, double>(const S*, double*, int64_t);   \
  template void cast<S, uint8_t>(const S*, uint8_t*, int64_t); \
  template void cast<S, int32_t>(const S*, int32_t*, int64_t); \
  template void cast<S, int64_t>(const S*, int64_t*, int64_t);
SPML_INSTANTIATE_CAST_FROM(float)
SPML_INSTANTIATE_CAST_FROM(double)
SPML_INSTANTIATE_CAST_FROM(uint8_t)
SPML_INSTANTIATE_CAST_FROM(int32_t)
SPML_INSTANTIATE_CAST_FROM(int64_t)
#undef SPML_INSTANTIATE_CAST_FROM

}  // namespace spml::kernels::cpu

namespace spml::kernels::cpu {

template <class T>
void gather_rows(const T* x, const int64_t* index, T* out, int64_t count, int64_t width) {
  for (int64_t r = 0; r < count; ++r) std::memcpy(out + r * width, x + index[r] * width, sizeof(T) * size_t(width));
}

template <class T>
void scatter_add_rows(const T* g, const int64_t* index, T* out, int64_t count, int64_t width) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t c = 0; c < width; ++c) out[index[r] * width + c] += g[r * width + c];
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t);
template void scatter_add_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void scatter_add_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t);

}  // namespace spml::kernels::cpu
