// spml-bench: times the framework's kernels (GEMM, element-wise, reduction, Adam) on the CPU or CUDA and
// prints medians with a baseline measured in the same run (builtin vs BLAS GEMM, a plain memory copy of the
// same bytes for bandwidth-bound kernels, per-tensor vs multi-tensor Adam), so ratios are comparable. --resnet
// times a ResNet's forward and a plain training step; --spml-step (and --gpu-suite: batch 8 at 448 px, then
// batch 64 at 224 px) times the SPML training step of spml-train (training/train_step.h: forward, GR loss,
// backward, Adam over backbone and head). Both run the same step in PyTorch eager on the same device in the
// same invocation (scripts/bench_torch_resnet.py with $SPML_TORCH_PYTHON) and print the time ratio and both
// peaks of memory (device memory on CUDA, resident memory on the CPU).
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "apps/support/torch_baseline.h"
#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/core/profiler.h"
#include "framework/core/runtime.h"
#include "framework/core/timer.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "models/resnet.h"
#include "training/dataset_settings.h"
#include "training/train_config.h"
#include "training/train_step.h"
#include "training/trainer.h"

namespace {
using namespace spml;

struct Row {
  std::string name, shape;
  double ms, work;  // work: GFLOP or GB moved
  const char* unit;
  std::string baseline;
  double baseline_ms;
};

void print(const Row& r) {
  const double rate = r.work / (r.ms * 1e-3);
  std::printf("%-22s %-18s %10.3f ms %9.2f %-6s  vs %-26s %10.3f ms  ratio %6.2fx\n", r.name.c_str(), r.shape.c_str(),
              r.ms, rate, r.unit, r.baseline.c_str(), r.baseline_ms, r.baseline_ms / r.ms);
}

Tensor random(const Shape& shape, Device device, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::Float32, device);
  t.uniform_(-1, 1, seed);
  return t;
}
// Peak resident memory of this process so far, MiB (Linux reports ru_maxrss in KiB).
double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;
}
double current_rss_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// The CPU's float32 peak: threads x clock x 64 FLOP per cycle (two 512-bit FMA units with AVX-512, 16 lanes x 2
// FLOP x 2 units; 32 with AVX2), the clock being /proc/cpuinfo's "cpu MHz" (the nominal clock on these VMs).
double cpu_peak_gflops(int threads, std::string* how) {
  double mhz = 0;
  bool avx512 = false;
  if (std::FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[8192];
    while (std::fgets(line, sizeof line, f)) {
      if (mhz == 0 && std::strncmp(line, "cpu MHz", 7) == 0) mhz = std::atof(std::strchr(line, ':') + 1);
      if (std::strncmp(line, "flags", 5) == 0 && std::strstr(line, " avx512f")) avx512 = true;
    }
    std::fclose(f);
  }
  const int per_cycle = avx512 ? 64 : 32;
  *how = std::to_string(threads) + " threads x " + std::to_string(int(mhz)) + " MHz x " + std::to_string(per_cycle) +
         " FLOP/cycle (" + (avx512 ? "AVX-512" : "AVX2") + ", 2 FMA units)";
  return threads * mhz * 1e-3 * per_cycle;
}

// Peak memory of one timed configuration. CUDA: the caching allocator's peak of live blocks (its rounded block
// sizes) since reset_peak_memory(), and what it holds from the driver; CPU: the process's peak resident set and how
// far above the process before the model it is. That peak cannot be reset, so on the CPU only a process's first
// configuration has one of its own (known = false for the later ones).
struct PeakMemory {
  bool device = false, known = true;
  double peak_mib = 0, reserved_mib = 0, above_before_mib = 0;
};

// Starts a configuration's memory accounting: on CUDA the earlier configurations' cached blocks are returned (so
// "reserved" is this configuration's) and the peak restarts from what is live; returns the resident set now (MiB).
double reset_peak_memory(Device device) {
  if (device.is_cuda()) {
    cuda_runtime::empty_cache();
    cuda_runtime::reset_peak_stats(device.index);
  }
  return current_rss_mib();
}

