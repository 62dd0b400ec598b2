// CUDA convolutions beyond the op table's conv2d rows: the float64 im2col + cuBLAS GEMM fallback (forced) against
// the CPU, cuDNN at ResNet-like shapes whose workspace grows from call to call, deterministic mode repeating bit for
// bit, and the candidate loop behind cuDNN's algorithm fallback (host-only: it runs without a GPU). Every CUDA test
// skips with "no CUDA device" where none is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "framework/core/runtime.h"
#include "framework/ops/cnn.h"
#include "kernels/common/candidate_fallback.h"
#include "test_util.h"

#if SPML_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace spml {
namespace {
const Device kCuda = Device::cuda(0);

// ---------------------------------------------------------------------------------------------------------------
// The candidate loop (kernels/common/candidate_fallback.h): no GPU needed.

using kernels::AttemptResult;
using kernels::run_first_that_works;

struct FakeAlgo {
  std::string name;
  bool works;
};

TEST(ConvCandidateFallback, SkipsFailingCandidatesInOrderAndStopsAtTheFirstThatRuns) {
  const std::vector<FakeAlgo> algos{{"A", false}, {"B", false}, {"C", true}, {"D", true}};
  std::vector<std::string> tried;
  const std::size_t ran = run_first_that_works(
      algos,
      [&](const FakeAlgo& a) {
        tried.push_back(a.name);
        return a.works ? AttemptResult::success() : AttemptResult::try_next("NOT_SUPPORTED");
      },
      [](const FakeAlgo& a) { return a.name; }, [] { return std::string("conv"); });
  EXPECT_EQ(ran, 2u);
  EXPECT_EQ(tried, (std::vector<std::string>{"A", "B", "C"}));  // D is never tried
}

TEST(ConvCandidateFallback, TheFirstCandidateRunsAloneWhenItWorks) {
  int attempts = 0, contexts = 0;
  const std::vector<FakeAlgo> algos{{"A", true}, {"B", true}};
  EXPECT_EQ(run_first_that_works(
                algos,
                [&](const FakeAlgo&) {
                  ++attempts;
                  return AttemptResult::success();
                },
                [](const FakeAlgo& a) { return a.name; },
                [&] {
                  ++contexts;
                  return std::string("conv");
                }),
            0u);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(contexts, 0);  // the message is only built when nothing runs
}

TEST(ConvCandidateFallback, ThrowsNamingEveryCandidateTriedAndItsStatus) {
  const std::vector<FakeAlgo> algos{{"IMPLICIT_GEMM", false}, {"DIRECT", false}, {"GEMM", false}};
  int attempts = 0;
  const auto run = [&] {
    run_first_that_works(
        algos,
        [&](const FakeAlgo& a) {
          ++attempts;
          return AttemptResult::try_next(a.name == "DIRECT" ? "CUDNN_STATUS_EXECUTION_FAILED_CUDART"
                                                            : "CUDNN_STATUS_NOT_SUPPORTED_SHAPE");
        },
        [](const FakeAlgo& a) { return a.name; }, [] { return std::string("conv2d (cuDNN): no forward algorithm"); });
  };
  EXPECT_ERROR_CONTAINS(
      run(), "conv2d (cuDNN): no forward algorithm", "none of 3 candidates ran",
      "IMPLICIT_GEMM (CUDNN_STATUS_NOT_SUPPORTED_SHAPE); DIRECT (CUDNN_STATUS_EXECUTION_FAILED_CUDART); "
      "GEMM (CUDNN_STATUS_NOT_SUPPORTED_SHAPE)");
  EXPECT_EQ(attempts, 3);
}

TEST(ConvCandidateFallback, AnEmptyListThrows) {
  const std::vector<FakeAlgo> none;
  EXPECT_ERROR_CONTAINS(run_first_that_works(
                            none, [](const FakeAlgo&) { return AttemptResult::success(); },
                            [](const FakeAlgo& a) { return a.name; }, [] { return std::string("conv"); }),
                        "conv: no candidate to try");
}

// An error no other candidate can avoid (a device fault) is thrown by the attempt: it leaves the loop as it is, and
// no later candidate runs.
TEST(ConvCandidateFallback, AnErrorThrownByAnAttemptStopsTheLoop) {
  const std::vector<FakeAlgo> algos{{"A", false}, {"B", false}, {"C", true}};
  std::vector<std::string> tried;
  const auto run = [&] {
    run_first_that_works(
        algos,
        [&](const FakeAlgo& a) -> AttemptResult {
          tried.push_back(a.name);
          if (a.name == "B") throw Error("CUDA error 700 (an illegal memory access was encountered)");
          return AttemptResult::try_next("NOT_SUPPORTED");
        },
        [](const FakeAlgo& a) { return a.name; }, [] { return std::string("conv"); });
  };
  EXPECT_ERROR_CONTAINS(run(), "illegal memory access");
  EXPECT_EQ(tried, (std::vector<std::string>{"A", "B"}));
}

// ---------------------------------------------------------------------------------------------------------------
// CUDA convolutions against the CPU.

struct ConvCase {
  const char* name;
  int64_t n, c_in, h, w, c_out, k, stride, pad;
};

// What one conv2d with bias gives: the output and the gradients of input, weight and bias for a fixed upstream
// gradient.
struct ConvResult {
  Tensor y, gx, gw, gb;
};

// x [n, c_in, h, w], w [c_out, c_in, k, k], b [c_out], gy like y: host tensors, moved to `device` (and dtype).
ConvResult run_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy, Conv2dOptions options,
                    Device device, DType dtype) {
  // Fresh leaves every time (to() returns the tensor itself when nothing changes, and the inputs are reused).
  const auto fresh_leaf = [&](const Tensor& t) { return test::leaf(t.to(dtype).to(device).clone()); };
  Tensor xd = fresh_leaf(x), wd = fresh_leaf(w), bd = fresh_leaf(b);
  const Tensor y = conv2d(xd, wd, bd, options);
  y.backward(gy.to(dtype).to(device));
  return {y, xd.grad(), wd.grad(), bd.grad()};
}

