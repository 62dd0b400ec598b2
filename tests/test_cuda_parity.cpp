// CUDA against the CPU oracle beyond single ops (whose forward and backward are the op table's OpTableCudaParity
// rows, tests/op_table.cpp): deterministic reductions, random fills, casts (integer dtypes too), optimizers (Adam over
// 300 tensors with per-group step counts, SGD's modes), loops and reductions past one grid, batch norm at ResNet's
// stem shape and a full reduction of 10^7 values (bit-identical twice, close to the CPU), a three-step ResNet-18
// training run, the caching allocator, and the SPML_REQUIRE_CUDA convention. Every CUDA test skips with "no CUDA
// device" where none is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "framework/nn/module.h"
#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "losses/spml_loss.h"
#include "models/resnet.h"
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

// Adam over more tensors than one launch's table holds (ResNet-101 has 314; the CUDA kernel splits the list) and
// with different step counts per group: the backbone gets no gradient in the first step (frozen), as in
// linear_init, so its step counts lag the head's by one.
TEST_P(CudaParity, AdamOverManyTensorsWithStepCountsPerGroup) {
  std::vector<Tensor> cpu_backbone, gpu_backbone, cpu_head, gpu_head;
  for (int i = 0; i < 300; ++i) {
    const Tensor p = rnd({17 + 13 * (i % 7)}, 300 + i);
    cpu_backbone.push_back(test::leaf(p.clone()));
    gpu_backbone.push_back(test::leaf(p.to(kCuda)));
  }
  for (int i = 0; i < 2; ++i) {
    const Tensor p = rnd({40 + i}, 700 + i);
    cpu_head.push_back(test::leaf(p.clone()));
    gpu_head.push_back(test::leaf(p.to(kCuda)));
  }
  optim::Adam cpu_adam({{cpu_backbone, 1e-3, "backbone"}, {cpu_head, 1e-2, "head"}});
  optim::Adam gpu_adam({{gpu_backbone, 1e-3, "backbone"}, {gpu_head, 1e-2, "head"}});
  for (int step = 0; step < 3; ++step) {
    const auto set_grads = [&](std::vector<Tensor>& c, std::vector<Tensor>& g, uint64_t seed) {
      for (std::size_t i = 0; i < c.size(); ++i) {
        const Tensor grad = rnd({c[i].numel()}, seed + 1000 * step + i);
        c[i].set_grad(grad);
        g[i].set_grad(grad.to(kCuda));
      }
    };
    if (step > 0) set_grads(cpu_backbone, gpu_backbone, 5000);
    set_grads(cpu_head, gpu_head, 9000);
    cpu_adam.step();
    gpu_adam.step();
  }
  const double tol = test::parity_tolerance(GetParam()) * 10;
  for (std::size_t i = 0; i < cpu_backbone.size(); ++i)
    EXPECT_LE(max_abs_diff(cpu_backbone[i], gpu_backbone[i]), tol) << "backbone tensor " << i;
  for (std::size_t i = 0; i < cpu_head.size(); ++i)
    EXPECT_LE(max_abs_diff(cpu_head[i], gpu_head[i]), tol) << "head tensor " << i;
  EXPECT_EQ(gpu_adam.step_count(0, 299), 2);
  EXPECT_EQ(gpu_adam.step_count(1, 1), 3);
}

