// dev-spml-loss: the fused SPML loss study. A float64 CPU reference written from the formulas of docs/method.md
// sections 3 and 5 (GR, AN, EPR), version 1 = the production kernels (kernels::cpu::spml_loss here,
// kernels::cuda::spml_loss in spml_loss_versions.cu together with the GPU versions 2-4 written there). Every version is
// validated against the reference (loss and dL/dz) before it is timed; a mismatch makes the exit status 1.
//   dev-spml-loss [--version N] [--rows B] [--cols C] [--reps R] [--cpu-only]
#include "dev/kernels/spml_loss.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dev/kernels/common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace spml::dev {
namespace {
using kernels::LossKind;
using kernels::LossParams;

// ---------------------------------------------------------------------------------------------------------------
// Reference: straight loops in double, nothing shared with the production math (no spml_loss_math.h functions).
// ---------------------------------------------------------------------------------------------------------------
double sigmoid(double x) {
  return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
}

// Loss of one entry at probability p. GR's K and V are stop-gradient quantities computed from p_kv; the
// reference passes p_kv = p, the finite-difference check holds p_kv at the unperturbed p.
double element_loss(LossKind kind, double p, double p_kv, bool positive, const LossParams& a) {
  switch (kind) {
    case LossKind::GR: {
      if (positive) return -std::log(p + 1e-7);
      const double k = sigmoid(a.w * p_kv + a.b);
      const double d = (p_kv - a.mu) / a.sigma;
      const double v = std::exp(-0.5 * d * d);
      return v * (k * (1.0 - std::pow(p, a.q2)) / a.q2 + (1.0 - k) * (1.0 - std::pow(1.0 - p, a.q3)) / a.q3);
    }
    case LossKind::AN:
      return positive ? -std::log(p + 1e-5) : -std::log(1.0 - p + 1e-5);
    case LossKind::EPR:
      return positive ? -std::log(p + 1e-5) : 0.0;
    default:
      return 0.0;
  }
}

// dl/dz of one entry (docs/method.md's closed forms, sections 3 and 5; dp/dz = p (1 - p)), not yet divided by N.
double element_grad(LossKind kind, double p, bool positive, const LossParams& a) {
  switch (kind) {
    case LossKind::GR: {
      if (positive) return -(1.0 - p) * p / (p + 1e-7);
      const double k = sigmoid(a.w * p + a.b);
      const double d = (p - a.mu) / a.sigma;
      const double v = std::exp(-0.5 * d * d);
      return v * (-k * std::pow(p, a.q2) * (1.0 - p) + (1.0 - k) * p * std::pow(1.0 - p, a.q3));
    }
    case LossKind::AN:
      return positive ? -(1.0 - p) * p / (p + 1e-5) : p * (1.0 - p) / (1.0 - p + 1e-5);
    case LossKind::EPR:
      return positive ? -(1.0 - p) * p / (p + 1e-5) : 0.0;
    default:
      return 0.0;
  }
}

// Mean over B * C of the element losses; EPR adds R = (mean_b sum_c p_bc - k)^2 / C^2, whose dR/dz_bc is
// 2 (mean - k) / (C^2 B) p_bc (1 - p_bc).
LossReference reference(const LossProblem& pr, const LossCase& c) {
  const int64_t n = pr.n();
  const double inv_n = 1.0 / double(n);
  double reg = 0, coef = 0;
  if (c.kind == LossKind::EPR) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += sigmoid(pr.z[i]);
    const double mean = sum / double(pr.rows), c2 = double(pr.cols) * double(pr.cols);
    const double k = c.params.expected_positives;
    reg = (mean - k) * (mean - k) / c2;
    coef = 2.0 * (mean - k) / (c2 * double(pr.rows));
  }
  LossReference r;
  r.dz.resize(std::size_t(n));
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = sigmoid(pr.z[i]);
    const bool pos = pr.y[i] > 0.5f;
    total += element_loss(c.kind, p, p, pos, c.params);
    r.dz[i] = element_grad(c.kind, p, pos, c.params) * inv_n + coef * p * (1.0 - p);
  }
  r.loss = total * inv_n + reg;
  return r;
}