struct ConvInputs {
  Tensor x, w, b, gy;
};

// Inputs in [-1, 1] from fixed seeds; float32-representable, so the float64 CPU result is the exact reference of a
// float32 run too.
ConvInputs make_inputs(const ConvCase& c, uint64_t seed) {
  const int64_t h_out = (c.h + 2 * c.pad - c.k) / c.stride + 1, w_out = (c.w + 2 * c.pad - c.k) / c.stride + 1;
  const auto f32 = [](const Tensor& t) { return t.to(DType::Float32).to(DType::Float64); };
  return {f32(test::random_tensor({c.n, c.c_in, c.h, c.w}, seed)),
          f32(test::random_tensor({c.c_out, c.c_in, c.k, c.k}, seed + 1)),
          f32(test::random_tensor({c.c_out}, seed + 2)),
          f32(test::random_tensor({c.n, c.c_out, h_out, w_out}, seed + 3))};
}

// Every result of `got` within rel_tol x max|want| + abs_tol of the CPU float64 reference `want`.
void expect_close(const ConvResult& got, const ConvResult& want, double rel_tol, double abs_tol,
                  const std::string& what) {
  const auto check = [&](const Tensor& g, const Tensor& r, const char* which) {
    ASSERT_TRUE(g.defined()) << what << ": no " << which;
    ASSERT_EQ(g.shape(), r.shape()) << what << ": " << which;
    const Tensor g64 = g.to(Device::cpu()).to(DType::Float64);
    const double scale = max_abs_diff(r, Tensor::zeros_like(r));
    EXPECT_LE(max_abs_diff(g64, r), rel_tol * scale + abs_tol)
        << what << ": " << which << " (max |ref| " << scale << ", relative error " << test::relative_error(g64, r)
        << ")";
  };
  check(got.y, want.y, "output");
  check(got.gx, want.gx, "grad input");
  check(got.gw, want.gw, "grad weight");
  check(got.gb, want.gb, "grad bias");
}

