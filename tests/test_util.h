// Shared helpers for the tests: random tensors, CUDA skip macro and dtype-parameterised CUDA fixture, the
// gradient-check and CPU-vs-CUDA parity assertions, message assertions, running the apps.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/ops/ops.h"
#include "framework/testing/gradcheck.h"

namespace spml {
// Readable parameter values in test names and CTest listings.
inline void PrintTo(DType dtype, std::ostream* os) {
  *os << dtype_name(dtype);
}
}  // namespace spml

namespace spml::test {

// Uniform(lo, hi) tensor from a fixed seed.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::Float64, double lo = -1.0,
                            double hi = 1.0) {
  Tensor t = Tensor::empty(shape, dtype);
  t.uniform_(lo, hi, seed);
  return t;
}

// max |got - want| / max |want|: an error relative to the scale of the values (float32 against float64, fast
// kernels against the reference).
inline double relative_error(const Tensor& got, const Tensor& want) {
  return max_abs_diff(got, want) / std::max(max_abs_diff(want, Tensor::zeros_like(want)), 1e-30);
}

// ||got - want|| / ||want|| over all elements: robust to a few elements that may legitimately differ (e.g. Adam's
// +-lr step flipping for gradients near zero), where one wrong kernel still misses by orders of magnitude.
inline double relative_l2(const Tensor& got, const Tensor& want) {
  const std::vector<double> x = got.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::vector<double> y = want.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff += (x[i] - y[i]) * (x[i] - y[i]);
    norm += y[i] * y[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

inline Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

// Runs `statement`, expects spml::Error, and returns its message (empty when nothing was thrown).
template <class F>
std::string error_message(F&& statement) {
  try {
    statement();
  } catch (const spml::Error& e) {
    return e.what();
  }
  return "";
}

// A whole text file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// What a shell command gave: its exit status (-1 when it did not exit normally), stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `command` through /bin/sh (the apps' tests). stderr goes to `stderr_path` and comes back in err when a
// path is given; otherwise it is merged into out.
inline CommandResult run_command(const std::string& command, const std::string& stderr_path = "") {
  const std::string line = command + (stderr_path.empty() ? " 2>&1" : " 2>'" + stderr_path + "'");
  CommandResult r;
  FILE* pipe = popen(line.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!stderr_path.empty()) r.err = read_text(stderr_path);
  return r;
}

}  // namespace spml::test

namespace spml::test {
// SPML_REQUIRE_CUDA=1 (set by scripts/gpu-check.sh): a CUDA test that would skip fails instead, so a GPU run
// cannot pass with its CUDA tests skipped (old driver, invisible GPU, a build without the backend).
inline bool cuda_required() {
  const char* value = std::getenv("SPML_REQUIRE_CUDA");
  return value != nullptr && std::string(value) == "1";
}
}  // namespace spml::test

#define SPML_SKIP_WITHOUT_CUDA()                                                                                 \
  do {                                                                                                           \
    if (!::spml::cuda_runtime::is_available()) {                                                                 \
      if (::spml::test::cuda_required())                                                                         \
        FAIL() << "SPML_REQUIRE_CUDA=1 but CUDA is unavailable: " << ::spml::cuda_runtime::unavailable_reason(); \
      GTEST_SKIP() << "no CUDA device (" << ::spml::cuda_runtime::unavailable_reason() << ")";                   \
    }                                                                                                            \
  } while (0)

namespace spml::test {

using Inputs = std::vector<Tensor>;
using OpFn = std::function<Tensor(const Inputs&)>;

// gradcheck(f, inputs) passes, checks something, skips no more than `allowed_skips` elements (kinks are to be
// avoided by the inputs, not skipped silently), and leaves every checked input a gradient that is not all zero
// (an op whose gradient vanishes everywhere would pass the comparison trivially).
inline void expect_gradcheck(const OpFn& f, const Inputs& inputs, const testing::GradCheckOptions& options = {},
                             int64_t allowed_skips = 0) {
  const testing::GradCheckResult r = testing::gradcheck(f, inputs, options);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.checked, 0) << r.message;
  EXPECT_LE(r.skipped, allowed_skips) << r.message;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    const Tensor g = inputs[i].grad();
    ASSERT_TRUE(g.defined()) << "input " << i << " got no gradient";
    EXPECT_GT(max_abs_diff(g, Tensor::zeros_like(g)), 1e-6) << "input " << i << ": the gradient is zero everywhere";
  }
}

