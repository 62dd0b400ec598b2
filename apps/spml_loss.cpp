// spml-loss: evaluates one SPML loss (the fused op) on logits and labels read from .npy files, prints one JSON
// line with the loss and the resolved hyper-parameters, and optionally writes dL/dz (and ROLE's dL/dG). With
// --bench it instead times the fused losses against the same losses composed from separate ops and against
// PyTorch's unfused ops on the same device (scripts/bench_torch_loss.py with $SPML_TORCH_PYTHON, same threads, in
// the same invocation).
#include "losses/spml_loss.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "apps/support/torch_baseline.h"
#include "framework/core/runtime.h"
#include "framework/core/timer.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/io/npy_tensor.h"
#include "framework/ops/ops.h"
#include "losses/composed_losses.h"
#include "training/dataset_settings.h"
#include "training/train_config.h"

namespace {
using namespace spml;
using losses::LossKind;
using losses::LossParams;

// Runs f, prefixing `flag` to any error it throws, so messages name the input they are about.
template <class F>
decltype(auto) with_flag(const char* flag, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    SPML_FAIL(flag, ": ", e.what());
  }
}

// scripts/bench_torch_loss.py of the source tree (the build defines SPML_SOURCE_DIR).
std::string default_torch_script() {
  return SPML_SOURCE_DIR "/scripts/bench_torch_loss.py";
}

Tensor read_input(const char* flag, const std::string& path) {
  return with_flag(flag, [&] { return io::read_npy_tensor(path); });
}

void require_matrix(const char* flag, const std::string& path, const Tensor& t) {
  SPML_CHECK(t.dim() == 2, flag, " ", path, ": expected a 2-D array [B, C], got ", t.description());
}

void write_output(const char* flag, const std::string& path, const Tensor& grad) {
  with_flag(flag, [&] { io::write_npy_tensor(path, grad.to(Device::cpu()).to(DType::Float32)); });
}

// EM+APL's soft targets for the benchmark: sigmoid(g) where g > 1 (about a sixth of N(0, 2) draws), -1 elsewhere.
Tensor apl_bench_targets(const Tensor& g) {
  std::vector<float> v = g.to(Device::cpu()).to_vector<float>();
  for (float& x : v) x = x > 1.f ? 1.f / (1.f + std::exp(-x)) : -1.f;
  return Tensor::from_vector(v, g.shape()).to(g.device());
}

struct Inputs {
  std::string logits, labels, estimates, grad_out, grad_g_out, soft_targets;
  int64_t large_loss_k = -1;  // ll_*: the entries the large-loss selection picks (-1: not given)
};

