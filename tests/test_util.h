// Shared helpers for the tests: random tensors, CUDA skip macro, message assertions, running the apps.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "framework/core/tensor.h"
#include "framework/cuda/cuda_runtime.h"

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

#define SPML_SKIP_WITHOUT_CUDA()                                                                         \
  do {                                                                                                   \
    if (!::spml::cuda::is_available()) {                                                                 \
      if (::spml::test::cuda_required())                                                                 \
        FAIL() << "SPML_REQUIRE_CUDA=1 but CUDA is unavailable: " << ::spml::cuda::unavailable_reason(); \
      GTEST_SKIP() << "no CUDA device (" << ::spml::cuda::unavailable_reason() << ")";                   \
    }                                                                                                    \
  } while (0)

// The message of the spml::Error thrown by `statement` contains every given fragment.
#define EXPECT_ERROR_CONTAINS(statement, ...)                                      \
  do {                                                                             \
    const std::string spml_msg_ = ::spml::test::error_message([&] { statement; }); \
    EXPECT_FALSE(spml_msg_.empty()) << #statement " did not throw spml::Error";    \
    for (const char* spml_fragment_ : {__VA_ARGS__})                               \
      EXPECT_NE(spml_msg_.find(spml_fragment_), std::string::npos)                 \
          << "message \"" << spml_msg_ << "\" lacks \"" << spml_fragment_ << "\""; \
  } while (0)
