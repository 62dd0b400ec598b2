// CPU element-wise, reduction, layout, fill and optimizer loops (see cpu_kernels.h). The loops are written for
// GCC's vectoriser (the op chosen before the loop, `#pragma omp simd`, branch-free math from kernels/common) and
// compiled for AVX-512, AVX2 and baseline x86-64 (SPML_CPU_SIMD_CLONES); OpenMP splits them above a size threshold.
#include <omp.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/common/accumulate.h"
#include "kernels/common/philox.h"
#include "kernels/cpu/cpu_kernels.h"

namespace spml::kernels::cpu {
namespace {
// Below this many elements a loop runs on one thread: forking costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// body(begin, end) over [0, n): on the calling thread below `threshold` (or inside a parallel region), else one
// contiguous slice per thread, slices starting on multiples of 16 elements. Every loop below gives each element
// the same bits whatever the split (no FMA contraction, no reassociation), so results never depend on the threads.
template <class Body>
void parallel_range(int64_t n, int64_t threshold, const Body& body) {
  if (n <= 0) return;
  if (n <= threshold || omp_get_max_threads() == 1 || omp_in_parallel()) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t per = ((n + threads - 1) / threads + 15) / 16 * 16;
    const int64_t begin = std::min(n, t * per), end = std::min(n, begin + per);
    if (begin < end) body(begin, end);
  }
}

int64_t numel_of(const BroadcastIndex& index) {
  int64_t n = 1;
  for (int d = 0; d < index.ndim; ++d) n *= index.out_shape[d];
  return n;
}

// --- vectorised loops: one function per op (the op is chosen before the loop), compiled per x86 level.
// Outputs may be the inputs themselves (relu_ works in place), so the unary loops take no restrict pointers.
template <class F, class T>
SPML_CPU_SIMD_CLONES void unary_forward_loop(const T* x, T* y, int64_t n, T s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = F::fwd(x[i], s);
}

// kX / kY: whether the forward input / output are given (the op's backward reads at most the ones it needs).
template <class F, class T, bool kX, bool kY>
SPML_CPU_SIMD_CLONES void unary_backward_loop(const T* x, const T* y, const T* gy, T* gx, int64_t n, T s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = F::bwd(kX ? x[i] : T(0), kY ? y[i] : T(0), gy[i], s);
}

// pow(x, 2) (the composed losses' squares) as x * x, vectorised: correctly rounded, where libm's pow may round a
// halfway or denormal square the other way (1 ulp); its backward g * 2 * x (pow(x, 1) = x exactly).
template <class T>
SPML_CPU_SIMD_CLONES void square_loop(const T* x, T* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i];
}
template <class T>
SPML_CPU_SIMD_CLONES void pow_backward_square_loop(const T* x, const T* gy, T* gx, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * T(2) * x[i];  // PowOp::bwd at s = 2: g * s * x^1
}

// out[j] = F(a[kA * j], b[kB * j]) along one row: each operand contiguous (1) or one repeated element (0).
template <class F, class T, int kA, int kB>
SPML_CPU_SIMD_CLONES void binary_forward_row(const T* __restrict a, const T* __restrict b, T* __restrict out,
                                             int64_t len) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) out[j] = F::fwd(a[kA * j], b[kB * j]);
}
// The gradient contributions: kWhich 0 -> F::da, 1 -> F::db.
template <class F, class T, int kA, int kB, int kWhich>
SPML_CPU_SIMD_CLONES void binary_backward_row(const T* __restrict a, const T* __restrict b, const T* __restrict g,
                                              T* __restrict out, int64_t len) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j)
    out[j] = kWhich == 0 ? F::da(a[kA * j], b[kB * j], g[j]) : F::db(a[kA * j], b[kB * j], g[j]);
}