// The bit-for-bit comparison of two runs.
void expect_identical(const ConvResult& a, const ConvResult& b, const std::string& what) {
  EXPECT_EQ(max_abs_diff(a.y, b.y), 0.0) << what << ": output";
  EXPECT_EQ(max_abs_diff(a.gx, b.gx), 0.0) << what << ": grad input";
  EXPECT_EQ(max_abs_diff(a.gw, b.gw), 0.0) << what << ": grad weight";
  EXPECT_EQ(max_abs_diff(a.gb, b.gb), 0.0) << what << ": grad bias";
}

// The convolution policy is process-wide: a test fixture holds one of these, which puts back on destruction what was
// set when it was made (a test binary may run with a policy of its own, e.g. FFT/Winograd excluded for parity).
class ConvPolicyRestorer {
 public:
  ConvPolicyRestorer()
      : exclude_(conv_exclude_fft_winograd()),
        force_(conv_force_im2col()),
        deterministic_(deterministic_convolutions()) {}
  ~ConvPolicyRestorer() {
    set_conv_exclude_fft_winograd(exclude_);
    set_conv_force_im2col(force_);
    set_deterministic_convolutions(deterministic_);
  }
  ConvPolicyRestorer(const ConvPolicyRestorer&) = delete;
  ConvPolicyRestorer& operator=(const ConvPolicyRestorer&) = delete;

 private:
  bool exclude_, force_, deterministic_;
};

TEST(ConvPolicy, SettingsRoundTrip) {
  const ConvPolicyRestorer restore;
  for (const bool value : {true, false}) {
    set_conv_exclude_fft_winograd(value);
    set_conv_force_im2col(!value);
    EXPECT_EQ(conv_exclude_fft_winograd(), value);
    EXPECT_EQ(conv_force_im2col(), !value);
  }
}

class CudaConvTest : public ::testing::Test {
 protected:
  void SetUp() override { SPML_SKIP_WITHOUT_CUDA(); }
  ConvPolicyRestorer policy_;
};

// Odd spatial sizes throughout; strides 1 and 2, pointwise with and without stride, the 7x7 stem.
const std::vector<ConvCase>& im2col_cases() {
  static const std::vector<ConvCase> cases{
      {"k3_s1_p1", 2, 5, 11, 9, 6, 3, 1, 1},  {"k3_s2_p1", 3, 4, 13, 11, 5, 3, 2, 1},
      {"k1_s1_p0", 2, 6, 9, 7, 4, 1, 1, 0},   {"k1_s2_p0", 2, 6, 9, 11, 5, 1, 2, 0},
      {"k7_s2_p3", 2, 3, 17, 15, 4, 7, 2, 3}, {"k3_s2_p0", 2, 3, 10, 7, 3, 3, 2, 0},
      {"k5_s1_p2", 1, 2, 5, 6, 3, 5, 1, 2},
  };
  return cases;
}

// The float64 fallback, forced: im2col + cublasDgemm against the CPU's im2col + GEMM, to rounding.
TEST_F(CudaConvTest, ForcedIm2colFloat64MatchesTheCpu) {
  set_conv_force_im2col(true);
  uint64_t seed = 100;
  for (const ConvCase& c : im2col_cases()) {
    const ConvInputs in = make_inputs(c, seed += 10);
    const Conv2dOptions o{c.stride, c.pad};
    const ConvResult want = run_conv(in.x, in.w, in.b, in.gy, o, Device::cpu(), DType::Float64);
    const ConvResult got = run_conv(in.x, in.w, in.b, in.gy, o, kCuda, DType::Float64);
    expect_close(got, want, 1e-12, 0, c.name);
  }
}

