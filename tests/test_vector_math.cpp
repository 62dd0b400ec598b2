// The vectorisable exp/log of kernels/common/vector_math.h against the C library (max ulp error over sweeps of
// the whole float range and of double samples, and every special value), and the CPU kernels built on them and
// on the row-wise broadcast loops: the vectorised loops give the scalar function's bits, broadcast binary ops
// match a naive index-map reference, reductions do not depend on the thread count, the label scan finds the first
// bad label.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "framework/core/runtime.h"
#include "framework/core/tensor.h"
#include "kernels/common/vector_math.h"
#include "kernels/cpu/cpu_kernels.h"

namespace spml {
namespace {
namespace vm = kernels::vm;

constexpr int64_t kMaxUlp = 2;  // the bound vector_math.h promises (the sweeps find 1)

// Distance in units in the last place (0 when both are NaN or equal, huge when only one is NaN).
int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : int64_t(1) << 40;
  if (a == b) return 0;
  return std::llabs(int64_t(vm::order_key(a)) - int64_t(vm::order_key(b)));
}
int64_t ulp_distance(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : int64_t(1) << 40;
  if (a == b) return 0;
  const int64_t ka = vm::order_key(a), kb = vm::order_key(b);
  if ((ka < 0) != (kb < 0)) return int64_t(1) << 40;  // opposite signs (keys would overflow)
  return ka > kb ? ka - kb : kb - ka;
}

struct Worst {
  int64_t ulp = 0;
  double at = 0;
};

template <class T, class F, class Ref>
void check(T x, F f, Ref ref, Worst& worst) {
  const int64_t d = ulp_distance(f(x), ref(x));
  if (d > worst.ulp) worst = {d, double(x)};
}

// Every `stride`-th float bit pattern (both signs, denormals, infinities, NaNs), plus dense runs of patterns.
template <class F, class Ref>
Worst sweep_floats(F f, Ref ref, uint32_t stride, const std::vector<std::pair<float, float>>& dense) {
  Worst worst;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += stride)
    check(vm::float_from_bits(int32_t(uint32_t(u))), f, ref, worst);
  for (const auto& [lo, hi] : dense)
    for (int32_t i = vm::bits(lo); i <= vm::bits(hi); ++i) check(vm::float_from_bits(i), f, ref, worst);
  return worst;
}

float vm_exp_f(float x) {
  return vm::exp(x);
}
float vm_log_f(float x) {
  return vm::log(x);
}
float std_exp_f(float x) {
  return std::exp(x);
}
float std_log_f(float x) {
  return std::log(x);
}

TEST(VectorMath, FloatExpWithinTwoUlpOverTheWholeRange) {
  // Dense: the overflow edge, just above 0 and the whole range whose results are denormal (below -87.34).
  const Worst w = sweep_floats(vm_exp_f, std_exp_f, 97, {{88.0f, 89.0f}, {1.0f, 1.001f}});
  Worst denormal;
  for (int32_t i = vm::bits(87.0f); i <= vm::bits(104.0f); ++i)
    check(-vm::float_from_bits(i), vm_exp_f, std_exp_f, denormal);
  std::printf("[ max ulp ] float exp %lld (at %g), denormal results %lld (at %g)\n", (long long)w.ulp, w.at,
              (long long)denormal.ulp, denormal.at);
  EXPECT_LE(w.ulp, kMaxUlp) << "at x = " << w.at;
  EXPECT_LE(denormal.ulp, kMaxUlp) << "at x = " << denormal.at;
}

TEST(VectorMath, FloatLogWithinTwoUlpOverTheWholeRange) {
  // Dense: the denormals' lower part, the normals just above FLT_MIN, and around 1 (where log is smallest).
  const Worst w = sweep_floats(vm_log_f, std_log_f, 97,
                               {{vm::float_from_bits(1), vm::float_from_bits(1 << 18)},
                                {std::numeric_limits<float>::min(), 2 * std::numeric_limits<float>::min()},
                                {0.9f, 1.1f}});
  std::printf("[ max ulp ] float log %lld (at %g)\n", (long long)w.ulp, w.at);
  EXPECT_LE(w.ulp, kMaxUlp) << "at x = " << w.at;
}