// One evaluation of the fused loss (forward + backward) on the files; prints the JSON line.
void run_files(LossKind kind, const Inputs& in, const LossParams& params, const losses::GrEpochValues& gr,
               const std::string& dataset, int epoch, Device device) {
  const bool role = kind == LossKind::ROLE;
  SPML_CHECK(role || in.estimates.empty(), "--label-estimates is only used by --loss role");
  SPML_CHECK(role || in.grad_g_out.empty(), "--grad-g-out is only written for --loss role");
  SPML_CHECK(!role || !in.estimates.empty(), "--loss role needs --label-estimates G.npy (logits of the batch's rows)");
  const bool apl = kind == LossKind::EM_APL, large_loss = kernels::is_large_loss_kind(kind);
  SPML_CHECK(apl == !in.soft_targets.empty(), apl ? "--loss em_apl needs --soft-targets T.npy (-1: not pseudo-labelled)"
                                                  : "--soft-targets is only used by --loss em_apl");
  SPML_CHECK(large_loss == (in.large_loss_k >= 0),
             large_loss ? "--loss ll_r/ll_ct/ll_cp needs --large-loss-k K (the entries the selection picks)"
                        : "--large-loss-k is only used by --loss ll_r, ll_ct and ll_cp");

  Tensor z = read_input("--logits", in.logits);
  Tensor y = read_input("--labels", in.labels);
  require_matrix("--logits", in.logits, z);
  require_matrix("--labels", in.labels, y);
  SPML_CHECK(y.shape() == z.shape(), "--labels ", in.labels, " has shape ", shape_str(y.shape()), " but --logits ",
             in.logits, " has shape ", shape_str(z.shape()));
  Tensor g;
  if (role) {
    g = read_input("--label-estimates", in.estimates);
    SPML_CHECK(g.shape() == z.shape(), "--label-estimates ", in.estimates, " has shape ", shape_str(g.shape()),
               " but --logits ", in.logits, " has shape ", shape_str(z.shape()));
  }
  // float64 inputs are evaluated in float64; everything else in float32 (labels follow the logits).
  const DType dtype = z.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  z = z.to(dtype).to(device).set_requires_grad(true);
  y = y.to(dtype);
  // Checked on the host before the move: the op checks only CPU labels.
  losses::check_binary_labels(y, "--labels " + in.labels);
  y = y.to(device);
  if (role) g = g.to(dtype).to(device).set_requires_grad(true);
  if (apl) {
    g = read_input("--soft-targets", in.soft_targets);
    SPML_CHECK(g.shape() == z.shape(), "--soft-targets ", in.soft_targets, " has shape ", shape_str(g.shape()),
               " but --logits ", in.logits, " has shape ", shape_str(z.shape()));
    g = g.to(dtype).to(device);
  }
  if (large_loss) g = losses::large_loss_selection(z, y, in.large_loss_k);

  // The op checks the label values (naming row and column); the message also names the files.
  const std::string context = "--logits " + in.logits + ", --labels " + in.labels;
  const Tensor loss = with_flag(context.c_str(), [&] { return losses::spml_loss(kind, z, y, params, g); });
  loss.backward();
  if (!in.grad_out.empty()) write_output("--grad-out", in.grad_out, z.grad());
  if (!in.grad_g_out.empty()) write_output("--grad-g-out", in.grad_g_out, g.grad());

  nlohmann::ordered_json out;
  out["loss"] = loss.item();
  out["loss_name"] = losses::loss_name(kind);
  out["batch"] = z.size(0);
  out["classes"] = z.size(1);
  out["dtype"] = dtype_name(dtype);
  out["device"] = device.str();
  out["dataset"] = dataset;
  out["epoch"] = epoch;
  if (kind == LossKind::GR)
    out["gr"] = {{"w", gr.w}, {"b", gr.b}, {"mu", gr.mu}, {"sigma", gr.sigma}, {"q2", gr.q2}, {"q3", gr.q3}};
  if (kind == LossKind::EPR || role) out["expected_positives"] = params.expected_positives;
  if (kind == LossKind::EM || apl) out["em_alpha"] = params.em_alpha;
  if (apl) out["apl_beta"] = params.apl_beta;
  if (large_loss) out["large_loss_k"] = in.large_loss_k;
  std::printf("%s\n", out.dump().c_str());
}

// PyTorch's times for the same losses on the same device (scripts/bench_torch_loss.py): ms[loss][classes]; empty,
// with *failure saying why, when the interpreter, torch or the device is missing.
using TorchTimes = std::map<std::string, std::map<int64_t, double>>;

TorchTimes torch_times(const std::string& script, const std::vector<LossKind>& kinds, const LossParams& a, int64_t rows,
                       Device device, int repeats, uint64_t seed, std::string* failure) {
  std::string names;
  for (LossKind kind : kinds) names += std::string(names.empty() ? "" : ",") + losses::loss_name(kind);
  char params[512];
  std::snprintf(params, sizeof params,
                " --w %.17g --b %.17g --mu %.17g --sigma %.17g --q2 %.17g --q3 %.17g --k %.17g --em-alpha %.17g", a.w,
                a.b, a.mu, a.sigma, a.q2, a.q3, a.expected_positives, a.em_alpha);
  const apps::TorchBaselineRun run = apps::run_torch_baseline(
      script, "--losses " + names + " --batch " + std::to_string(rows) + " --classes 80,312 --device " + device.str() +
                  " --threads " + std::to_string(num_threads()) + " --repeats " + std::to_string(repeats) + " --seed " +
                  std::to_string(seed) + params);
  TorchTimes times;
  *failure = run.failure;
  const nlohmann::json j = nlohmann::json::parse(run.json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("ms") || !j["ms"].is_object()) {
    if (failure->empty()) *failure = script + ": no \"ms\" object in its output";
    return times;
  }
  for (const auto& [loss, by_classes] : j["ms"].items())
    for (const auto& [classes, ms] : by_classes.items())
      if (ms.is_number()) times[loss][std::strtoll(classes.c_str(), nullptr, 10)] = ms.get<double>();
  return times;
}