PeakMemory peak_memory(Device device, double rss_before_mib, bool first_in_process = true) {
  PeakMemory m;
  if (device.is_cuda()) {
    const cuda_runtime::AllocatorStats stats = cuda_runtime::allocator_stats(device.index);
    m.device = true;
    m.peak_mib = double(stats.peak_allocated_bytes) / (1 << 20);
    m.reserved_mib = double(stats.reserved_bytes) / (1 << 20);
  } else {
    m.known = first_in_process;
    m.peak_mib = peak_rss_mib();
    m.above_before_mib = m.peak_mib - rss_before_mib;
  }
  return m;
}

// The same numbers from the PyTorch script's JSON line (device peaks on CUDA, resident set on the CPU); peak_mib < 0
// when the line has none.
PeakMemory torch_peak_memory(const nlohmann::json& j, Device device) {
  const auto number = [&](const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : -1.0;
  };
  PeakMemory m;
  m.device = device.is_cuda();
  if (m.device) {
    m.peak_mib = number("peak_device_allocated_mib");
    m.reserved_mib = number("peak_device_reserved_mib");
  } else {
    m.peak_mib = number("peak_rss_mib");
    m.above_before_mib = m.peak_mib - number("rss_before_model_mib");
  }
  return m;
}

std::string describe(const PeakMemory& m) {
  char text[160];
  if (!m.known)
    std::snprintf(text, sizeof text, "peak resident memory not known (this process ran an earlier configuration)");
  else if (m.device)
    std::snprintf(text, sizeof text, "peak device memory %.0f MiB allocated, %.0f MiB reserved", m.peak_mib,
                  m.reserved_mib);
  else
    std::snprintf(text, sizeof text, "peak resident memory %.0f MiB (%.0f MiB above the process before the model)",
                  m.peak_mib, m.above_before_mib);
  return text;
}

// The PyTorch script's JSON line as an object (null when it did not run: the reason is printed once, after
// `indent`, and no ratio).
nlohmann::json run_torch_resnet(const std::string& script, const std::string& arguments, const char* indent = "") {
  const apps::TorchBaselineRun run = apps::run_torch_baseline(script, arguments);
  if (!run.ok()) {
    std::printf("%sPyTorch baseline: not available (%s); no ratio\n", indent, run.failure.c_str());
    return nullptr;
  }
  return nlohmann::json::parse(run.json);
}

// The flags both PyTorch steps share: model, shapes, device and threads.
std::string torch_common_flags(const std::string& arch, int64_t batch, int image_size, Device device, int repeats,
                               int warmup) {
  return "--arch " + arch + " --batch " + std::to_string(batch) + " --image-size " + std::to_string(image_size) +
         " --device " + device.str() + " --threads " + std::to_string(num_threads()) + " --repeats " +
         std::to_string(repeats) + " --warmup " + std::to_string(warmup);
}