TEST(VectorMath, DoubleExpAndLogWithinTwoUlp) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> any_exp(-750, 750), log_arg(-745.5, 709.8), near_one(-0.4, 0.5);
  Worst e, l;
  const auto vexp = [](double x) { return vm::exp(x); };
  const auto sexp = [](double x) { return std::exp(x); };
  const auto vlog = [](double x) { return vm::log(x); };
  const auto slog = [](double x) { return std::log(x); };
  for (int i = 0; i < 1000000; ++i) {
    const double bits = vm::double_from_bits(int64_t(rng()));  // any pattern: both signs, all exponents, NaNs
    check(bits, vexp, sexp, e);
    check(any_exp(rng), vexp, sexp, e);
    check(bits, vlog, slog, l);
    check(std::exp(log_arg(rng)), vlog, slog, l);  // log-uniform positives, denormals included
    check(1.0 + near_one(rng), vlog, slog, l);
  }
  for (double x = 709.0; x < 709.8; x += 1e-4) check(x, vexp, sexp, e);    // the overflow edge
  for (double x = -708.5; x > -746.0; x -= 1e-3) check(x, vexp, sexp, e);  // denormal results
  for (int64_t i = 1; i < (int64_t(1) << 52); i = i * 3 + 1) check(vm::double_from_bits(i), vlog, slog, l);
  std::printf("[ max ulp ] double exp %lld (at %.17g), double log %lld (at %.17g)\n", (long long)e.ulp, e.at,
              (long long)l.ulp, l.at);
  EXPECT_LE(e.ulp, kMaxUlp) << "at x = " << e.at;
  EXPECT_LE(l.ulp, kMaxUlp) << "at x = " << l.at;
}

template <class T>
void expect_special_values() {
  using L = std::numeric_limits<T>;
  const T inf = L::infinity(), nan = L::quiet_NaN();
  for (T x : {T(0),
              -T(0),
              T(1),
              T(-1),
              inf,
              -inf,
              nan,
              -nan,
              L::denorm_min(),
              L::min(),
              L::max(),
              L::lowest(),
              T(88.72283f),
              T(88.72284f),
              T(-87.33655f),
              T(-103.972f),
              T(-103.98f),
              T(709.782712893384),
              T(709.7828),
              T(-745.1332191019411),
              T(-745.2),
              T(1e-30),
              T(-1e-30)}) {
    const T e = vm::exp(x), l = vm::log(x);
    EXPECT_LE(ulp_distance(e, std::exp(x)), kMaxUlp) << "exp(" << x << ") = " << e << ", libm " << std::exp(x);
    EXPECT_LE(ulp_distance(l, std::log(x)), kMaxUlp) << "log(" << x << ") = " << l << ", libm " << std::log(x);
  }
  EXPECT_EQ(vm::exp(inf), inf);
  EXPECT_EQ(vm::exp(-inf), T(0));
  EXPECT_EQ(vm::exp(-T(0)), T(1));
  EXPECT_TRUE(std::isnan(vm::exp(nan)) && std::isnan(vm::exp(-nan)));
  EXPECT_EQ(vm::log(T(0)), -inf);
  EXPECT_EQ(vm::log(-T(0)), -inf);
  EXPECT_EQ(vm::log(inf), inf);
  EXPECT_EQ(vm::log(T(1)), T(0));
  for (T x : {T(-1), -L::denorm_min(), -inf, nan, -nan}) EXPECT_TRUE(std::isnan(vm::log(x))) << "log(" << x << ")";
  EXPECT_GT(vm::exp(T(std::is_same_v<T, float> ? -103.9f : -745.1)), T(0));  // the last denormal is reached
  EXPECT_EQ(vm::log(L::denorm_min()), std::log(L::denorm_min()));
}