// The reference checks itself once: its dl/dz against central differences of its own loss (K and V held, as
// they carry no gradient), and GR against the values docs/method.md section 12 tabulates.
bool check_reference() {
  bool ok = true;
  LossParams late;
  late.w = 1.75, late.b = -2, late.mu = 0.8, late.sigma = 0.5, late.q2 = 0.01, late.q3 = 1.5;
  double worst = 0;
  for (LossKind kind : {LossKind::GR, LossKind::AN, LossKind::EPR}) {
    for (double z = -6; z <= 6; z += 0.37) {
      for (bool pos : {false, true}) {
        const double h = 1e-5, p = sigmoid(z);
        const double fd =
            (element_loss(kind, sigmoid(z + h), p, pos, late) - element_loss(kind, sigmoid(z - h), p, pos, late)) /
            (2 * h);
        const double g = element_grad(kind, p, pos, late);
        worst = std::max(worst, std::fabs(fd - g) / std::max(std::fabs(g), 1e-3));
      }
    }
  }
  if (worst > 1e-6) ok = false;
  // docs/method.md section 12: epoch 1 of the defaults, one positive per row, every p = 0.5.
  LossParams e1;
  e1.w = 0, e1.b = -2, e1.mu = 0.5375, e1.sigma = 1.8125, e1.q2 = 0.01, e1.q3 = 1;
  const double tabulated[3][2] = {{20, 0.531152}, {80, 0.524758}, {312, 0.523173}};
  double worst_table = 0;
  for (const auto& [cols, expected] : tabulated) {
    LossProblem pr;
    pr.rows = 2, pr.cols = int64_t(cols);
    pr.z.assign(std::size_t(pr.n()), 0.0f);
    pr.y.assign(std::size_t(pr.n()), 0.0f);
    for (int64_t b = 0; b < pr.rows; ++b) pr.y[b * pr.cols + b] = 1.0f;
    worst_table = std::max(worst_table, std::fabs(reference(pr, {"GR", LossKind::GR, e1, kGradTol}).loss - expected));
  }
  if (worst_table > 1e-6) ok = false;
  std::printf(
      "reference self-check: dl/dz vs central differences max rel err %.1e, GR vs tabulated values max abs "
      "err %.1e  %s\n",
      worst, worst_table, ok ? "ok" : "MISMATCH");
  return ok;
}

// Logits ~ N(0, 2.5^2) (saturated entries included), one observed positive per row, 1 row in 8 without any (SPML
// rows can be all unobserved).
LossProblem make_problem(int64_t rows, int64_t cols, uint32_t seed) {
  LossProblem pr;
  pr.rows = rows, pr.cols = cols;
  pr.z.resize(std::size_t(pr.n()));
  pr.y.assign(std::size_t(pr.n()), 0.0f);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::uniform_int_distribution<int64_t> col(0, cols - 1);
  for (float& v : pr.z) v = normal(rng);
  for (int64_t b = 0; b < rows; ++b)
    if (b % 8 != 7) pr.y[b * cols + col(rng)] = 1.0f;
  return pr;
}

std::vector<LossCase> loss_cases() {
  LossParams gr;  // a late epoch of the default schedule: K and V far from constant
  gr.w = 1.75, gr.b = -2, gr.mu = 0.8, gr.sigma = 0.5, gr.q2 = 0.01, gr.q3 = 1;
  LossParams gr_q3 = gr;
  gr_q3.q3 = 1.5;  // CUB's setting: the general power path
  LossParams epr;
  epr.expected_positives = 1.5;
  return {{"GR", LossKind::GR, gr, kGradTol},
          {"GR-q3", LossKind::GR, gr_q3, kGradTol},
          {"AN", LossKind::AN, {}, kGradTolOneMinusP},
          {"EPR", LossKind::EPR, epr, kGradTol}};
}

void print_validation(const char* side, const char* version, const LossCase& c, double loss_err, const ErrorStats& dz,
                      bool ok) {
  std::printf(
      "validate %-4s %-4s %-6s loss rel err %.1e  dz max abs %.1e = %.1e x max |dz| (tol %.0e), max rel "
      "%.1e  %s\n",
      side, version, c.name.c_str(), loss_err, dz.max_abs, dz.max_abs / std::max(dz.scale, 1e-300), c.grad_tol,
      dz.max_rel, ok ? "ok" : "MISMATCH");
}

// kernels::cpu::spml_loss in float32, as training calls it.
bool validate_cpu_v1(const LossProblem& pr, const LossCase& c, const LossReference& ref) {
  std::vector<float> dz(std::size_t(pr.n()));
  float loss = 0;
  kernels::cpu::spml_loss<float>(c.kind, pr.z.data(), pr.y.data(), nullptr, pr.rows, pr.cols, c.params, &loss,
                                 dz.data(), nullptr);
  const double loss_err = relative_error(loss, ref.loss);
  const ErrorStats s = compare(ref.dz.data(), dz.data(), pr.n());
  const bool ok = std::isfinite(loss) && loss_err <= kLossTol && s.ok(c.grad_tol);
  print_validation("cpu", "v1", c, loss_err, s, ok);
  return ok;
}