// ResNet forward (eval, no grad) and a plain training step (sigmoid().mean() backward, one Adam group) at the given
// batch and size; the same model in PyTorch (same threads, same device) runs in the same invocation as the
// baseline. profile: one more step with the per-op profile (self time per op and backward, convolution GFLOP/s).
int bench_resnet(const std::string& arch, int batch, int image_size, Device device, int repeats,
                 const std::string& torch_script, bool profile) {
  const double rss_before = reset_peak_memory(device);
  models::ResNet net({arch, 20, 64, 0});
  net.to(device);
  optim::Adam adam({{net.parameters(), 1e-5, "all"}});
  const Tensor x = random({batch, 3, image_size, image_size}, device, 1);
  const auto sync = [&] {
    if (device.is_cuda()) cuda_runtime::synchronize(device.index);
  };
  const double forward_ms = time_median(
                                [&] {
                                  autograd::NoGradGuard no_grad;
                                  net.eval();
                                  net.forward(x);
                                },
                                repeats, 1, sync)
                                .median_ms;
  const auto train_step = [&] {
    net.train();
    adam.zero_grad();
    mean(sigmoid(net.forward(x))).backward();
    adam.step();
  };
  const double train_ms = time_median(train_step, repeats, 1, sync).median_ms;
  const PeakMemory memory = peak_memory(device, rss_before);
  std::printf("%s batch %d, %dx%d, %s: forward %.1f ms (%.1f images/s), train step %.1f ms (%.1f images/s)\n",
              arch.c_str(), batch, image_size, image_size, device.str().c_str(), forward_ms, batch * 1e3 / forward_ms,
              train_ms, batch * 1e3 / train_ms);
  std::printf("spml %s\n", describe(memory).c_str());
  if (profile) {
    profiler::reset();
    profiler::set_enabled(true);
    {
      NvtxRange step("train step (outside ops)");
      train_step();
    }
    profiler::set_enabled(false);
    double gflop = 0;
    for (const auto& e : profiler::entries()) gflop += e.gflop;
    profiler::print("per-op profile of one " + arch + " training step");
    if (device.is_cpu()) {
      std::string how;
      const double peak_gflops = cpu_peak_gflops(num_threads(), &how);
      std::printf(
          "convolution work of the step: %.1f GFLOP (forward + both backward passes where needed); at the median "
          "step time %.1f GFLOP/s = %.1f%% of the float32 peak %.0f GFLOP/s (%s)\n",
          gflop, gflop / (train_ms * 1e-3), 100.0 * gflop / (train_ms * 1e-3) / peak_gflops, peak_gflops, how.c_str());
    }
  }
  const nlohmann::json torch = run_torch_resnet(
      torch_script, "--step simple --classes 20 " + torch_common_flags(arch, batch, image_size, device, repeats, 1));
  if (torch.is_null()) return 0;
  const double torch_forward = torch.value("forward_ms", -1.0), torch_train = torch.value("train_ms", -1.0);
  if (torch_forward <= 0 || torch_train <= 0) {
    std::printf("PyTorch baseline: no forward_ms/train_ms in its output; no ratio\n");
    return 0;
  }
  std::printf(
      "PyTorch %s (same threads, same device): forward %.1f ms, train step %.1f ms; spml/PyTorch time ratio: forward "
      "%.2fx, train %.2fx (lower is better; 1.0 = parity)\n",
      torch.value("torch", std::string("?")).c_str(), torch_forward, torch_train, forward_ms / torch_forward,
      train_ms / torch_train);
  const PeakMemory torch_memory = torch_peak_memory(torch, device);
  if (torch_memory.peak_mib > 0) std::printf("PyTorch %s\n", describe(torch_memory).c_str());
  return 0;
}

// One configuration of the SPML step benchmark.
struct SpmlStepShape {
  int64_t batch;
  int image_size;
};