// acc[i] += x[k * stride + i] for k < rows, i < width: a sum over a middle dimension, row by row (the order of
// the scalar loop, so the same bits).
template <class T>
SPML_CPU_SIMD_CLONES void add_rows(const T* __restrict x, int64_t rows, int64_t stride, acc_t<T>* __restrict acc,
                                   int64_t width) {
  for (int64_t k = 0; k < rows; ++k) {
    const T* __restrict row = x + k * stride;
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) acc[i] += acc_t<T>(row[i]);
  }
}
template <class T>
SPML_CPU_SIMD_CLONES acc_t<T> sum_contiguous(const T* x, int64_t n) {
  vm::LaneSum<acc_t<T>> sum;
  sum.add(x, n);
  return sum.total();
}

template <class T>
SPML_CPU_SIMD_CLONES void scale_loop(const T* __restrict x, T* __restrict y, int64_t n, T scale) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
}
template <class T>
SPML_CPU_SIMD_CLONES void fill_loop(T* y, int64_t n, T value) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}
template <class Src, class Dst>
SPML_CPU_SIMD_CLONES void cast_loop(const Src* __restrict x, Dst* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<Dst>(x[i]);
}
template <class T>
SPML_CPU_SIMD_CLONES void axpy_loop(T* y, const T* x, int64_t n, T alpha) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Whether any of n labels is neither 0 nor 1 (+-0 and 1.0 on the bit pattern: NaN and everything else count).
template <class T>
SPML_CPU_SIMD_CLONES bool any_non_binary(const T* y, int64_t n) {
  using I = decltype(vm::bits(T(0)));
  const I one = vm::bits(T(1)), magnitude = ~(I(1) << (8 * sizeof(I) - 1));
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t i = 0; i < n; ++i) {
    const I b = vm::bits(y[i]);
    bad |= int((b & magnitude) != 0 && b != one);
  }
  return bad != 0;
}

// --- broadcast binary ops by rows: the output splits into rows of `len` elements along which each operand is
// contiguous (step 1) or one repeated element (step 0): same shapes (one row), a bias [C] on [N, C] (rows of C),
// a bias [C, 1, 1] on [N, C, H, W] (rows of H W), a scalar. Each row's start offsets come from the index map.
struct RowPlan {
  int64_t len = 1;
  int a_step = 1, b_step = 1;
};

RowPlan row_plan(const BroadcastIndex& index) {
  RowPlan plan;
  int a_step = -1, b_step = -1;  // -1: not decided by a dimension of size > 1 yet
  for (int d = index.ndim - 1; d >= 0; --d) {
    const int64_t size = index.out_shape[d];
    if (size == 1) continue;
    const int64_t as = index.a_stride[d], bs = index.b_stride[d];
    const int sa = as == 0 ? 0 : (as == plan.len ? 1 : -2), sb = bs == 0 ? 0 : (bs == plan.len ? 1 : -2);
    if (a_step == -1) {
      if (sa < 0 || sb < 0) break;
      a_step = sa;
      b_step = sb;
    } else if (sa != a_step || sb != b_step) {
      break;
    }
    plan.len *= size;
  }
  plan.a_step = a_step == 0 ? 0 : 1;
  plan.b_step = b_step == 0 ? 0 : 1;
  return plan;
}

// Rows shorter than this go element by element through the index map.
constexpr int64_t kMinRow = 8;

// row(i, ia, ib, len) for the row pieces of [0, n), split between threads as parallel_range does.
template <class Row>
void for_each_row(const BroadcastIndex& index, const RowPlan& plan, int64_t n, const Row& row) {
  parallel_range(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t row_end = std::min(end, (i / plan.len + 1) * plan.len);
      int64_t ia, ib;
      index.offsets(i, ia, ib);
      row(i, ia, ib, row_end - i);
      i = row_end;
    }
  });
}