// SGD's other modes: plain (no momentum buffer), Nesterov, and dampening.
TEST_P(CudaParity, SgdModesMatchTheCpu) {
  const auto options = [](int mode) {
    optim::SgdOptions o;
    if (mode == 1) {
      o.momentum = 0.9;
      o.nesterov = true;
    } else if (mode == 2) {
      o.momentum = 0.8;
      o.dampening = 0.3;
      o.weight_decay = 1e-3;
    }
    return o;
  };
  for (int mode = 0; mode < 3; ++mode) {
    const Tensor p = rnd({3001}, 40 + mode);
    std::vector<Tensor> c{test::leaf(p.clone())}, g{test::leaf(p.to(kCuda))};
    optim::SGD cpu_sgd({{c, 0.05, "g"}}, options(mode)), gpu_sgd({{g, 0.05, "g"}}, options(mode));
    for (int step = 0; step < 3; ++step) {
      const Tensor grad = rnd({3001}, 60 + 10 * mode + step);
      c[0].set_grad(grad);
      g[0].set_grad(grad.to(kCuda));
      cpu_sgd.step();
      gpu_sgd.step();
    }
    EXPECT_LE(max_abs_diff(c[0], g[0]), test::parity_tolerance(GetParam()) * 10) << "SGD mode " << mode;
  }
}

// Element-wise grid-stride loops past their first pass (more elements than kMaxBlocks x kThreads = 2^24),
// reductions with more than 65,536 outputs, and a loss with more than 65,536 rows.
TEST_P(CudaParity, LoopsAndReductionsPastOneGrid) {
  const int64_t n = (int64_t(1) << 24) + 4097;
  const Tensor a = rnd({n}, 90), b = rnd({n}, 91);
  const Tensor c = add(mul(a, b), 0.5), g = add(mul(a.to(kCuda), b.to(kCuda)), 0.5);
  EXPECT_LE(max_abs_diff(c, g), test::parity_tolerance(GetParam()));
  const Tensor m = rnd({70001, 3}, 92);
  EXPECT_LE(max_abs_diff(sum(m, 1), sum(m.to(kCuda), 1)), test::parity_tolerance(GetParam()) * 3);
  EXPECT_LE(max_abs_diff(sum(transpose(m), 0), sum(transpose(m.to(kCuda)), 0)), test::parity_tolerance(GetParam()) * 3);
  const int64_t rows = 70001, cols = 5;
  const Tensor z = rnd({rows, cols}, 93, -4, 4);
  std::vector<double> y(std::size_t(rows * cols), 0.0);
  for (int64_t r = 0; r < rows; ++r) y[std::size_t(r * cols + r % cols)] = 1.0;
  const Tensor labels = Tensor::from_vector<double>(y, {rows, cols}).to(GetParam());
  const losses::LossParams params =
      losses::make_loss_params(losses::GrSchedule(losses::GrSettings{}, 8, 0).at(3), 1.5, 0.2, cols);
  Tensor zc = test::leaf(z.clone()), zg = test::leaf(z.to(kCuda));
  const Tensor lc = losses::spml_loss(losses::LossKind::GR, zc, labels, params);
  const Tensor lg = losses::spml_loss(losses::LossKind::GR, zg, labels.to(kCuda), params);
  EXPECT_LE(std::abs(lc.item() - lg.item()), test::parity_tolerance(GetParam()));
  lc.backward();
  lg.backward();
  EXPECT_LE(max_abs_diff(zc.grad(), zg.grad()), test::parity_tolerance(GetParam()));
}

// Bit for bit: the values reach the host through float64 (exact for float32) and are compared as bytes, so even
// the sign of a zero counts.
bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::vector<double> y = b.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