TEST(VectorMath, SpecialValuesFloat) {
  expect_special_values<float>();
}
TEST(VectorMath, SpecialValuesDouble) {
  expect_special_values<double>();
}

TEST(VectorMath, ExpLogOfTheSharedMathUseTheVectorisableVersionsOnTheHost) {
  for (double x : {-3.25, 0.1, 7.5}) {
    EXPECT_EQ(kernels::exp_(x), vm::exp(x));
    EXPECT_EQ(kernels::log_(x + 4), vm::log(x + 4));
    EXPECT_EQ(kernels::exp_(float(x)), vm::exp(float(x)));
    EXPECT_EQ(kernels::log_(float(x + 4)), vm::log(float(x + 4)));
  }
}

// Values for the kernels: a spread of magnitudes plus the special ones, n not a multiple of any vector width.
template <class T>
std::vector<T> kernel_inputs(int64_t n, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, scale);
  std::vector<T> x(static_cast<std::size_t>(n));
  for (T& v : x) v = T(normal(rng));
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T special[] = {T(0), -T(0), inf, -inf, nan, T(1e-40), T(-1e-40), T(100), T(-100), T(800), T(-800)};
  for (std::size_t i = 0; i < std::size(special); ++i) x[i * 37 % x.size()] = special[i];
  return x;
}

template <class T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  int64_t mismatches = 0;
  for (std::size_t i = 0; i < got.size(); ++i) mismatches += ulp_distance(got[i], want[i]) != 0;
  EXPECT_EQ(mismatches, 0) << what;
}

template <class T>
void expect_kernels_match_scalar_math() {
  const int64_t n = (1 << 16) + 13;  // above the parallel threshold, with a remainder
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const std::vector<T> x = kernel_inputs<T>(n, 30, 1), g = kernel_inputs<T>(n, 1, 2);
    std::vector<T> y(x.size()), want(x.size()), gx(x.size());
    using kernels::UnaryOp;
    const struct {
      UnaryOp op;
      std::function<T(T)> f;
    } cases[] = {{UnaryOp::Exp, [](T v) { return vm::exp(v); }},
                 {UnaryOp::Log, [](T v) { return vm::log(v); }},
                 {UnaryOp::Sigmoid, [](T v) { return kernels::SigmoidOp::fwd(v, T(0)); }},
                 {UnaryOp::Relu, [](T v) { return kernels::ReluOp::fwd(v, T(0)); }}};
    for (const auto& c : cases) {
      kernels::cpu::unary_forward(c.op, x.data(), y.data(), n, T(0));
      for (std::size_t i = 0; i < x.size(); ++i) want[i] = c.f(x[i]);
      expect_same_bits(y, want, kernels::unary_op_name(c.op));
    }
    // Backward of sigmoid (reads y) and relu (reads x); pow(., 2) is x * x exactly (correctly rounded, where
    // powf / pow may round a halfway or denormal square the other way).
    kernels::cpu::unary_forward(UnaryOp::Sigmoid, x.data(), y.data(), n, T(0));
    kernels::cpu::unary_backward(UnaryOp::Sigmoid, static_cast<const T*>(nullptr), y.data(), g.data(), gx.data(), n,
                                 T(0));
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = kernels::SigmoidOp::bwd(T(0), y[i], g[i], T(0));
    expect_same_bits(gx, want, "sigmoid backward");
    kernels::cpu::unary_backward(UnaryOp::Relu, x.data(), static_cast<const T*>(nullptr), g.data(), gx.data(), n, T(0));
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = kernels::ReluOp::bwd(x[i], T(0), g[i], T(0));
    expect_same_bits(gx, want, "relu backward");
    kernels::cpu::unary_forward(UnaryOp::Pow, g.data(), y.data(), n, T(2));
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = g[i] * g[i];
    expect_same_bits(y, want, "pow 2");
  }
  set_num_threads(0);
}