// Calls f(std::integral_constant<int, kA>, std::integral_constant<int, kB>) for the plan's steps (never both 0:
// the output takes each dimension from an operand that has it).
template <class F>
void dispatch_steps(const RowPlan& plan, const F& f) {
  if (plan.a_step && plan.b_step) {
    f(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
  } else if (plan.a_step) {
    f(std::integral_constant<int, 1>{}, std::integral_constant<int, 0>{});
  } else {
    f(std::integral_constant<int, 0>{}, std::integral_constant<int, 1>{});
  }
}
}  // namespace

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T s) {
  if (op == UnaryOp::Pow && s == T(2)) {  // x * x (square_loop)
    parallel_range(n, kParallelThreshold, [&](int64_t b, int64_t e) { square_loop(x + b, y + b, e - b); });
    return;
  }
  dispatch_unary(op, [&](auto f) {
    using F = decltype(f);
    parallel_range(n, kParallelThreshold,
                   [&](int64_t b, int64_t e) { unary_forward_loop<F, T>(x + b, y + b, e - b, s); });
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T s) {
  if (op == UnaryOp::Pow && s == T(2) && x) {  // g * 2 * pow(x, 1) with pow(x, 1) = x exactly
    parallel_range(n, kParallelThreshold,
                   [&](int64_t b, int64_t e) { pow_backward_square_loop(x + b, gy + b, gx + b, e - b); });
    return;
  }
  dispatch_unary(op, [&](auto f) {
    using F = decltype(f);
    parallel_range(n, kParallelThreshold, [&](int64_t b, int64_t e) {
      const T* xb = x ? x + b : nullptr;
      const T* yb = y ? y + b : nullptr;
      if (x && y) {
        unary_backward_loop<F, T, true, true>(xb, yb, gy + b, gx + b, e - b, s);
      } else if (x) {
        unary_backward_loop<F, T, true, false>(xb, yb, gy + b, gx + b, e - b, s);
      } else if (y) {
        unary_backward_loop<F, T, false, true>(xb, yb, gy + b, gx + b, e - b, s);
      } else {
        unary_backward_loop<F, T, false, false>(xb, yb, gy + b, gx + b, e - b, s);
      }
    });
  });
}

template <class T>
void binary_forward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, T* out) {
  const int64_t n = numel_of(index);
  const RowPlan plan = row_plan(index);
  dispatch_binary(op, [&](auto f) {
    using F = decltype(f);
    if (plan.len < kMinRow && plan.len < n) {
      parallel_range(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          int64_t ia, ib;
          index.offsets(i, ia, ib);
          out[i] = F::fwd(a[ia], b[ib]);
        }
      });
      return;
    }
    dispatch_steps(plan, [&](auto ka, auto kb) {
      for_each_row(index, plan, n, [&](int64_t i, int64_t ia, int64_t ib, int64_t len) {
        binary_forward_row<F, T, decltype(ka)::value, decltype(kb)::value>(a + ia, b + ib, out + i, len);
      });
    });
  });
}

