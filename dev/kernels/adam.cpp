// dev-adam: the Adam step study. A float64 CPU reference written from the formulas (PyTorch's torch.optim.Adam:
// bias-corrected moments, eps after the square root, weight decay as L2 on the gradient; AdamW's decoupled decay,
// as kernels/common/optim_math.h implements both), version 1 = the production kernels (kernels::cpu::adam_step_multi
// here, validated and timed, with adam_step per tensor validated beside it; kernels::cuda::adam_step_multi in
// adam_versions.cu with the GPU versions 2-3 written there). Every version is validated before it is timed; a mismatch
// makes the exit status 1.
//   dev-adam [--version N] [--params N] [--tensors T] [--reps R] [--cpu-only]
#include "dev/kernels/adam.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "dev/kernels/common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace spml::dev {
namespace {
using kernels::AdamParams;

// m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2, p -= lr (m_t / bc1) / (sqrt(v_t / bc2) + eps), with g += wd p
// first (Adam) or p *= 1 - lr wd first (AdamW). Written in the textbook form, not optim_math.h's rearrangement.
AdamReference reference(const AdamProblem& pr) {
  const AdamParams& a = pr.params;
  AdamReference r;
  r.p.assign(pr.p.begin(), pr.p.end());
  r.m.assign(pr.m.begin(), pr.m.end());
  r.v.assign(pr.v.begin(), pr.v.end());
  for (std::size_t t = 0; t < pr.size.size(); ++t) {
    for (int64_t i = pr.offset[t]; i < pr.offset[t] + pr.size[t]; ++i) {
      double p = r.p[i], g = pr.g[i];
      if (a.decoupled)
        p = p * (1.0 - a.lr * a.weight_decay);
      else
        g = g + a.weight_decay * p;
      const double m = a.beta1 * r.m[i] + (1.0 - a.beta1) * g;
      const double v = a.beta2 * r.v[i] + (1.0 - a.beta2) * g * g;
      const double m_hat = m / a.bias_correction1, v_hat = v / a.bias_correction2;
      r.p[i] = p - a.lr * m_hat / (std::sqrt(v_hat) + a.eps);
      r.m[i] = m;
      r.v[i] = v;
    }
  }
  return r;
}

// `tensors` sizes drawn log-uniformly over 4 decades (like a network's biases, norms and weights: ResNet-50 has
// 161 tensors from 64 to 2.4M elements), scaled to `params` in all; each tensor starts on a 4-float boundary.
// Step t = 10 of lr 1e-3, weight decay 1e-2; magnitudes as after a few steps: g, m ~ 1e-2, v ~ 1e-4.
AdamProblem make_problem(const char* name, bool decoupled, int64_t params, int64_t tensors, uint32_t seed) {
  AdamProblem pr;
  pr.name = name;
  AdamParams& a = pr.params;
  a.lr = 1e-3, a.beta1 = 0.9, a.beta2 = 0.999, a.eps = 1e-8, a.weight_decay = 1e-2, a.decoupled = decoupled;
  const int step = 10;
  a.bias_correction1 = 1.0 - std::pow(a.beta1, step);
  a.bias_correction2 = 1.0 - std::pow(a.beta2, step);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> decades(0.0, 4.0);  // tensor sizes only
  std::vector<double> weight(static_cast<std::size_t>(tensors));
  double sum = 0;
  for (double& w : weight) sum += (w = std::pow(10.0, decades(rng)));
  int64_t assigned = 0;
  for (int64_t t = 0; t < tensors; ++t) {
    const int64_t n =
        t + 1 == tensors ? params - assigned : std::max<int64_t>(1, int64_t(double(params) * weight[t] / sum));
    pr.offset.push_back((pr.total + 3) / 4 * 4);
    pr.size.push_back(std::max<int64_t>(n, 1));
    pr.total = pr.offset.back() + pr.size.back();
    assigned += pr.size.back();
  }
  pr.p.resize(std::size_t(pr.total));
  pr.g.resize(std::size_t(pr.total));
  pr.m.resize(std::size_t(pr.total));
  pr.v.resize(std::size_t(pr.total));
  // Uniform values from a counter hash (25.6M x 4 draws in well under a second; the distribution's shape does not
  // matter to a memory-bound kernel). Every 64th parameter is "dead" (g, m ~ 1e-9, v ~ 1e-17): there sqrt(v_hat)
  // is comparable to eps, so where eps sits (after the square root) decides the update.
  uint64_t state = seed;
  const auto uniform = [&state](float lo, float hi) {
    uint64_t x = (state += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return lo + (hi - lo) * float(double(x >> 40) / double(1ull << 24));
  };
  for (int64_t i = 0; i < pr.total; ++i) {
    const float scale = i % 64 == 63 ? 1e-7f : 1.0f;
    pr.p[i] = uniform(-2.0f, 2.0f);
    pr.g[i] = scale * uniform(-1e-2f, 1e-2f);
    pr.m[i] = scale * uniform(-1e-2f, 1e-2f);
    pr.v[i] = scale * scale * uniform(0.0f, 1e-4f);
  }
  return pr;
}

std::vector<kernels::cpu::AdamTensor<float>> cpu_tensors(const AdamProblem& pr, std::vector<float>& p,
                                                         std::vector<float>& m, std::vector<float>& v) {
  std::vector<kernels::cpu::AdamTensor<float>> list;
  for (std::size_t t = 0; t < pr.size.size(); ++t) {
    const int64_t o = pr.offset[t];
    list.push_back({p.data() + o, pr.g.data() + o, m.data() + o, v.data() + o, pr.size[t], pr.params.bias_correction1,
                    pr.params.bias_correction2});
  }
  return list;
}

// cpu v1 = adam_step_multi over the group (what optim::Adam runs), and adam_step per tensor beside it.
bool validate_cpu(const AdamProblem& pr, const AdamReference& ref) {
  bool ok = true;
  for (bool multi : {true, false}) {
    std::vector<float> p = pr.p, m = pr.m, v = pr.v;
    if (multi) {
      kernels::cpu::adam_step_multi<float>(cpu_tensors(pr, p, m, v), pr.params);
    } else {
      for (std::size_t t = 0; t < pr.size.size(); ++t) {
        const int64_t o = pr.offset[t];
        kernels::cpu::adam_step<float>(p.data() + o, pr.g.data() + o, m.data() + o, v.data() + o, pr.size[t],
                                       pr.params);
      }
    }
    ok = check_step("cpu", "v1", pr, ref, p.data(), m.data(), v.data(),
                    multi ? "  (adam_step_multi)" : "  (adam_step per tensor)") &&
         ok;
  }
  return ok;
}

void print_bench_header() {
  std::printf("%-5s %-8s %-8s %10s %5s %6s %11s %9s %7s\n", "side", "version", "case", "params", "T", "block",
              "time_us", "GB/s", "%peak");
}

void cpu_bench(const AdamProblem& pr, int reps) {
  std::vector<float> p = pr.p, m = pr.m, v = pr.v;
  const auto list = cpu_tensors(pr, p, m, v);
  const double gb = kAdamBytesPerParam * double(pr.params_count()) / 1e9;
  const int cpu_reps = std::min(reps, 10), ref_reps = std::max(1, cpu_reps / 5);
  const double ref_ms = cpu_median_ms([&] { (void)reference(pr); }, ref_reps, 0);
  const double v1_ms = cpu_median_ms([&] { kernels::cpu::adam_step_multi<float>(list, pr.params); }, cpu_reps, 1);
  for (const auto& [name, ms] : {std::pair<const char*, double>{"ref", ref_ms}, {"v1", v1_ms}})
    std::printf("%-5s %-8s %-8s %10lld %5zu %6s %11.1f %9.2f %7s\n", "cpu", name, pr.name.c_str(),
                static_cast<long long>(pr.params_count()), pr.size.size(), "-", ms * 1e3, gb / (ms * 1e-3), "-");
}

int run(int argc, char** argv) {
  int64_t version = 0, params = 25'600'000, tensors = 0, reps = 50;
  bool cpu_only = false;
  ArgParser args("dev-adam", "Adam step study: validate every version against a float64 reference, then time it");
  args.option("--version", &version, "GPU version to run, 1-3 (0: all; the CPU part always runs)");
  args.option("--params", &params, "parameters in the group (25.6M: ResNet-50)");
  args.option("--tensors", &tensors, "tensors the parameters are split into (0: 1 and 161, ResNet-50's count)");
  args.option("--reps", &reps,
              "timed repetitions per GPU measurement, median reported (CPU: min(R, 10), its reference 2)");
  args.flag("--cpu-only", &cpu_only, "skip the GPU part");
  args.parse(argc, argv);
  if (version < 0 || version > 3 || params < 1 || tensors < 0 || tensors > params || reps < 1) {
    std::fprintf(stderr, "dev-adam: --version must be 0-3, --params >= 1, 0 <= --tensors <= --params, --reps >= 1\n");
    return 2;
  }
  const std::vector<int64_t> tensor_list = tensors > 0 ? std::vector<int64_t>{tensors} : std::vector<int64_t>{1, 161};
  const std::string no_gpu = cpu_only ? "--cpu-only" : gpu_unavailable_reason();
  const bool gpu = no_gpu.empty();
  std::printf(
      "dev-adam: float32 versions vs a float64 reference; tolerances: update %.0e, p/m/v %.0e (max |err| / "
      "max |ref|); CPU threads %d\n",
      kUpdateTol, kStateTol, kernels::cpu::num_threads());
#if SPML_WITH_CUDA
  if (gpu) print_device();
#endif
  if (!gpu) std::printf("GPU part skipped: %s\n", no_gpu.c_str());

  bool ok = true;
  uint32_t seed = 1;
  for (int64_t t : tensor_list) {
    std::printf("\n== %lld parameters in %lld tensor(s)\n", static_cast<long long>(params), static_cast<long long>(t));
    bool shape_ok = true;
    AdamProblem bench_problem;
    for (const auto& [name, decoupled] : {std::pair<const char*, bool>{"adam-l2", false}, {"adamw", true}}) {
      AdamProblem pr = make_problem(name, decoupled, params, t, seed++);
      const AdamReference ref = reference(pr);
      shape_ok = validate_cpu(pr, ref) && shape_ok;
#if SPML_WITH_CUDA
      if (gpu) shape_ok = gpu_validate(pr, ref, int(version)) && shape_ok;
#endif
      // The bench runs Adam with L2 decay: training runs it without, the memory traffic is the same.
      if (!decoupled) bench_problem = std::move(pr);
    }
    ok = ok && shape_ok;
    if (!shape_ok) {
      std::printf("bench skipped: a version does not match the reference at this shape\n");
      continue;
    }
    print_bench_header();
    cpu_bench(bench_problem, int(reps));
#if SPML_WITH_CUDA
    if (gpu) gpu_bench(bench_problem, int(version), int(reps));
#endif
  }
  std::printf("\ndev-adam: %s\n", ok ? "all versions match the reference" : "MISMATCH (see above)");
  return ok ? 0 : 1;
}
}  // namespace
}  // namespace spml::dev

int main(int argc, char** argv) {
  return spml::dev::run(argc, argv);
}