TEST(CpuKernels, VectorisedUnaryLoopsGiveTheScalarFunctionsBits) {
  expect_kernels_match_scalar_math<float>();
  expect_kernels_match_scalar_math<double>();
}

// A broadcast index map from two shapes, the way framework/ops/elementwise.cpp builds it.
kernels::BroadcastIndex index_of(const Shape& out, const Shape& a, const Shape& b) {
  kernels::BroadcastIndex index;
  index.ndim = int(out.size());
  int64_t sa = 1, sb = 1;
  for (int d = index.ndim - 1; d >= 0; --d) {
    const std::size_t ia = a.size() - (out.size() - std::size_t(d)), ib = b.size() - (out.size() - std::size_t(d));
    const int64_t na = d >= int(out.size() - a.size()) ? a[ia] : 1, nb = d >= int(out.size() - b.size()) ? b[ib] : 1;
    index.out_shape[d] = out[std::size_t(d)];
    index.a_stride[d] = na == 1 ? 0 : sa;
    index.b_stride[d] = nb == 1 ? 0 : sb;
    sa *= na;
    sb *= nb;
  }
  return index;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

TEST(CpuKernels, BroadcastBinaryOpsMatchTheIndexMapElementByElement) {
  struct Case {
    Shape out, a, b;
  };
  const Case cases[] = {
      {{300, 257}, {300, 257}, {300, 257}},        // same shape: one row
      {{512, 256}, {512, 256}, {256}},             // bias [C] on [N, C]
      {{4, 64, 9, 9}, {4, 64, 9, 9}, {64, 1, 1}},  // bias [C, 1, 1] on NCHW
      {{3, 70000}, {1}, {3, 70000}},               // scalar on the left, above the parallel threshold
      {{130, 129}, {130, 1}, {1, 129}},            // outer product
      {{5, 6, 40}, {6, 1}, {5, 1, 40}},            // both broadcast, rows of 40
      {{2, 3, 5}, {3, 5}, {2, 1, 1}},              // short rows: element by element
      {{}, {}, {}},                                // scalars
  };
  set_num_threads(2);
  for (const Case& c : cases) {
    const kernels::BroadcastIndex index = index_of(c.out, c.a, c.b);
    const int64_t n = numel(c.out);
    const std::vector<double> a = kernel_inputs<double>(numel(c.a), 2, 3), b = kernel_inputs<double>(numel(c.b), 2, 4);
    const std::vector<double> g = kernel_inputs<double>(n, 1, 5);
    const std::size_t size = static_cast<std::size_t>(n);
    std::vector<double> out(size), ga(size), gb(size);
    for (kernels::BinaryOp op :
         {kernels::BinaryOp::Add, kernels::BinaryOp::Sub, kernels::BinaryOp::Mul, kernels::BinaryOp::Div}) {
      kernels::cpu::binary_forward(op, index, a.data(), b.data(), out.data());
      kernels::cpu::binary_backward(op, index, a.data(), b.data(), g.data(), ga.data(), gb.data());
      std::vector<double> want(out.size()), want_a(out.size()), want_b(out.size());
      kernels::dispatch_binary(op, [&](auto f) {
        using F = decltype(f);
        for (int64_t i = 0; i < n; ++i) {
          int64_t ia, ib;
          index.offsets(i, ia, ib);
          want[std::size_t(i)] = F::fwd(a[std::size_t(ia)], b[std::size_t(ib)]);
          want_a[std::size_t(i)] = F::da(a[std::size_t(ia)], b[std::size_t(ib)], g[std::size_t(i)]);
          want_b[std::size_t(i)] = F::db(a[std::size_t(ia)], b[std::size_t(ib)], g[std::size_t(i)]);
        }
      });
      const std::string what = std::string(kernels::binary_op_name(op)) + " " + shape_str(c.out);
      expect_same_bits(out, want, (what + " forward").c_str());
      expect_same_bits(ga, want_a, (what + " da").c_str());
      expect_same_bits(gb, want_b, (what + " db").c_str());
    }
  }
  set_num_threads(0);
}

TEST(CpuKernels, ReductionsDoNotDependOnTheThreadCount) {
  std::vector<float> x = kernel_inputs<float>((1 << 20) + 7, 1, 6);
  for (std::size_t i = 0; i < 11; ++i) x[i * 37 % x.size()] = 0.5f;  // finite values only
  struct Shape3 {
    int64_t outer, n, inner;
  };
  for (const Shape3 s :
       {Shape3{1, int64_t(x.size()), 1}, Shape3{257, 4080, 1}, Shape3{1, 4096, 256}, Shape3{7, 99, 1513}}) {
    const int64_t outputs = s.outer * s.inner;
    std::vector<float> one(static_cast<std::size_t>(outputs)), two(one.size());
    set_num_threads(1);
    kernels::cpu::reduce_sum(x.data(), one.data(), s.outer, s.n, s.inner, 1.0f);
    set_num_threads(2);
    kernels::cpu::reduce_sum(x.data(), two.data(), s.outer, s.n, s.inner, 1.0f);
    expect_same_bits(one, two, "reduce_sum");
    // And the sums are right: each output against a double sum in order.
    double worst = 0;
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i) {
        double want = 0;
        for (int64_t k = 0; k < s.n; ++k) want += x[std::size_t((o * s.n + k) * s.inner + i)];
        worst = std::max(worst,
                         std::fabs(double(one[std::size_t(o * s.inner + i)]) - want) / std::max(1.0, std::fabs(want)));
      }
    EXPECT_LT(worst, 1e-6) << s.outer << " x " << s.n << " x " << s.inner;
  }
  set_num_threads(0);
}