// The same path in float32 (cublasSgemm, no TF32): float rounding relative to the values' scale.
TEST_F(CudaConvTest, ForcedIm2colFloat32MatchesTheCpu) {
  set_conv_force_im2col(true);
  uint64_t seed = 200;
  for (const ConvCase& c : im2col_cases()) {
    const ConvInputs in = make_inputs(c, seed += 10);
    const Conv2dOptions o{c.stride, c.pad};
    const ConvResult want = run_conv(in.x, in.w, in.b, in.gy, o, Device::cpu(), DType::Float64);
    const ConvResult got = run_conv(in.x, in.w, in.b, in.gy, o, kCuda, DType::Float32);
    expect_close(got, want, 2e-5, 1e-6, c.name);
  }
}

#if SPML_WITH_CUDA
kernels::Conv2dShape shape_of(const ConvCase& c) {
  kernels::Conv2dShape s{};
  s.n = c.n, s.c_in = c.c_in, s.h = c.h, s.w = c.w, s.c_out = c.c_out, s.kh = c.k, s.kw = c.k;
  s.stride_h = s.stride_w = c.stride, s.pad_h = s.pad_w = c.pad;
  s.h_out = (c.h + 2 * c.pad - c.k) / c.stride + 1, s.w_out = (c.w + 2 * c.pad - c.k) / c.stride + 1;
  return s;
}

// The workspace conv2d_prepare asks for, per pass (what the framework's buffer grows to).
std::vector<std::size_t> prepared_bytes(const ConvCase& c, bool is_double, bool deterministic) {
  const cuda_runtime::DeviceGuard guard(0);
  std::vector<std::size_t> bytes;
  for (const auto pass : {kernels::cuda::ConvPass::Forward, kernels::cuda::ConvPass::BackwardData,
                          kernels::cuda::ConvPass::BackwardFilter})
    bytes.push_back(kernels::cuda::conv2d_prepare(cuda_runtime::cudnn_handle(0), shape_of(c), is_double, pass,
                                                  deterministic, std::size_t(512) << 20));
  return bytes;
}
#endif

// Forcing im2col routes conv2d_prepare to the columns' size (0 for a 1x1 stride-1 convolution), whatever cuDNN offers.
TEST_F(CudaConvTest, ForcedIm2colPreparesTheColumnsWorkspace) {
#if SPML_WITH_CUDA
  set_conv_force_im2col(true);
  for (const ConvCase& c : im2col_cases()) {
    const kernels::Conv2dShape s = shape_of(c);
    const std::size_t columns = c.k == 1 && c.stride == 1 ? 0 : std::size_t(c.c_in * c.k * c.k * s.h_out * s.w_out);
    EXPECT_EQ(kernels::cuda::conv2d_im2col_workspace_bytes(s, sizeof(double)), columns * sizeof(double)) << c.name;
    for (const std::size_t bytes : prepared_bytes(c, true, false)) EXPECT_EQ(bytes, columns * sizeof(double)) << c.name;
    for (const std::size_t bytes : prepared_bytes(c, false, true)) EXPECT_EQ(bytes, columns * sizeof(float)) << c.name;
  }
#endif
}

// ResNet-like layers in order of growing size, so the framework's one cuDNN workspace is re-grown between calls: the
// stem, 3x3 stride 1 and 2, 1x1 downsampling (stride 2) and expansion (stride 1), then larger layers.
const std::vector<ConvCase>& resnet_cases() {
  static const std::vector<ConvCase> cases{
      {"stem_k7_s2_p3_small", 2, 3, 32, 32, 8, 7, 2, 3},  {"k3_s1_p1", 2, 16, 16, 16, 16, 3, 1, 1},
      {"k3_s2_p1", 2, 16, 16, 16, 32, 3, 2, 1},           {"downsample_k1_s2", 2, 16, 16, 16, 32, 1, 2, 0},
      {"expand_k1_s1", 2, 32, 15, 15, 64, 1, 1, 0},       {"k3_s1_p1_large", 4, 64, 28, 28, 64, 3, 1, 1},
      {"k3_s2_p1_large", 4, 64, 29, 29, 128, 3, 2, 1},    {"stem_k7_s2_p3", 4, 3, 112, 112, 64, 7, 2, 3},
      {"k3_s1_p1_largest", 8, 128, 28, 28, 128, 3, 1, 1},
  };
  return cases;
}