template <class T>
void binary_backward(BinaryOp op, const BroadcastIndex& index, const T* a, const T* b, const T* g, T* ga, T* gb) {
  const int64_t n = numel_of(index);
  const RowPlan plan = row_plan(index);
  dispatch_binary(op, [&](auto f) {
    using F = decltype(f);
    if (plan.len < kMinRow && plan.len < n) {
      parallel_range(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          int64_t ia, ib;
          index.offsets(i, ia, ib);
          if (ga) ga[i] = F::da(a[ia], b[ib], g[i]);
          if (gb) gb[i] = F::db(a[ia], b[ib], g[i]);
        }
      });
      return;
    }
    dispatch_steps(plan, [&](auto ka, auto kb) {
      constexpr int kA = decltype(ka)::value, kB = decltype(kb)::value;
      for_each_row(index, plan, n, [&](int64_t i, int64_t ia, int64_t ib, int64_t len) {
        if (ga) binary_backward_row<F, T, kA, kB, 0>(a + ia, b + ib, g + i, ga + i, len);
        if (gb) binary_backward_row<F, T, kA, kB, 1>(a + ia, b + ib, g + i, gb + i, len);
      });
    });
  });
}

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale) {
  const int64_t outputs = outer * inner;
  if (outputs <= 0) return;
  if (inner == 1) {
    // Contiguous sums in blocks of kBlock values (16 fixed lanes each), blocks added in order: the same bits for
    // any thread count, and one long sum can use every thread.
    constexpr int64_t kBlock = 1 << 14;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    if (outer == 1 && blocks > 1) {
      std::vector<acc_t<T>> partial(std::size_t(blocks), acc_t<T>(0));
      parallel_range(blocks, n > kParallelThreshold ? 1 : blocks, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
          partial[std::size_t(b)] = sum_contiguous(x + b * kBlock, std::min(kBlock, n - b * kBlock));
      });
      acc_t<T> acc = 0;
      for (acc_t<T> v : partial) acc += v;
      y[0] = static_cast<T>(acc * scale);
      return;
    }
    // Several outputs: each sums its own row (blocks of a row in order), rows split between threads.
    parallel_range(outer, outer * n > kParallelThreshold ? 1 : outer, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        acc_t<T> acc = 0;
        for (int64_t k = 0; k < n; k += kBlock) acc += sum_contiguous(x + o * n + k, std::min(kBlock, n - k));
        y[o] = static_cast<T>(acc * scale);
      }
    });
    return;
  }
  // A middle dimension: whole rows of `inner` values added in row order into tiles of accumulators.
  constexpr int64_t kTile = 512;
  const int64_t tiles = (inner + kTile - 1) / kTile;
  parallel_range(outer * tiles, outputs * n > kParallelThreshold ? 1 : outer * tiles, [&](int64_t w0, int64_t w1) {
    acc_t<T> acc[kTile];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t o = w / tiles, i0 = (w % tiles) * kTile, width = std::min(kTile, inner - i0);
      std::fill(acc, acc + width, acc_t<T>(0));
      add_rows(x + o * n * inner + i0, n, inner, acc, width);
      for (int64_t i = 0; i < width; ++i) y[o * inner + i0 + i] = static_cast<T>(acc[i] * scale);
    }
  });
}

template <class T>
void broadcast_dim(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, T scale) {
  // Rows of `inner` values (inner == 1: each x value fills a run of n).
  if (inner == 1) {
    parallel_range(outer, outer * n > kParallelThreshold ? 1 : outer, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) fill_loop(y + o * n, n, x[o] * scale);
    });
    return;
  }
  parallel_range(outer * n, outer * n * inner > kParallelThreshold ? 1 : outer * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) scale_loop(x + (r / n) * inner, y + r * inner, inner, scale);
  });
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
  parallel_range(n, kParallelThreshold, [&](int64_t b, int64_t e) { fill_loop(y + b, e - b, value); });
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
  parallel_range(n, kParallelThreshold, [&](int64_t b, int64_t e) { cast_loop(x + b, y + b, e - b); });
}

template <class T>
void axpy(T* y, const T* x, int64_t n, T alpha) {
  parallel_range(n, kParallelThreshold, [&](int64_t b, int64_t e) { axpy_loop(y + b, x + b, e - b, alpha); });
}

template <class T>
int64_t first_non_binary(const T* y, int64_t n) {
  // A vectorised scan of blocks; only a block with a bad label is searched element by element.
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    if (!any_non_binary(y + b, len)) continue;
    for (int64_t i = b; i < b + len; ++i)
      if (!(y[i] == T(0) || y[i] == T(1))) return i;
  }
  return n;
}

