// Vectorisable exp and log (float and double) for the CPU loops: branch-free polynomial implementations (Cephes'
// expf and logf; for double a Taylor exp of degree 13 and fdlibm's log) that GCC auto-vectorises inside
// `#pragma omp simd` loops, within 2 ulp of the C library over the whole range (the sweeps of
// tests/test_vector_math.cpp find 1). exp_/log_ below, the shared math's spelling, use them on the host; CUDA
// device code keeps expf/logf. Special values follow the C library: overflow to +inf, underflow through the
// denormals to 0, exp(-inf) = 0, log(0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, NaN in -> NaN out.
//
// Why bit patterns: with GCC's default -ftrapping-math a select whose condition is a float comparison is not
// if-converted (the loop stays scalar) except with AVX-512 masks, so every condition here is an integer
// comparison of the bit pattern, which vectorises on every x86 level.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/hd.h"

namespace spml::kernels::vm {

SPML_HD int32_t bits(float x) {
  int32_t i;
  memcpy(&i, &x, sizeof i);
  return i;
}
SPML_HD int64_t bits(double x) {
  int64_t i;
  memcpy(&i, &x, sizeof i);
  return i;
}
SPML_HD float float_from_bits(int32_t i) {
  float x;
  memcpy(&x, &i, sizeof x);
  return x;
}
SPML_HD double double_from_bits(int64_t i) {
  double x;
  memcpy(&x, &i, sizeof x);
  return x;
}

// A signed integer with the order of the floats (-0 just below +0; NaNs beyond the infinities by sign).
SPML_HD int32_t order_key(float x) {
  const int32_t i = bits(x);
  return i ^ ((i >> 31) & 0x7fffffff);
}
SPML_HD int64_t order_key(double x) {
  const int64_t i = bits(x);
  return i ^ ((i >> 63) & 0x7fffffffffffffff);
}

SPML_HD bool is_nan(float x) {
  return (bits(x) & 0x7fffffff) > 0x7f800000;
}
SPML_HD bool is_nan(double x) {
  return (bits(x) & 0x7fffffffffffffff) > 0x7ff0000000000000;
}
// Sign bit set (negative numbers, -0, -inf, negative NaNs).
SPML_HD bool sign_bit(float x) {
  return bits(x) < 0;
}
SPML_HD bool sign_bit(double x) {
  return bits(x) < 0;
}
SPML_HD float abs(float x) {
  return float_from_bits(bits(x) & 0x7fffffff);
}
SPML_HD double abs(double x) {
  return double_from_bits(bits(x) & 0x7fffffffffffffff);
}

// c ? a : b as bit operations: a `?:` would let GCC move the work of one side into a branch, which then cannot be
// if-converted (its float operations may trap), so the loop would stay scalar. Integer choices are arithmetic
// on the bool for the same reason.
SPML_HD float select(bool c, float a, float b) {
#if defined(__CUDA_ARCH__)
  return c ? a : b;
#else
  const int32_t m = -int32_t(c);
  return float_from_bits((bits(a) & m) | (bits(b) & ~m));
#endif
}
SPML_HD double select(bool c, double a, double b) {
#if defined(__CUDA_ARCH__)
  return c ? a : b;
#else
  const int64_t m = -int64_t(c);
  return double_from_bits((bits(a) & m) | (bits(b) & ~m));
#endif
}

// exp(x) = 2^n e^r, n = round(x / ln 2), |r| <= ln 2 / 2 (Cody-Waite split of ln 2). 2^n is applied as two factors
// so that results down to the smallest denormal round once, correctly. Out of range inputs compute garbage that
// the final selects replace (clamping the input first would let GCC split the loop body per case).
SPML_HD float exp(float x) {
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23: the sum keeps round(x / ln 2) in its low mantissa bits
  const float t = x * 1.44269504088896341f + kShift;
  const float n = t - kShift;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * (r * r) + r + 1.0f;
  const uint32_t ni = uint32_t(bits(t)) - uint32_t(bits(kShift));
  const uint32_t n1 = uint32_t(int32_t(ni) >> 1), n2 = ni - n1;
  float y = e * float_from_bits(int32_t((n1 + 127u) << 23)) * float_from_bits(int32_t((n2 + 127u) << 23));
  const int32_t key = order_key(x);
  y = select(key < order_key(-104.0f), 0.0f, y);                       // below half the smallest denormal
  y = select(key > order_key(89.0f), float_from_bits(0x7f800000), y);  // above FLT_MAX (from 88.73 on, y is inf)
  return select(is_nan(x), x, y);
}

SPML_HD double exp(double x) {
  constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52
  const double t = x * 1.4426950408889634 + kShift;
  const double n = t - kShift;
  // ln 2 = kLn2Hi + kLn2Lo with kLn2Hi's low 21 bits zero, so n * kLn2Hi is exact.
  const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  // e^r - 1 - r by its Taylor series to r^13 (truncation below 4e-18 for |r| <= ln 2 / 2).
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  const double e = p * (r * r) + r + 1.0;
  const uint64_t ni = uint64_t(bits(t)) - uint64_t(bits(kShift));
  const uint64_t n1 = uint64_t(int64_t(ni) >> 1), n2 = ni - n1;
  double y = e * double_from_bits(int64_t((n1 + 1023u) << 52)) * double_from_bits(int64_t((n2 + 1023u) << 52));
  const int64_t key = order_key(x);
  y = select(key < order_key(-746.0), 0.0, y);
  y = select(key > order_key(710.0), double_from_bits(0x7ff0000000000000), y);
  return select(is_nan(x), x, y);
}

// log(x) = e ln 2 + log(1 + f), 1 + f in [sqrt(1/2), sqrt(2)); denormals are scaled into the normal range first.
SPML_HD float log(float x) {
  const int32_t ix = bits(x);
  const bool denormal = ix < 0x00800000;  // zeros and negatives too: their result is replaced below
  const int32_t is = bits(x * select(denormal, 33554432.0f, 1.0f));  // 2^25
  const int32_t mant = is & 0x007fffff;
  const bool low = (mant | 0x3f000000) < 0x3f3504f3;  // 0.5 * 1.mant < sqrt(1/2): use 1.mant and one less exponent
  const float f = float_from_bits(mant | (0x3f000000 + (int32_t(low) << 23))) - 1.0f;  // exact
  const float e = float(((is >> 23) & 0xff) - 126 - int32_t(low) - 25 * int32_t(denormal));
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float y = p * f * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = (f + y) + e * 0.693359375f;
  const int32_t ax = ix & 0x7fffffff;
  r = select(ix < 0, float_from_bits(0x7fc00000), r);    // negative: NaN
  r = select(ax == 0, -float_from_bits(0x7f800000), r);  // +-0: -inf
  r = select(ix == 0x7f800000, x, r);                    // +inf
  return select(ax > 0x7f800000, x, r);                  // NaN
}

SPML_HD double log(double x) {
  const int64_t ix = bits(x);
  const bool denormal = ix < 0x0010000000000000;
  const int64_t is = bits(x * select(denormal, 18014398509481984.0, 1.0));  // 2^54
  const int64_t mant = is & 0x000fffffffffffff;
  const bool high = mant > 0x6a09e667f3bcc;  // 1.mant > sqrt(2): use 0.5 * 1.mant and one more exponent
  const double f = double_from_bits(mant | (0x3ff0000000000000 - (int64_t(high) << 52))) - 1.0;  // exact
  // The exponent as a double without an int64 -> double conversion (which vectorises only with AVX-512DQ).
  const double biased = double_from_bits(0x4330000000000000 | ((is >> 52) & 0x7ff)) - 4503599627370496.0;
  const double k = biased - select(denormal, 1077.0, 1023.0) + select(high, 1.0, 0.0);
  const double s = f / (2.0 + f), z = s * s, w = z * z;
  const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
  const double t2 =
      z * (6.666666666666735130e-01 +
           w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
  const double hfsq = 0.5 * f * f, big_r = t2 + t1;
  double r = k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + big_r) + k * 1.90821492927058770002e-10)) - f);
  const int64_t ax = ix & 0x7fffffffffffffff;
  r = select(ix < 0, double_from_bits(0x7ff8000000000000), r);
  r = select(ax == 0, -double_from_bits(0x7ff0000000000000), r);
  r = select(ix == 0x7ff0000000000000, x, r);
  return select(ax > 0x7ff0000000000000, x, r);
}