class CudaConvCudnn : public test::CudaDTypeTest {
 protected:
  ConvPolicyRestorer policy_;
};

// cuDNN with FFT and Winograd excluded (as in parity runs), in the default and the deterministic algorithm choice,
// against the CPU's float64 reference, within a bound relative to the values' scale:
//   float32: max |CUDA - CPU| <= 1e-4 x max |CPU| + 1e-6 (sums of up to ~6300 products of values in [-1, 1]);
//   float64: max |CUDA - CPU| <= 1e-11 x max |CPU|.
// The workspace each pass asks for is printed ([conv-workspace]); which algorithms need how much is cuDNN's choice.
TEST_P(CudaConvCudnn, MatchesTheCpuAtResNetShapesWithAGrowingWorkspace) {
  set_conv_exclude_fft_winograd(true);
  const bool is_double = GetParam() == DType::Float64;
  const double rel_tol = is_double ? 1e-11 : 1e-4, abs_tol = is_double ? 0 : 1e-6;
  uint64_t seed = 300;
  for (const ConvCase& c : resnet_cases()) {
    const ConvInputs in = make_inputs(c, seed += 10);
    const Conv2dOptions o{c.stride, c.pad};
    const ConvResult want = run_conv(in.x, in.w, in.b, in.gy, o, Device::cpu(), DType::Float64);
    for (const bool deterministic : {false, true}) {
      set_deterministic_convolutions(deterministic);
      const std::string what = std::string(c.name) + (deterministic ? " (deterministic)" : "");
#if SPML_WITH_CUDA
      const std::vector<std::size_t> bytes = prepared_bytes(c, is_double, deterministic);
      std::printf("[conv-workspace] %s %s: forward %zu, backward data %zu, backward filter %zu bytes\n",
                  dtype_name(GetParam()), what.c_str(), bytes[0], bytes[1], bytes[2]);
#endif
      const ConvResult got = run_conv(in.x, in.w, in.b, in.gy, o, kCuda, GetParam());
      expect_close(got, want, rel_tol, abs_tol, what);
    }
  }
}

// Deterministic mode: the same convolution and backward twice give the same bits, through cuDNN and through the
// forced im2col path (whose col2im is a gather, no atomics).
TEST_P(CudaConvCudnn, DeterministicModeRepeatsBitForBit) {
  set_deterministic_convolutions(true);
  const std::vector<ConvCase> cases{{"k3_s1_p1", 4, 32, 28, 28, 32, 3, 1, 1},
                                    {"k3_s2_p1", 4, 32, 29, 29, 64, 3, 2, 1},
                                    {"k1_s2_p0", 4, 32, 28, 28, 64, 1, 2, 0},
                                    {"k7_s2_p3", 4, 3, 64, 64, 16, 7, 2, 3}};
  for (const bool im2col : {false, true}) {
    set_conv_force_im2col(im2col);
    uint64_t seed = 400;
    for (const ConvCase& c : cases) {
      const ConvInputs in = make_inputs(c, seed += 10);
      const Conv2dOptions o{c.stride, c.pad};
      const ConvResult first = run_conv(in.x, in.w, in.b, in.gy, o, kCuda, GetParam());
      const ConvResult second = run_conv(in.x, in.w, in.b, in.gy, o, kCuda, GetParam());
      expect_identical(first, second, std::string(c.name) + (im2col ? " (im2col)" : " (cuDNN)"));
    }
  }
}

SPML_INSTANTIATE_FLOAT_DTYPES(CudaConvCudnn);

}  // namespace
}  // namespace spml