// Batch norm in training at ResNet-50's stem shape (batch 8, 64 channels, 112 x 112: 25 of the CUDA kernel's
// chunks per channel), forward and backward: two CUDA runs agree bit for bit (output, running statistics and the
// three gradients), and both agree with the CPU relative to each tensor's scale.
TEST_P(CudaParity, BatchNormAtTheStemShapeIsDeterministic) {
  const Shape shape{8, 64, 112, 112};
  const int64_t c = shape[1];
  const Tensor x = rnd(shape, 110, -2, 3), gy = rnd(shape, 111);
  const Tensor gamma = rnd({c}, 112, 0.5, 1.5), beta = rnd({c}, 113);
  const Tensor running_mean = rnd({c}, 114), running_var = rnd({c}, 115, 0.5, 2);
  struct Run {
    Tensor y, running_mean, running_var, gx, ggamma, gbeta;
  };
  const auto run = [&](const Device& device) {
    Run r;
    Tensor xs = test::leaf(x.to(device).clone()), gs = test::leaf(gamma.to(device).clone()),
           bs = test::leaf(beta.to(device).clone());
    r.running_mean = running_mean.to(device).clone();
    r.running_var = running_var.to(device).clone();
    r.y = batch_norm2d(xs, gs, bs, r.running_mean, r.running_var, true);
    r.y.backward(gy.to(device));
    r.gx = xs.grad();
    r.ggamma = gs.grad();
    r.gbeta = bs.grad();
    return r;
  };
  const Run first = run(kCuda), second = run(kCuda), cpu = run(Device::cpu());
  const std::pair<const char*, Tensor Run::*> outputs[] = {
      {"output", &Run::y},          {"running_mean", &Run::running_mean}, {"running_var", &Run::running_var},
      {"input gradient", &Run::gx}, {"gamma gradient", &Run::ggamma},     {"beta gradient", &Run::gbeta}};
  // float32: the CPU's fast kernel sums planes in float lanes; float64: both sides round only the summation order.
  const double tol = GetParam() == DType::Float64 ? 1e-10 : 1e-4;
  for (const auto& [name, field] : outputs) {
    ASSERT_TRUE((first.*field).defined() && (cpu.*field).defined()) << name;
    EXPECT_TRUE(same_bits(first.*field, second.*field)) << name << " differs between two CUDA runs";
    EXPECT_LE(test::relative_error(first.*field, cpu.*field), tol) << name;
  }
}

// A full reduction of 10^7 values (611 first-pass blocks, then one block over their partials): bit-identical twice,
// the mean too (the second pass scales), and within an ulp of the CPU's float64 sum (float32 accumulates in double).
// A few outputs over long rows (outer 4) and over long strided columns (inner 4) take the same two passes.
TEST_P(CudaParity, FullReductionOfTenMillionValuesIsDeterministic) {
  const int64_t n = 10000000;
  const Tensor x = rnd({n}, 120, 0, 1), xg = x.to(kCuda);
  const double rel = GetParam() == DType::Float64 ? 1e-12 : std::ldexp(1.0, -23);
  const double exact = sum(x.to(DType::Float64)).item();
  const Tensor s1 = sum(xg), s2 = sum(xg);
  EXPECT_TRUE(same_bits(s1, s2)) << s1.item() << " then " << s2.item();
  EXPECT_LE(std::abs(s1.item() - exact), rel * std::abs(exact)) << s1.item() << " vs " << exact;
  const Tensor m1 = mean(xg), m2 = mean(xg);
  EXPECT_TRUE(same_bits(m1, m2)) << m1.item() << " then " << m2.item();
  // The mean's scale 1 / n is rounded to the dtype first: one more rounding.
  EXPECT_LE(std::abs(m1.item() - exact / double(n)), 2 * rel * std::abs(exact / double(n)));
  const Tensor rows = rnd({4, n / 4}, 121), columns = rnd({n / 4, 4}, 122);
  for (const auto& [t, dim] : {std::pair{rows, int64_t(1)}, std::pair{columns, int64_t(0)}}) {
    const Tensor g = t.to(kCuda);
    const Tensor a = sum(g, dim), b = sum(g, dim);
    EXPECT_TRUE(same_bits(a, b)) << "dim " << dim;
    EXPECT_LE(test::relative_error(a, sum(t.to(DType::Float64), dim)), rel) << "dim " << dim;
  }
}

SPML_INSTANTIATE_FLOAT_DTYPES(CudaParity);

