// CUDA against the CPU oracle beyond single ops (whose forward and backward are the op table's OpTableCudaParity
// rows, tests/op_table.cpp): deterministic reductions, random fills, casts, optimizers and the caching allocator,
// and the SPML_REQUIRE_CUDA convention. Every CUDA test skips with "no CUDA device" where none is present.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "test_util.h"

namespace spml {
namespace {
const Device kCuda = Device::cuda(0);

class CudaParity : public test::CudaDTypeTest {};

TEST_P(CudaParity, ReductionIsDeterministic) {
  const Tensor x = rnd({1 << 21}, 15).to(kCuda);
  EXPECT_EQ(max_abs_diff(sum(x), sum(x)), 0.0);
  const Tensor y = rnd({512, 4096}, 16).to(kCuda);
  EXPECT_EQ(max_abs_diff(sum(y, 0), sum(y, 0)), 0.0);
}

TEST_P(CudaParity, RandomFillsAndCastsMatch) {
  // Same Philox counters on both sides; the device's log/cos and fused multiply-adds may differ from glibc's
  // in the last bit, so the values agree to rounding, not necessarily bit for bit.
  const double tol = GetParam() == DType::Float64 ? 1e-13 : 1e-6;
  Tensor c = Tensor::empty({100003}, GetParam()), g = Tensor::empty({100003}, GetParam(), kCuda);
  c.normal_(0.5, 2.0, 77, 5);
  g.normal_(0.5, 2.0, 77, 5);
  EXPECT_LE(max_abs_diff(c, g), tol * 10);
  c.uniform_(-1, 3, 78);
  g.uniform_(-1, 3, 78);
  EXPECT_LE(max_abs_diff(c, g), tol);
  Tensor big = test::random_tensor({1000}, 79, GetParam(), -100, 100);
  EXPECT_EQ(max_abs_diff(big.to(DType::Int32), big.to(kCuda).to(DType::Int32)), 0.0);
  Tensor bytes = test::random_tensor({1000}, 80, GetParam(), 0, 255);
  EXPECT_EQ(
      max_abs_diff(bytes.to(DType::UInt8).to(DType::Float64), bytes.to(kCuda).to(DType::UInt8).to(DType::Float64)),
      0.0);
}

TEST_P(CudaParity, OptimizersMatchTheCpu) {
  for (int kind = 0; kind < 3; ++kind) {
    std::vector<Tensor> cpu, gpu;
    for (int i = 0; i < 7; ++i) {
      const Tensor p = rnd({1000 + 977 * i}, 20 + i);
      cpu.push_back(test::leaf(p.clone()));
      gpu.push_back(test::leaf(p.to(kCuda)));
    }
    auto make = [&](std::vector<Tensor>& ps) -> std::unique_ptr<optim::Optimizer> {
      optim::AdamOptions adamw;
      adamw.weight_decay = 0.01;
      adamw.decoupled_weight_decay = kind == 1;
      optim::SgdOptions sgd;
      sgd.momentum = 0.9;
      sgd.weight_decay = 1e-4;
      if (kind == 2) return std::make_unique<optim::SGD>(std::vector<optim::ParamGroup>{{ps, 0.01, "g"}}, sgd);
      return std::make_unique<optim::Adam>(std::vector<optim::ParamGroup>{{ps, 0.01, "g"}}, adamw);
    };
    auto oc = make(cpu), og = make(gpu);
    for (int step = 0; step < 3; ++step) {
      for (std::size_t i = 0; i < cpu.size(); ++i) {
        const Tensor grad = rnd({cpu[i].numel()}, 100 * step + i);
        cpu[i].set_grad(grad);
        gpu[i].set_grad(grad.to(kCuda));
      }
      oc->step();
      og->step();
    }
    for (std::size_t i = 0; i < cpu.size(); ++i)
      EXPECT_LE(max_abs_diff(cpu[i], gpu[i]), test::parity_tolerance(GetParam()) * 10)
          << "optimizer " << kind << " tensor " << i;
  }
}

SPML_INSTANTIATE_FLOAT_DTYPES(CudaParity);

TEST(CudaAllocator, ReusesFreedBlocksAndReportsStats) {
  SPML_SKIP_WITHOUT_CUDA();
  cuda_runtime::synchronize(0);
  cuda_runtime::empty_cache();
  const auto before = cuda_runtime::allocator_stats(0);
  { Tensor t = Tensor::empty({1 << 20}, DType::Float32, kCuda); }
  const auto after_first = cuda_runtime::allocator_stats(0);
  { Tensor t = Tensor::empty({1 << 20}, DType::Float32, kCuda); }
  const auto after_second = cuda_runtime::allocator_stats(0);
  EXPECT_EQ(after_second.cuda_malloc_count, after_first.cuda_malloc_count);  // served from the cache
  EXPECT_GT(after_second.cache_hits, before.cache_hits);
  EXPECT_GE(after_second.peak_allocated_bytes, std::size_t(4) << 20);
  EXPECT_GE(after_second.reserved_bytes, std::size_t(4) << 20);
  cuda_runtime::empty_cache();
  EXPECT_EQ(cuda_runtime::allocator_stats(0).reserved_bytes, cuda_runtime::allocator_stats(0).allocated_bytes);
  EXPECT_ERROR_CONTAINS(Tensor::empty({int64_t(1) << 50}, DType::Float32, kCuda), "out of memory", "MiB");
}

// SPML_REQUIRE_CUDA=1 turns every CUDA test that would skip into a failure: run every test binary's CUDA tests in a
// child process on a machine without a GPU (here) and count them. The convention this relies on: every test that
// needs a GPU has "Cuda" in its suite or test name and calls SPML_SKIP_WITHOUT_CUDA (tests/test_util.h).
TEST(CudaRequirement, RequireCudaTurnsSkipsIntoFailures) {
  if (cuda_runtime::is_available()) GTEST_SKIP() << "a CUDA device is present (the requirement is met)";
  // gtest's summary line "[  SKIPPED ] 21 tests, listed below:" (or FAILED); absent when there were none.
  const auto listed = [](const std::string& text, const std::string& tag) -> long {
    for (std::size_t at = text.find(tag); at != std::string::npos; at = text.find(tag, at + 1)) {
      const std::size_t number = at + tag.size();
      if (number < text.size() && std::isdigit(static_cast<unsigned char>(text[number])))
        return std::strtol(text.c_str() + number, nullptr, 10);
    }
    return 0;
  };
  const std::string filter = " --gtest_filter='*Cuda*:-CudaRequirement.*:*WithoutGpu*:*CudaDeviceWithoutGpu*'";
  long failed = 0, skipped = 0;
  std::stringstream binaries(SPML_TEST_BINARIES);
  for (std::string name; std::getline(binaries, name, ',');) {
    const std::string binary = std::string(SPML_BIN_DIR) + "/" + name;
    ASSERT_TRUE(std::ifstream(binary).good()) << binary << " was not built";
    const test::CommandResult required = test::run_command("SPML_REQUIRE_CUDA=1 " + binary + filter);
    const test::CommandResult plain = test::run_command("SPML_REQUIRE_CUDA=0 " + binary + filter);
    EXPECT_EQ(required.out.find("[  SKIPPED ]"), std::string::npos) << name << ": a CUDA test still skipped";
    EXPECT_EQ(plain.exit_code, 0) << plain.out;
    const long binary_failed = listed(required.out, "[  FAILED  ] "),
               binary_skipped = listed(plain.out, "[  SKIPPED ] ");
    // The same tests: as many fail when CUDA is required as skip without it.
    EXPECT_EQ(binary_failed, binary_skipped) << name << "\n" << required.out << plain.out;
    if (binary_failed > 0) {
      EXPECT_NE(required.exit_code, 0) << required.out;
      EXPECT_NE(required.out.find("SPML_REQUIRE_CUDA=1 but CUDA is unavailable: "), std::string::npos) << required.out;
    }
    std::printf("[cuda-requirement] %s: %ld CUDA tests skip without a GPU, %ld fail under SPML_REQUIRE_CUDA=1\n",
                name.c_str(), binary_skipped, binary_failed);
    failed += binary_failed;
    skipped += binary_skipped;
  }
  EXPECT_GT(skipped, 100);
  EXPECT_EQ(failed, skipped);
  std::printf("[cuda-requirement] %ld CUDA tests skip without a GPU; all %ld fail under SPML_REQUIRE_CUDA=1\n", skipped,
              failed);
}

}  // namespace
}  // namespace spml
