// spml-bench: times the framework's kernels (GEMM, element-wise, reduction, Adam) on the CPU or CUDA and
// prints medians with a baseline measured in the same run (builtin vs BLAS GEMM, a plain memory copy of the
// same bytes for bandwidth-bound kernels, per-tensor vs multi-tensor Adam), so ratios are comparable.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/core/profiler.h"
#include "framework/core/runtime.h"
#include "framework/core/timer.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "models/resnet.h"

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

// ResNet forward (eval, no grad) and a training step (forward, backward, Adam) at the given batch and size;
// on the CPU the same model in PyTorch (same threads) runs in the same invocation as the baseline. profile: one
// more step with the per-op profile (self time per op and backward, convolution GFLOP/s).
int bench_resnet(const std::string& arch, int batch, int image_size, Device device, int repeats,
                 const std::string& torch_script, bool profile) {
  const double rss_before = current_rss_mib();
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
  const double peak = peak_rss_mib();
  std::printf("%s batch %d, %dx%d, %s: forward %.1f ms (%.1f images/s), train step %.1f ms (%.1f images/s)\n",
              arch.c_str(), batch, image_size, image_size, device.str().c_str(), forward_ms, batch * 1e3 / forward_ms,
              train_ms, batch * 1e3 / train_ms);
  std::printf("peak resident memory: %.0f MiB (%.0f MiB above the process before the model)\n", peak,
              peak - rss_before);
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
  if (!device.is_cpu()) return 0;
  const std::string command = "/usr/bin/python3 " + torch_script + " --arch " + arch + " --batch " +
                              std::to_string(batch) + " --image-size " + std::to_string(image_size) + " --threads " +
                              std::to_string(num_threads()) + " --repeats " + std::to_string(repeats) + " 2>/dev/null";
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) out += buf;
    if (pclose(pipe) != 0) out.clear();
  }
  const auto number = [&](const char* key) {
    const auto at = out.find(std::string("\"") + key + "\": ");
    return at == std::string::npos ? -1.0 : std::atof(out.c_str() + at + std::strlen(key) + 4);
  };
  const double torch_forward = number("forward_ms"), torch_train = number("train_ms");
  if (torch_forward < 0 || torch_train < 0) {
    std::printf("PyTorch baseline: not available (%s could not import torch/torchvision); no ratio\n",
                torch_script.c_str());
    return 0;
  }
  std::printf(
      "PyTorch (same threads): forward %.1f ms, train step %.1f ms; spml/PyTorch time ratio: forward %.2fx, "
      "train %.2fx (lower is better; 1.0 = parity)\n",
      torch_forward, torch_train, forward_ms / torch_forward, train_ms / torch_train);
  const double torch_peak = number("peak_rss_mib"), torch_before = number("rss_before_model_mib");
  if (torch_peak > 0)
    std::printf("PyTorch peak resident memory: %.0f MiB (%.0f MiB above the process before the model)\n", torch_peak,
                torch_peak - torch_before);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-bench: kernel timings (medians) with same-run baselines"};
  std::string device_name = "cpu";
  int threads = 0, repeats = 15, gemm_size = 512;
  int64_t elements = 1 << 22;
  std::string resnet;  // empty: kernel benchmarks; else time this ResNet (and PyTorch's on the CPU)
  int batch = 4, image_size = 224;
  std::string torch_script = SPML_SOURCE_DIR "/scripts/bench_torch_resnet.py";
  std::string cpu_kernels;
  bool profile = false;
  app.add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--repeats", repeats, "timed runs per kernel (median reported)")->capture_default_str();
  app.add_option("--gemm-size", gemm_size, "M = N = K of the square GEMM")->capture_default_str();
  app.add_option("--elements", elements, "elements of the element-wise and reduction tensors")->capture_default_str();
  app.add_option("--resnet", resnet, "time this ResNet (resnet18/34/50/101) instead of the kernels");
  app.add_option("--batch", batch, "ResNet batch size")->capture_default_str();
  app.add_option("--image-size", image_size, "ResNet input size")->capture_default_str();
  app.add_option("--torch-script", torch_script, "PyTorch baseline script (CPU)")->capture_default_str();
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