// Fills and casts of the integer dtypes (fill<int64> sets num_batches_tracked; uint8 holds decoded pixels).
TEST(CudaIntegerParity, FillsAndCastsOfIntegerDtypes) {
  SPML_SKIP_WITHOUT_CUDA();
  for (DType dtype : {DType::UInt8, DType::Int32, DType::Int64}) {
    Tensor c = Tensor::empty({70001}, dtype), g = Tensor::empty({70001}, dtype, kCuda);
    c.fill_(7);
    g.fill_(7);
    EXPECT_EQ(max_abs_diff(c.to(DType::Float64), g.to(kCuda).to(Device::cpu()).to(DType::Float64)), 0.0)
        << dtype_name(dtype);
    const Tensor values = test::random_tensor({70001}, 95, DType::Float64, 0, 200);
    for (DType to : {DType::Float32, DType::Float64, DType::Int64}) {
      const Tensor cc = values.to(dtype).to(to), gc = values.to(kCuda).to(dtype).to(to);
      EXPECT_EQ(max_abs_diff(cc.to(DType::Float64), gc.to(Device::cpu()).to(DType::Float64)), 0.0)
          << dtype_name(dtype) << " -> " << dtype_name(to);
    }
  }
}

// A whole small training step three times: ResNet-18 (width 16), 64 px, batch 4, GR loss, Adam with a backbone
// and a head group, from the same init on both devices. The first step's logits and gradients agree element by
// element; after that Adam's update (about +-lr for any gradient, however small) can flip for gradients near 0, so
// later steps, the weights and the BatchNorm running statistics are compared by relative L2 norm, which a wrong
// kernel misses by orders of magnitude.
TEST(CudaEndToEnd, ResNet18ThreeTrainingStepsMatchTheCpu) {
  SPML_SKIP_WITHOUT_CUDA();
  models::ResNetConfig rc;
  rc.arch = "resnet18";
  rc.width = 16;
  rc.num_classes = 6;
  rc.seed = 3;
  models::ResNet cpu_net(rc), gpu_net(rc);
  gpu_net.to(kCuda);
  optim::Adam cpu_adam({{cpu_net.backbone_parameters(), 1e-3, "backbone"}, {cpu_net.head_parameters(), 1e-2, "head"}});
  optim::Adam gpu_adam({{gpu_net.backbone_parameters(), 1e-3, "backbone"}, {gpu_net.head_parameters(), 1e-2, "head"}});
  std::vector<double> y(4 * 6, 0.0);
  for (int r = 0; r < 4; ++r) y[std::size_t(r * 6 + r)] = 1.0;
  const Tensor labels = Tensor::from_vector<double>(y, {4, 6}).to(DType::Float32);
  const losses::LossParams params =
      losses::make_loss_params(losses::GrSchedule(losses::GrSettings{}, 8, 0).at(2), 1.5, 0.2, 6);
  for (int step = 0; step < 3; ++step) {
    const Tensor images = test::random_tensor({4, 3, 64, 64}, 500 + step, DType::Float32, -2, 2);
    cpu_adam.zero_grad();
    gpu_adam.zero_grad();
    const Tensor zc = cpu_net.forward(images), zg = gpu_net.forward(images.to(kCuda));
    if (step == 0)
      EXPECT_LE(max_abs_diff(zc, zg), 1e-3) << "logits, step 0";
    else
      EXPECT_LE(test::relative_l2(zg, zc), 1e-2) << "logits, step " << step;
    losses::spml_loss(losses::LossKind::GR, zc, labels, params).backward();
    losses::spml_loss(losses::LossKind::GR, zg, labels.to(kCuda), params).backward();
    const nn::NamedTensors pc = cpu_net.named_parameters(), pg = gpu_net.named_parameters();
    ASSERT_EQ(pc.size(), pg.size());
    for (std::size_t i = 0; i < pc.size(); ++i) {
      const Tensor& gc = pc[i].second.grad();
      ASSERT_TRUE(pg[i].second.grad().defined()) << pg[i].first;
      if (step == 0) {
        const double scale = std::max(1.0, max_abs_diff(gc, Tensor::zeros_like(gc)));
        EXPECT_LE(max_abs_diff(gc, pg[i].second.grad()), 2e-3 * scale) << "gradient of " << pc[i].first;
      } else {
        EXPECT_LE(test::relative_l2(pg[i].second.grad(), gc), 2e-2)
            << "gradient of " << pc[i].first << ", step " << step;
      }
    }
    cpu_adam.step();
    gpu_adam.step();
  }
  const nn::NamedTensors bc = cpu_net.named_buffers(), bg = gpu_net.named_buffers();
  ASSERT_EQ(bc.size(), bg.size());
  for (std::size_t i = 0; i < bc.size(); ++i)
    EXPECT_LE(test::relative_l2(bg[i].second, bc[i].second), 1e-3) << bc[i].first;
  const nn::NamedTensors pc = cpu_net.named_parameters(), pg = gpu_net.named_parameters();
  for (std::size_t i = 0; i < pc.size(); ++i)
    EXPECT_LE(test::relative_l2(pg[i].second, pc[i].second), 1e-3) << "weights of " << pc[i].first;
  EXPECT_EQ(gpu_adam.step_count(1, 0), 3);
}