// The bound on |CUDA - CPU| for values of order one, before a caller's scale: float32 kernels sum in other
// orders than the CPU's (and use other exp/log approximations); float64 ones agree to rounding.
inline double parity_tolerance(DType dtype) {
  return dtype == DType::Float64 ? 1e-11 : 2e-5;
}

// f on the CPU and on CUDA from the same host inputs: the forward, every floating input after the call (in-place
// updates such as batch norm's running statistics) and, unless forward_only, the gradient of every input that
// requires grad, each within parity_tolerance(dtype of input 0) x scale x max(1, max |CPU value|): relative to the
// values' scale where they exceed one (a convolution's outputs and weight gradients grow with its taps and batch),
// absolute below. Inputs that require grad become leaves on both sides; the others (labels, indices, buffers) are
// copied as they are.
inline void expect_parity(const OpFn& f, const Inputs& host_inputs, double scale = 1.0, bool forward_only = false) {
  ASSERT_FALSE(host_inputs.empty());
  const Device cuda = Device::cuda(0);
  Inputs cpu, gpu;
  for (const Tensor& t : host_inputs) {
    Tensor c = t.clone(), g = t.to(cuda).clone();
    if (t.requires_grad()) {
      c.set_requires_grad(true);
      g.set_requires_grad(true);
    }
    cpu.push_back(c);
    gpu.push_back(g);
  }
  const Tensor out_cpu = f(cpu), out_gpu = f(gpu);
  ASSERT_TRUE(out_gpu.device().is_cuda());
  ASSERT_EQ(out_cpu.shape(), out_gpu.shape());
  const double unit = parity_tolerance(host_inputs[0].dtype()) * scale;
  const auto tol = [&](const Tensor& reference) {
    return unit * std::max(1.0, max_abs_diff(reference, Tensor::zeros_like(reference)));
  };
  EXPECT_LE(max_abs_diff(out_cpu, out_gpu), tol(out_cpu)) << "forward";
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    if (is_floating(cpu[i].dtype()) && !cpu[i].requires_grad()) {
      EXPECT_LE(max_abs_diff(cpu[i], gpu[i]), tol(cpu[i])) << "input " << i << " after the call";
    }
  }
  if (forward_only) return;
  Tensor r = Tensor::empty(out_cpu.shape(), out_cpu.dtype());
  r.uniform_(-1, 1, 99);
  out_cpu.backward(r);
  out_gpu.backward(r.to(cuda));
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu[i].requires_grad()) continue;
    ASSERT_TRUE(cpu[i].grad().defined()) << "input " << i << " (CPU)";
    ASSERT_TRUE(gpu[i].grad().defined()) << "input " << i << " (CUDA)";
    EXPECT_LE(max_abs_diff(cpu[i].grad(), gpu[i].grad()), tol(cpu[i].grad())) << "gradient of input " << i;
  }
}

// The fixture of the CUDA tests parameterised by a floating dtype: skips (or fails under SPML_REQUIRE_CUDA=1)
// without a device. Suites derive from it under a name containing "Cuda" and instantiate with
// SPML_INSTANTIATE_FLOAT_DTYPES.
class CudaDTypeTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { SPML_SKIP_WITHOUT_CUDA(); }
  Tensor rnd(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) const {
    return random_tensor(shape, seed, GetParam(), lo, hi);
  }
};

}  // namespace spml::test

#define SPML_INSTANTIATE_FLOAT_DTYPES(suite)                                                                 \
  INSTANTIATE_TEST_SUITE_P(Dtypes, suite, ::testing::Values(::spml::DType::Float32, ::spml::DType::Float64), \
                           [](const auto& info) { return std::string(::spml::dtype_name(info.param)); })

// The message of the spml::Error thrown by `statement` contains every given fragment.
#define EXPECT_ERROR_CONTAINS(statement, ...)                                      \
  do {                                                                             \
    const std::string spml_msg_ = ::spml::test::error_message([&] { statement; }); \
    EXPECT_FALSE(spml_msg_.empty()) << #statement " did not throw spml::Error";    \
    for (const char* spml_fragment_ : {__VA_ARGS__})                               \
      EXPECT_NE(spml_msg_.find(spml_fragment_), std::string::npos)                 \
          << "message \"" << spml_msg_ << "\" lacks \"" << spml_fragment_ << "\""; \
  } while (0)