template <class T>
void expect_first_non_binary() {
  std::vector<T> y(10003);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = T(i % 3 == 0);
  y[17] = -T(0);  // -0 is a 0
  EXPECT_EQ(kernels::cpu::first_non_binary(y.data(), int64_t(y.size())), int64_t(y.size()));
  for (T bad : {T(2), T(0.5), T(-1), std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::denorm_min(),
                std::numeric_limits<T>::infinity(), std::nextafter(T(1), T(2))}) {
    for (std::size_t at : {std::size_t(0), std::size_t(4095), std::size_t(4096), y.size() - 1}) {
      std::vector<T> v = y;
      v[at] = bad;
      v[y.size() - 1 - at / 2] = T(3);  // a later bad value too (earlier only when at is the last index)
      const std::size_t first = std::min(at, y.size() - 1 - at / 2);
      EXPECT_EQ(kernels::cpu::first_non_binary(v.data(), int64_t(v.size())), int64_t(first)) << bad << " at " << at;
    }
  }
}

TEST(CpuKernels, FirstNonBinaryFindsTheFirstLabelThatIsNeitherZeroNorOne) {
  expect_first_non_binary<float>();
  expect_first_non_binary<double>();
}

TEST(CpuKernels, LaneSumIsAFixedTreeOverSixteenLanes) {
  std::vector<double> x(37);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::ldexp(1.0 + double(i), int(i % 5) * 20);
  vm::LaneSum<double> whole, pieces;
  whole.add(x.data(), int64_t(x.size()));
  pieces.add(x.data(), 16);
  pieces.add(x.data() + 16, 21);  // blocks starting on multiples of 16 give the same lanes
  double lane[16] = {};
  for (std::size_t i = 0; i < x.size(); ++i) lane[i % 16] += x[i];
  for (int w = 8; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
  EXPECT_EQ(whole.total(), lane[0]);
  EXPECT_EQ(pieces.total(), lane[0]);
}

}  // namespace
}  // namespace spml