void print_bench_header() {
  std::printf("%-5s %-8s %-6s %6s %6s %6s %11s %9s %7s\n", "side", "version", "loss", "rows", "cols", "block",
              "time_us", "GB/s", "%peak");
}

void cpu_bench(const LossProblem& pr, const LossCase& c, int reps) {
  std::vector<float> dz(std::size_t(pr.n()));
  float loss = 0;
  const double gb = loss_bytes(pr) / 1e9;
  const int cpu_reps = std::min(reps, 10), ref_reps = std::max(1, cpu_reps / 5);  // the reference is ~100x slower
  const double ref_ms = cpu_median_ms([&] { (void)reference(pr, c); }, ref_reps, 0);
  const double v1_ms = cpu_median_ms(
      [&] {
        kernels::cpu::spml_loss<float>(c.kind, pr.z.data(), pr.y.data(), nullptr, pr.rows, pr.cols, c.params, &loss,
                                       dz.data(), nullptr);
      },
      cpu_reps, 2);
  for (const auto& [name, ms] : {std::pair<const char*, double>{"ref", ref_ms}, {"v1", v1_ms}})
    std::printf("%-5s %-8s %-6s %6lld %6lld %6s %11.1f %9.2f %7s\n", "cpu", name, c.name.c_str(),
                static_cast<long long>(pr.rows), static_cast<long long>(pr.cols), "-", ms * 1e3, gb / (ms * 1e-3), "-");
}

int run(int argc, char** argv) {
  int64_t version = 0, rows = 0, cols = 0, reps = 50;
  bool cpu_only = false;
  ArgParser args("dev-spml-loss",
                 "fused SPML loss study: validate every version against a float64 reference, then time it");
  args.option("--version", &version, "GPU version to run, 1-4 (0: all; the CPU part always runs v1)");
  args.option("--rows", &rows, "batch size B (0: 256 and 8192)");
  args.option("--cols", &cols, "classes C (0: 80 and 312)");
  args.option("--reps", &reps,
              "timed repetitions per GPU measurement, median reported (CPU: min(R, 10), its reference 2)");
  args.flag("--cpu-only", &cpu_only, "skip the GPU part");
  args.parse(argc, argv);
  if (version < 0 || version > 4 || rows < 0 || cols < 0 || reps < 1) {
    std::fprintf(stderr, "dev-spml-loss: --version must be 0-4, --rows/--cols >= 0, --reps >= 1\n");
    return 2;
  }
  const std::vector<int64_t> row_list = rows > 0 ? std::vector<int64_t>{rows} : std::vector<int64_t>{256, 8192};
  const std::vector<int64_t> col_list = cols > 0 ? std::vector<int64_t>{cols} : std::vector<int64_t>{80, 312};

  const std::string no_gpu = cpu_only ? "--cpu-only" : gpu_unavailable_reason();
  const bool gpu = no_gpu.empty();
  std::printf(
      "dev-spml-loss: float32 versions vs a float64 reference (loss tolerance: relative %.0e); CPU threads %d\n",
      kLossTol, kernels::cpu::num_threads());
#if SPML_WITH_CUDA
  if (gpu) print_device();
#endif
  if (!gpu) std::printf("GPU part skipped: %s\n", no_gpu.c_str());

  bool ok = check_reference();
  const std::vector<LossCase> cases = loss_cases();
  const LossCase& bench_case = cases[0];  // GR at q3 = 1, the loss training runs
  uint32_t seed = 1;
  for (int64_t b : row_list) {
    for (int64_t c : col_list) {
      std::printf("\n== B=%lld C=%lld (%lld elements)\n", static_cast<long long>(b), static_cast<long long>(c),
                  static_cast<long long>(b * c));
      const LossProblem pr = make_problem(b, c, seed++);
      bool shape_ok = true;
      for (const LossCase& lc : cases) {
        const LossReference ref = reference(pr, lc);
        shape_ok = validate_cpu_v1(pr, lc, ref) && shape_ok;
#if SPML_WITH_CUDA
        if (gpu) shape_ok = gpu_validate(pr, lc, ref, int(version)) && shape_ok;
#endif
      }
      ok = ok && shape_ok;
      if (!shape_ok) {
        std::printf("bench skipped: a version does not match the reference at this shape\n");
        continue;
      }
      print_bench_header();
      cpu_bench(pr, bench_case, int(reps));
#if SPML_WITH_CUDA
      if (gpu) gpu_bench(pr, bench_case, int(version), int(reps));
#endif
    }
  }
  std::printf("\ndev-spml-loss: %s\n", ok ? "all versions match the reference" : "MISMATCH (see above)");
  return ok ? 0 : 1;
}
}  // namespace
}  // namespace spml::dev

int main(int argc, char** argv) {
  return spml::dev::run(argc, argv);
}
