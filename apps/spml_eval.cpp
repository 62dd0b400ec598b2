// spml-eval: the metrics of docs/method.md section 9 of predictions against labels, both .npy [N, C], or of a training
// run's best checkpoint on its test or val split (--run RUNDIR --split). Prints one JSON line: "mAP" (percent, against
// the clean labels, scikit-learn's average precision), Cole et al.'s "recall_at_k", "precision_at_k" and "top_k" for
// k = 1, 3, 5 (percent, same labels), "mAP_observed" (mAP against the observed single-positive labels: the run's, or
// --observed-labels O.npy), "images", "classes" ("run" and "split" with --run), and "per_class_AP" with --per-class.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "framework/core/runtime.h"
#include "framework/io/npy_tensor.h"
#include "framework/metrics/average_precision.h"
#include "training/split_metrics.h"
#include "training/trainer.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-eval: mAP and the ranking metrics of scores against {0, 1} labels, or of a training run"};
  std::string predictions, labels, observed_labels, run_dir, split = "test", device_name;
  int threads = 0;
  std::string cpu_kernels;
  bool per_class = false;
  auto* predictions_opt = app.add_option("--predictions", predictions, "scores [N, C] (.npy; ranked exactly as given)");
  auto* labels_opt = app.add_option("--labels", labels, "clean labels [N, C] in {0, 1} (.npy)");
  auto* observed_opt = app.add_option("--observed-labels", observed_labels,
                                      "observed labels [N, C] in {0, 1} (.npy): adds mAP_observed");
  auto* run_opt = app.add_option("--run", run_dir, "re-evaluate this spml-train run folder's best.safetensors");
  app.add_option("--split", split, "--run: test or val")->capture_default_str();
  app.add_option("--device", device_name, "--run: cpu, cuda or cuda:N (default: the run's)");
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--cpu-kernels", cpu_kernels,
                 "--run: float32 CPU kernels: onednn or reference (default: " + spml::default_cpu_kernels_name() + ")");
  app.add_flag("--per-class", per_class, "also print per_class_AP (in [0, 1])");
  predictions_opt->needs(labels_opt)->excludes(run_opt);
  labels_opt->needs(predictions_opt)->excludes(run_opt);
  observed_opt->needs(predictions_opt)->excludes(run_opt);
  CLI11_PARSE(app, argc, argv);
  try {
    using namespace spml;
    SPML_CHECK(run_opt->count() > 0 || predictions_opt->count() > 0,
               "give --predictions P.npy --labels Y.npy [--observed-labels O.npy], or --run RUNDIR [--split test|val]");
    nlohmann::json out;
    std::vector<double> per_class_ap;
    if (run_opt->count() > 0) {
      setup_threads_and_device(threads, device_name.empty() ? "cpu" : device_name);
      set_cpu_kernels(cpu_kernels, "--cpu-kernels");
      const training::SplitEvaluation eval = training::evaluate_run(run_dir, split, device_name);
      out = training::split_metrics_json(eval.probabilities, eval.labels, eval.observed);
      out["mAP"] = eval.map.map_percent;  // what evaluate_run measured (the same function on the same tensors)
      per_class_ap = eval.map.per_class_ap;
      out["run"] = run_dir;
      out["split"] = split;
      out["images"] = eval.probabilities.size(0);
      out["classes"] = eval.probabilities.size(1);
    } else {
      set_num_threads(threads);
      const Tensor scores = io::read_npy_tensor(predictions), truth = io::read_npy_tensor(labels);
      SPML_CHECK(scores.shape() == truth.shape(), "--predictions ", predictions, " ", shape_str(scores.shape()),
                 " and --labels ", labels, " ", shape_str(truth.shape()), " differ in shape");
      Tensor observed;
      if (observed_opt->count() > 0) {
        observed = io::read_npy_tensor(observed_labels);
        SPML_CHECK(observed.shape() == scores.shape(), "--observed-labels ", observed_labels, " ",
                   shape_str(observed.shape()), " and --predictions ", predictions, " ", shape_str(scores.shape()),
                   " differ in shape");
      }
      out = training::split_metrics_json(scores, truth, observed);
      if (per_class) per_class_ap = metrics::mean_average_precision(scores, truth).per_class_ap;
      out["images"] = scores.size(0);
      out["classes"] = scores.size(1);
    }
    if (per_class) out["per_class_AP"] = per_class_ap;
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-eval: error: %s\n", e.what());
    return 1;
  }
}