namespace {
// Adam's per-tensor constants, rounded to T exactly as adam_update rounds them.
template <class T>
struct AdamConstants {
  T decay, weight_decay, one_minus_beta1, beta2, one_minus_beta2, step_size, sqrt_bias_correction2, eps;
  bool decoupled, l2;
  explicit AdamConstants(const AdamParams& a)
      : decay(T(1.0 - a.lr * a.weight_decay)),
        weight_decay(T(a.weight_decay)),
        one_minus_beta1(T(1.0 - a.beta1)),
        beta2(T(a.beta2)),
        one_minus_beta2(T(1.0 - a.beta2)),
        step_size(T(a.lr / a.bias_correction1)),
        sqrt_bias_correction2(T(::sqrt(a.bias_correction2))),
        eps(T(a.eps)),
        decoupled(a.decoupled),
        l2(!a.decoupled && a.weight_decay != 0.0) {}
};

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
// Adam 8 floats / 4 doubles at a time with AVX2 (GCC vector types): the operations of adam_update in its order,
// so the same bits. Hand-written because GCC keeps sqrt scalar under -fmath-errno; AVX2 without FMA, so
// nothing is contracted; the update is memory-bound, wider vectors would not help. Returns the elements done.
template <class T>
using Avx2Vec [[gnu::vector_size(32)]] = T;

__attribute__((target("avx2"))) inline Avx2Vec<float> vector_sqrt(Avx2Vec<float> x) {
  return _mm256_sqrt_ps(x);
}
__attribute__((target("avx2"))) inline Avx2Vec<double> vector_sqrt(Avx2Vec<double> x) {
  return _mm256_sqrt_pd(x);
}

template <class T>
__attribute__((target("avx2"))) int64_t adam_avx2(T* p, const T* g, T* m, T* v, int64_t n, const AdamConstants<T>& c) {
  using V = Avx2Vec<T>;
  constexpr int64_t kWidth = int64_t(sizeof(V) / sizeof(T));
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) {
    V vp, vg, vm, vv;
    std::memcpy(&vp, p + i, sizeof(V));
    std::memcpy(&vg, g + i, sizeof(V));
    std::memcpy(&vm, m + i, sizeof(V));
    std::memcpy(&vv, v + i, sizeof(V));
    if (c.decoupled) {
      vp = vp * c.decay;
    } else if (c.l2) {
      vg = vg + c.weight_decay * vp;
    }
    vm = vm + c.one_minus_beta1 * (vg - vm);
    vv = c.beta2 * vv + c.one_minus_beta2 * vg * vg;
    const V denom = vector_sqrt(vv) / c.sqrt_bias_correction2 + c.eps;
    vp = vp - c.step_size * (vm / denom);
    std::memcpy(p + i, &vp, sizeof(V));
    std::memcpy(m + i, &vm, sizeof(V));
    std::memcpy(v + i, &vv, sizeof(V));
  }
  return i;
}
bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#else
template <class T>
int64_t adam_avx2(T*, const T*, T*, T*, int64_t, const AdamConstants<T>&) {
  return 0;
}
bool have_avx2() {
  return false;
}
#endif

template <class T>
void adam_range(T* p, const T* g, T* m, T* v, int64_t n, const AdamParams& a) {
  const int64_t done = have_avx2() ? adam_avx2(p, g, m, v, n, AdamConstants<T>(a)) : 0;
  for (int64_t i = done; i < n; ++i) adam_update(p[i], g[i], m[i], v[i], a);
}
}  // namespace

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamParams& params) {
  adam_step_multi<T>({{p, g, m, v, n, params.bias_correction1, params.bias_correction2}}, params);
}

template <class T>
void adam_step_multi(const std::vector<AdamTensor<T>>& tensors, const AdamParams& shared) {
  // One parallel region over the tensors' concatenated elements; each thread updates its slice of it.
  std::vector<int64_t> start(tensors.size() + 1, 0);
  for (std::size_t t = 0; t < tensors.size(); ++t) start[t + 1] = start[t] + std::max<int64_t>(tensors[t].n, 0);
  parallel_range(start.back(), kParallelThreshold, [&](int64_t begin, int64_t end) {
    std::size_t t = std::size_t(std::upper_bound(start.begin(), start.end(), begin) - start.begin()) - 1;
    for (; t < tensors.size() && start[t] < end; ++t) {
      const AdamTensor<T>& x = tensors[t];
      const int64_t lo = std::max(begin, start[t]) - start[t], hi = std::min(end, start[t + 1]) - start[t];
      if (lo >= hi) continue;
      AdamParams a = shared;
      a.bias_correction1 = x.bias_correction1;
      a.bias_correction2 = x.bias_correction2;
      adam_range(x.p + lo, x.g + lo, x.m + lo, x.v + lo, hi - lo, a);
    }
  });
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
  template void adam_step_multi<T>(const std::vector<AdamTensor<T>>&, const AdamParams&);                  \
  template void sgd_step<T>(T*, const T*, T*, int64_t, const SgdParams&);                                  \
  template int64_t first_non_binary<T>(const T*, int64_t);
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