// Ops on cuda:1 run on device 1 (the dispatch point makes it current for the call and restores the caller's
// device): one training step of a small ResNet-18 with GR and Adam on the second GPU against the CPU. Skips where
// fewer than two GPUs exist.
TEST(CudaMultiDevice, TrainingStepOnTheSecondGpuMatchesTheCpu) {
  SPML_SKIP_WITHOUT_CUDA();
  if (cuda_runtime::device_count() < 2)
    GTEST_SKIP() << "needs two CUDA devices (found " << cuda_runtime::device_count() << ")";
  const Device second = Device::cuda(1);
  models::ResNetConfig rc;
  rc.arch = "resnet18";
  rc.width = 8;
  rc.num_classes = 5;
  rc.seed = 4;
  models::ResNet cpu_net(rc), gpu_net(rc);
  gpu_net.to(second);
  optim::Adam cpu_adam({{cpu_net.backbone_parameters(), 1e-3, "backbone"}, {cpu_net.head_parameters(), 1e-2, "head"}});
  optim::Adam gpu_adam({{gpu_net.backbone_parameters(), 1e-3, "backbone"}, {gpu_net.head_parameters(), 1e-2, "head"}});
  const Tensor labels = Tensor::from_vector<double>({1, 0, 0, 0, 0, 0, 0, 1, 0, 0}, {2, 5}).to(DType::Float32);
  const losses::LossParams params =
      losses::make_loss_params(losses::GrSchedule(losses::GrSettings{}, 8, 0).at(2), 1.5, 0.2, 5);
  const Tensor images = test::random_tensor({2, 3, 32, 32}, 901, DType::Float32, -2, 2);
  const Tensor zc = cpu_net.forward(images), zg = gpu_net.forward(images.to(second));
  ASSERT_EQ(zg.device(), second);
  EXPECT_LE(max_abs_diff(zc, zg), 1e-3) << "logits";
  losses::spml_loss(losses::LossKind::GR, zc, labels, params).backward();
  losses::spml_loss(losses::LossKind::GR, zg, labels.to(second), params).backward();
  cpu_adam.step();
  gpu_adam.step();
  const nn::NamedTensors pc = cpu_net.named_parameters(), pg = gpu_net.named_parameters();
  for (std::size_t i = 0; i < pc.size(); ++i) {
    ASSERT_EQ(pg[i].second.device(), second) << pg[i].first;
    EXPECT_LE(test::relative_l2(pg[i].second, pc[i].second), 1e-3) << "weights of " << pc[i].first;
  }
#if SPML_WITH_CUDA
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0) << "an op on cuda:1 left device 1 current";
#endif
}

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