#if !defined(__CUDACC__)
// A fixed-order sum for the CPU reductions: value i of a sequence goes to lane i % 16 (callers feed blocks that
// start on multiples of 16) and the lanes meet in a fixed tree, so the result depends only on the values and
// their order, never on the vector width or the thread count. A is the accumulator type (double for floats).
// CPU only.
template <class A>
struct LaneSum {
  static constexpr int kLanes = 16;
  A lane[kLanes] = {};

  template <class T>
  inline void add(const T* x, int64_t n) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) lane[j] += A(x[i + j]);
    for (int j = 0; i + j < n; ++j) lane[j] += A(x[i + j]);
  }
  A total() const {
    A t[kLanes];
    for (int j = 0; j < kLanes; ++j) t[j] = lane[j];
    for (int w = kLanes / 2; w > 0; w /= 2)
      for (int j = 0; j < w; ++j) t[j] += t[j + w];
    return t[0];
  }
};
#endif

}  // namespace spml::kernels::vm

namespace spml::kernels {

// exp_ / log_: the shared math's spelling; vectorisable on the host, the CUDA library functions on the device.
SPML_HD float exp_(float x) {
#if defined(__CUDA_ARCH__)
  return ::expf(x);
#else
  return vm::exp(x);
#endif
}
SPML_HD double exp_(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return vm::exp(x);
#endif
}
SPML_HD float log_(float x) {
#if defined(__CUDA_ARCH__)
  return ::logf(x);
#else
  return vm::log(x);
#endif
}
SPML_HD double log_(double x) {
#if defined(__CUDA_ARCH__)
  return ::log(x);
#else
  return vm::log(x);
#endif
}

}  // namespace spml::kernels

// The CPU kernels' loops (kernels/cpu) are compiled for AVX-512, AVX2 and baseline x86-64 and picked when the
// program loads (GCC function multi-versioning); FMA contraction is off so all three give the same bits as the
// scalar code (results do not depend on the machine, nor on how a loop is split between threads).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && defined(__x86_64__) && defined(__GLIBC__)
#define SPML_CPU_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off")))
#else
#define SPML_CPU_SIMD_CLONES
#endif