// Fused vs composed forward + backward at B = 256, C = 80 and 312, float32, random logits, one positive per row;
// and PyTorch's unfused ops for the same loss on the same device (torch / fused: how many times faster the fused op
// is). Every timed run ends with a device sync, on both sides.
void run_bench(const std::vector<LossKind>& kinds, LossParams params, Device device, int repeats, uint64_t seed,
               const std::string& torch_script) {
  const int64_t rows = 256;
  std::string torch_failure;
  const TorchTimes torch = torch_times(torch_script, kinds, params, rows, device, repeats, seed, &torch_failure);
  std::printf("%s; device %s; float32; forward + backward, medians of %d runs; ratio = composed / fused\n",
              build_info_string().c_str(), device.str().c_str(), repeats);
  if (torch.empty())
    std::printf("PyTorch baseline: not available (%s); no torch columns\n", torch_failure.c_str());
  else
    std::printf("PyTorch baseline: %s, unfused ops on %s, same shapes and repeats\n", apps::torch_python().c_str(),
                device.str().c_str());
  std::printf("%-6s %4s %4s %10s %12s %8s %12s %12s", "loss", "B", "C", "fused ms", "composed ms", "ratio", "|d loss|",
              "|d dL/dz|");
  if (torch.empty()) {
    std::printf("\n");
  } else {
    std::printf(" %10s %12s\n", "torch ms", "torch/fused");
  }
  const auto sync = [&] {
    if (device.is_cuda()) cuda_runtime::synchronize(device.index);
  };
  for (LossKind kind : kinds) {
    for (int64_t cols : {int64_t(80), int64_t(312)}) {
      params.num_classes = double(cols);
      Tensor z0 = Tensor::empty({rows, cols}, DType::Float32, device);
      z0.normal_(0.0, 2.0, seed);
      Tensor g0 = Tensor::empty({rows, cols}, DType::Float32, device);
      g0.normal_(0.0, 2.0, seed + 1);
      std::vector<float> y_host(std::size_t(rows * cols), 0.f);
      std::mt19937_64 rng(seed);
      for (int64_t b = 0; b < rows; ++b) y_host[std::size_t(b * cols + int64_t(rng() % uint64_t(cols)))] = 1.f;
      const Tensor y = Tensor::from_vector(y_host, {rows, cols}).to(device);
      const bool role = kind == LossKind::ROLE;

      // Fresh leaves per run so gradients never accumulate across runs.
      struct Result {
        Tensor loss, dz;
      };
      const auto step = [&](bool fused) {
        Tensor z = z0.detach().set_requires_grad(true);
        // EM+APL: about a quarter of the entries pseudo-labelled (g0 > 1); LL: an eighth of the entries selected.
        Tensor g = role                                ? g0.detach().set_requires_grad(true)
                   : kind == LossKind::EM_APL          ? apl_bench_targets(g0)
                   : kernels::is_large_loss_kind(kind) ? losses::large_loss_selection(z, y, rows * cols / 8)
                                                       : Tensor();
        Tensor loss =
            fused ? losses::spml_loss(kind, z, y, params, g) : losses::composed_spml_loss(kind, z, y, params, g);
        loss.backward();
        return Result{loss, z.grad()};
      };
      const double fused_ms = time_median([&] { step(true); }, repeats, 5, sync).median_ms;
      const double composed_ms = time_median([&] { step(false); }, repeats, 5, sync).median_ms;
      const Result f = step(true), c = step(false);
      std::printf("%-6s %4lld %4lld %10.4f %12.4f %7.2fx %12.3g %12.3g", losses::loss_name(kind), (long long)rows,
                  (long long)cols, fused_ms, composed_ms, composed_ms / fused_ms,
                  std::abs(f.loss.item() - c.loss.item()), max_abs_diff(f.dz, c.dz));
      const auto t = torch.find(losses::loss_name(kind));
      if (torch.empty()) {
        std::printf("\n");
      } else if (t == torch.end() || !t->second.count(cols)) {
        std::printf(" %10s %12s\n", "-", "-");
      } else {
        const double torch_ms = t->second.at(cols);
        std::printf(" %10.4f %11.2fx\n", torch_ms, torch_ms / fused_ms);
      }
    }
  }
}
}  // namespace

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-loss: evaluate an SPML loss on .npy logits/labels (JSON line, gradients as .npy), or --bench"};
  std::string loss_flag, device_name = "cpu", dataset = "voc";
  Inputs in;
  int epoch = 1, epochs = 8, linear_init = 0, threads = 0, repeats = 50;
  uint64_t seed = 0;
  std::vector<double> beta, alpha, q2q3;
  double expected_pos = 0, em_alpha = 0;
  bool bench = false;
  app.add_option("--loss", loss_flag, "loss: " + CLI::detail::join(losses::loss_names()) + " (--bench: also all)");
  app.add_option("--logits", in.logits, "logits Z [B, C] (.npy, float32 or float64)");
  app.add_option("--labels", in.labels, "labels Y [B, C] in {0, 1} (.npy, any numeric dtype)");
  app.add_option("--label-estimates", in.estimates, "role: label-estimate logits G of the batch's rows [B, C]");
  app.add_option("--grad-out", in.grad_out, "write dL/dz here (.npy, float32)");
  app.add_option("--grad-g-out", in.grad_g_out, "role: write dL/dG here (.npy, float32)");
  app.add_option("--soft-targets", in.soft_targets, "em_apl: soft targets [B, C] (.npy; -1: not pseudo-labelled)");
  app.add_option("--large-loss-k", in.large_loss_k, "ll_r/ll_ct/ll_cp: entries the large-loss selection picks");
  app.add_option("--epoch", epoch, "GR: 1-based epoch e")->capture_default_str();
  app.add_option("--epochs", epochs, "GR: total epochs T")->capture_default_str();
  app.add_option("--linear-init", linear_init, "GR: linear_init epochs n")->capture_default_str();
  // Vector flags take exactly their values, space- or comma-separated; negative numbers are values.
  auto* beta_opt = app.add_option("--beta", beta, "GR: w0 wT b0 bT (default: the data set's)")->expected(4);
  auto* alpha_opt = app.add_option("--alpha", alpha, "GR: mu0 sigma0 muT sigmaT (NOTE: not beta's order)")->expected(4);
  auto* q_opt = app.add_option("--q2q3", q2q3, "GR: q2 q3")->expected(2);
  for (auto* o : {beta_opt, alpha_opt, q_opt}) o->delimiter(',');
  auto* k_opt = app.add_option("--expected-pos", expected_pos, "EPR/ROLE: expected positives per image k");
  auto* em_opt = app.add_option("--em-alpha", em_alpha, "EM: weight of the entropy term");
  double apl_beta = 0;
  auto* apl_beta_opt =
      app.add_option("--apl-beta", apl_beta, "EM+APL: weight of the pseudo-labelled entries (default: the table's)");
  app.add_option("--dataset", dataset, "voc, coco, nuswide, cub, fashion-mosaic: default k, EM alpha and GR settings")
      ->capture_default_str();
  app.add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
  auto* bench_opt = app.add_flag("--bench", bench, "time fused vs composed losses (B = 256, C = 80 and 312, float32)");
  app.add_option("--repeats", repeats, "--bench: timed runs (median)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "--bench: seed of the random logits and labels")->capture_default_str();
  std::string torch_script = default_torch_script();
  app.add_option("--torch-script", torch_script,
                 "--bench: PyTorch baseline script (run with $SPML_TORCH_PYTHON, default /usr/bin/python3)")
      ->capture_default_str();
  for (const char* f : {"--logits", "--labels", "--label-estimates", "--grad-out", "--grad-g-out"})
    bench_opt->excludes(f);
  CLI11_PARSE(app, argc, argv);

  try {
    const Device device = setup_threads_and_device(threads, device_name);

    // The data set supplies the defaults; explicit flags override them.
    const training::DatasetSettings& ds = with_flag(
        "--dataset", [&]() -> const training::DatasetSettings& { return training::dataset_settings(dataset); });
    losses::GrSettings settings = ds.gr;
    if (beta_opt->count() > 0) settings.beta = beta;
    if (alpha_opt->count() > 0) settings.alpha = alpha;
    if (q_opt->count() > 0) settings.q2q3 = q2q3;
    const double k = k_opt->count() > 0 ? expected_pos : ds.expected_positives;
    const double em = em_opt->count() > 0 ? em_alpha : ds.em_alpha;
    const losses::GrEpochValues gr = losses::GrSchedule(settings, epochs, linear_init).at(epoch);
    // EM+APL's beta: the flag, else the losses' table on this data set (training/dataset_settings.h).
    const double beta_apl =
        apl_beta_opt->count() > 0 ? apl_beta : training::default_train_config(dataset, "em_apl").apl_beta;
    const auto params_of = [&] {
      kernels::LossParams p = losses::make_loss_params(gr, k, em, 1);
      p.apl_beta = beta_apl;
      return p;
    };

    if (bench) {
      std::vector<LossKind> kinds;
      if (loss_flag.empty() || loss_flag == "all") {
        for (const std::string& name : losses::loss_names()) kinds.push_back(losses::parse_loss_name(name));
      } else {
        kinds.push_back(with_flag("--loss", [&] { return losses::parse_loss_name(loss_flag); }));
      }
      run_bench(kinds, params_of(), device, repeats, seed, torch_script);
      return 0;
    }
    SPML_CHECK(!loss_flag.empty(), "--loss is required (one of ", CLI::detail::join(losses::loss_names(), ", "), ")");
    SPML_CHECK(!in.logits.empty() && !in.labels.empty(), "--logits and --labels are required (or --bench)");
    const LossKind kind = with_flag("--loss", [&] { return losses::parse_loss_name(loss_flag); });
    run_files(kind, in, params_of(), gr, dataset, epoch, device);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-loss: error: %s\n", e.what());
    return 1;
  }
}