// The SPML training step as spml-train runs it (training::TrainingStep: forward, the fused GR loss at epoch 1 of the
// data set's schedule, the loss read back once, zero_grad, backward, Adam with the groups backbone at lr and head at
// lr x lr_mult), float32, on random images N(0, 1) with one observed positive per row (seeded). Median of `repeats`
// steps after `warmup`, each ending with a device sync; then the same step in PyTorch eager on the same device.
// first_in_process: no configuration ran before in this process (on the CPU the only one with its own peak RSS).
void bench_spml_step(const std::string& arch, const std::string& dataset, SpmlStepShape shape, Device device,
                     int repeats, int warmup, uint64_t seed, const std::string& torch_script, bool first_in_process) {
  training::TrainConfig config = training::default_train_config(dataset, "gr");
  config.arch = arch;
  config.batch_size = shape.batch;
  config.image_size = shape.image_size;
  config.device = device.str();
  config.seed = int64_t(seed);
  const int64_t classes = training::dataset_settings(dataset).num_classes;
  const int64_t rows = shape.batch;
  const double rss_before = reset_peak_memory(device);

  data::Batch batch;
  batch.images = Tensor::empty({rows, 3, shape.image_size, shape.image_size}, DType::Float32, device);
  batch.images.normal_(0.0, 1.0, seed + 1);
  std::vector<float> observed(std::size_t(rows * classes), 0.f);
  std::mt19937_64 rng(seed);
  for (int64_t b = 0; b < rows; ++b) observed[std::size_t(b * classes + int64_t(rng() % uint64_t(classes)))] = 1.f;
  batch.observed = Tensor::from_vector(observed, {rows, classes}).to(device);  // [B, C]
  batch.labels = batch.observed;  // the clean labels: only BCE trains on them
  std::vector<int64_t> indices(static_cast<std::size_t>(rows));
  std::iota(indices.begin(), indices.end(), int64_t(0));
  batch.indices = Tensor::from_vector(indices, {rows});  // [B] int64, CPU: rows of a one-batch "split"

  // Declared before the step: on CUDA the step's phase clock adds device times into it until the step is gone.
  training::PhaseSeconds phases;
  double step_ms = 0;
  PeakMemory memory;
  losses::LossParams gr{};
  {
    auto net = training::make_model(config, classes);
    net->to(device);
    training::TrainingStep step(config, net, batch.observed, device);
    step.begin_epoch(1);
    gr = step.loss_params();
    const auto sync = [&] {
      if (device.is_cuda()) cuda_runtime::synchronize(device.index);
    };
    const auto one_step = [&] {
      const training::StepResult r = step.run(batch, phases);
      SPML_CHECK(r.finite(), "spml-bench: the SPML step's loss or logits are not finite (loss ", r.loss, ")");
    };
    step_ms = time_median(one_step, repeats, warmup, sync).median_ms;
    memory = peak_memory(device, rss_before, first_in_process);
  }
  std::printf(
      "SPML step %s batch %lld, %dx%d, %s, float32, GR on %lld classes (%s), Adam backbone lr %g / head lr %g: "
      "%.1f ms, %.1f img/s (median of %d steps after %d warm-up%s)\n",
      arch.c_str(), (long long)rows, shape.image_size, shape.image_size, device.str().c_str(), (long long)classes,
      dataset.c_str(), config.lr, config.lr * config.lr_mult, step_ms, double(rows) * 1e3 / step_ms, repeats, warmup,
      warmup == 1 ? "" : "s");
  std::printf("  spml %s\n", describe(memory).c_str());

  char loss_flags[320];
  std::snprintf(loss_flags, sizeof loss_flags,
                " --lr %.17g --lr-mult %.17g --w %.17g --b %.17g --mu %.17g --sigma %.17g --q2 %.17g --q3 %.17g",
                config.lr, config.lr_mult, gr.w, gr.b, gr.mu, gr.sigma, gr.q2, gr.q3);
  const nlohmann::json torch =
      run_torch_resnet(torch_script,
                       "--step spml --classes " + std::to_string(classes) + " --seed " + std::to_string(seed) + " " +
                           torch_common_flags(arch, rows, shape.image_size, device, repeats, warmup) + loss_flags,
                       "  ");
  if (torch.is_null()) return;
  const double torch_ms = torch.value("step_ms", -1.0);
  if (torch_ms <= 0) {
    std::printf("  PyTorch baseline: no step_ms in its output; no ratio\n");
    return;
  }
  const PeakMemory torch_memory = torch_peak_memory(torch, device);
  // The settings as the script reports them, so the line cannot claim what the baseline did not do.
  const std::string settings = device.is_cuda() ? std::string(" (cudnn.benchmark ") +
                                                      (torch.value("cudnn_benchmark", true) ? "True" : "False") +
                                                      ", TF32 " + (torch.value("tf32", true) ? "on" : "off") + ")"
                                                : " (same threads)";
  std::printf("  PyTorch %s eager, same device%s: %.1f ms, %.1f img/s; %s\n",
              torch.value("torch", std::string("?")).c_str(), settings.c_str(), torch_ms, double(rows) * 1e3 / torch_ms,
              describe(torch_memory).c_str());
  std::printf("  spml/PyTorch time ratio %.2fx (lower is better; 1.0 = parity)", step_ms / torch_ms);
  // On the CPU the processes' footprints before the model differ (PyTorch's libraries): compare what the model added.
  if (memory.device && torch_memory.peak_mib > 0)
    std::printf(", peak device memory ratio %.2fx (allocated)", memory.peak_mib / torch_memory.peak_mib);
  else if (!memory.device && memory.known && torch_memory.above_before_mib > 0)
    std::printf(", peak memory ratio %.2fx (resident, above the process before the model)",
                memory.above_before_mib / torch_memory.above_before_mib);
  std::printf("\n");
}
}  // namespace

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-bench: kernel timings (medians) with same-run baselines"};
  std::string device_name = "cpu";
  int threads = 0, repeats = 15, gemm_size = 512;
  int64_t elements = 1 << 22;
  std::string resnet;  // empty: kernel benchmarks (or resnet50 for --spml-step); else time this ResNet
  int batch = 4, image_size = 224, warmup = 2;
  std::string torch_script = SPML_SOURCE_DIR "/scripts/bench_torch_resnet.py";
  std::string cpu_kernels, dataset = "coco";
  bool profile = false, spml_step = false, gpu_suite = false;
  uint64_t seed = 0;
  app.add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--repeats", repeats, "timed runs per kernel (median reported)")->capture_default_str();
  app.add_option("--gemm-size", gemm_size, "M = N = K of the square GEMM")->capture_default_str();
  app.add_option("--elements", elements, "elements of the element-wise and reduction tensors")->capture_default_str();
  app.add_option(
      "--resnet,--arch", resnet,
      "time this ResNet (resnet18/34/50/101) instead of the kernels; --spml-step's model (default resnet50)");
  auto* batch_opt = app.add_option("--batch", batch, "ResNet batch size")->capture_default_str();
  auto* size_opt = app.add_option("--image-size", image_size, "ResNet input size")->capture_default_str();
  app.add_flag("--spml-step", spml_step,
               "time the SPML training step (forward, GR loss, backward, Adam with backbone and head groups) and "
               "PyTorch's");
  app.add_flag("--gpu-suite", gpu_suite,
               "--spml-step at batch 8, 448 px (the SPML step) and batch 64, 224 px (throughput), one after the other")
      ->excludes(batch_opt)
      ->excludes(size_opt);
  app.add_option("--dataset", dataset, "--spml-step: the data set whose classes, lr, lr_mult and GR schedule to use")
      ->capture_default_str();
  app.add_option("--warmup", warmup, "--spml-step: untimed steps before the timed ones")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "--spml-step: seed of the model, images and labels")->capture_default_str();
  app.add_option("--torch-script", torch_script,
                 "PyTorch baseline script (run with $SPML_TORCH_PYTHON, default /usr/bin/python3)")
      ->capture_default_str();
  app.add_option("--cpu-kernels", cpu_kernels,
                 "float32 CPU kernels: onednn or reference (default: " + default_cpu_kernels_name() + ")");
  app.add_flag("--profile", profile, "--resnet: also print a per-op profile of one training step");
  CLI11_PARSE(app, argc, argv);

  try {
    const Device device = setup_threads_and_device(threads, device_name);
    set_cpu_kernels(cpu_kernels, "--cpu-kernels");
    std::printf("%s; device %s; medians of %d runs\n", build_info_string().c_str(), device.str().c_str(), repeats);
    const auto sync = [&] {
      if (device.is_cuda()) cuda_runtime::synchronize(device.index);
    };
    if (spml_step || gpu_suite) {
      const std::string arch = resnet.empty() ? "resnet50" : resnet;
      const std::vector<SpmlStepShape> shapes =
          gpu_suite ? std::vector<SpmlStepShape>{{8, 448}, {64, 224}} : std::vector<SpmlStepShape>{{batch, image_size}};
      for (std::size_t i = 0; i < shapes.size(); ++i)
        bench_spml_step(arch, dataset, shapes[i], device, repeats, warmup, seed, torch_script, i == 0);
      return 0;
    }
    if (!resnet.empty()) return bench_resnet(resnet, batch, image_size, device, repeats, torch_script, profile);
    autograd::NoGradGuard no_grad;

    // GEMM: the device's GEMM vs the builtin blocked CPU kernel (CPU) or vs the CPU BLAS (CUDA).
    {
      const int64_t n = gemm_size;
      const Tensor a = random({n, n}, device, 1), b = random({n, n}, device, 2);
      const double gflop = 2.0 * double(n) * double(n) * double(n) * 1e-9;
      const double ms = time_median([&] { matmul(a, b); }, repeats, 2, sync).median_ms;
      Tensor c = Tensor::empty({n, n});
      const Tensor ac = a.to(Device::cpu()), bc = b.to(Device::cpu());
      std::string base_name;
      double base_ms;
      if (device.is_cpu()) {
        base_name = "builtin GEMM (cpu)";
        base_ms = time_median(
                      [&] {
                        kernels::cpu::gemm_builtin<float>(false, false, n, n, n, 1.f, ac.data<float>(), n,
                                                          bc.data<float>(), n, 0.f, c.data<float>(), n);
                      },
                      std::max(3, repeats / 3), 1)
                      .median_ms;
      } else {
        base_name = std::string("cpu ") + build_info().gemm;
        base_ms = time_median([&] { matmul(ac, bc); }, std::max(3, repeats / 3), 1).median_ms;
      }
      print({"gemm " + build_info().gemm.substr(0, 8), std::to_string(n) + "^3 f32", ms, gflop, "GFLOP/s", base_name,
             base_ms});
    }

    // Bandwidth-bound kernels against a plain copy of the same number of bytes on the same device.
    const Tensor x = random({elements}, device, 3);
    Tensor copy_dst = Tensor::empty({elements}, DType::Float32, device);
    const double copy_ms = time_median([&] { copy_dst.copy_(x); }, repeats, 2, sync).median_ms;
    const double gb = double(elements) * 4 * 2 * 1e-9;  // one read + one write
    const std::string shape = std::to_string(elements) + " f32";
    print({"sigmoid forward", shape, time_median([&] { sigmoid(x); }, repeats, 2, sync).median_ms, gb, "GB/s",
           "copy of the same bytes", copy_ms});
    print({"add (bias broadcast)", shape,
           time_median(
               [&] {
                 add(x.reshape({-1, 256}), x.slice(0, 256));
               },
               repeats, 2, sync)
               .median_ms,
           gb, "GB/s", "copy of the same bytes", copy_ms});
    print({"sum (all)", shape, time_median([&] { sum(x); }, repeats, 2, sync).median_ms, gb / 2, "GB/s",
           "copy of the same bytes", copy_ms});

    // Adam over a ResNet-50-like parameter list (161 tensors); CUDA: multi-tensor vs one launch per tensor.
    {
      std::vector<int64_t> sizes;
      for (int i = 0; i < 161; ++i) sizes.push_back(i % 3 == 0 ? 2048 : (i % 3 == 1 ? 65536 : 147456));
      std::vector<Tensor> params;
      int64_t total = 0;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        Tensor p = random({sizes[i]}, device, 10 + i);
        p.set_requires_grad(true);
        p.set_grad(random({sizes[i]}, device, 500 + i));
        params.push_back(p);
        total += sizes[i];
      }
      optim::Adam grouped({{params, 1e-4, "all"}});
      const double ms = time_median([&] { grouped.step(); }, repeats, 2, sync).median_ms;
      std::vector<optim::ParamGroup> singles;
      for (std::size_t i = 0; i < params.size(); ++i) singles.push_back({{params[i]}, 1e-4, std::to_string(i)});
      optim::Adam per_tensor(singles);
      const double per_ms = time_median([&] { per_tensor.step(); }, repeats, 2, sync).median_ms;
      const double adam_gb = double(total) * 4 * 7 * 1e-9;  // read p, g, m, v; write p, m, v
      print({"adam step (161 tensors)", std::to_string(total) + " params", ms, adam_gb, "GB/s", "one group per tensor",
             per_ms});
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-bench: error: %s\n", e.what());
    return 1;
  }
}
