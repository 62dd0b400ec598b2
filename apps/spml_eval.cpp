// spml-eval: mAP (SPML.md section 5, scikit-learn's average precision) of predictions against labels, both .npy
// [N, C]; prints one JSON line {"mAP": <percent>, ...} (and "per_class_AP" with --per-class).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "framework/core/runtime.h"
#include "framework/io/npy_tensor.h"
#include "framework/metrics/average_precision.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-eval: mean average precision of scores against {0, 1} labels"};
  std::string predictions, labels;
  bool per_class = false;
  app.add_option("--predictions", predictions, "scores [N, C] (.npy; ranked exactly as given)")->required();
  app.add_option("--labels", labels, "labels [N, C] in {0, 1} (.npy)")->required();
  app.add_flag("--per-class", per_class, "also print per_class_AP (in [0, 1])");
  CLI11_PARSE(app, argc, argv);
  try {
    using namespace spml;
    const Tensor scores = io::read_npy_tensor(predictions), truth = io::read_npy_tensor(labels);
    SPML_CHECK(scores.shape() == truth.shape(), "--predictions ", predictions, " ", shape_str(scores.shape()),
               " and --labels ", labels, " ", shape_str(truth.shape()), " differ in shape");
    const metrics::MapResult r = metrics::mean_average_precision(scores, truth);
    nlohmann::json out = {{"mAP", r.map_percent}, {"images", scores.size(0)}, {"classes", scores.size(1)}};
    if (per_class) out["per_class_AP"] = r.per_class_ap;
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-eval: error: %s\n", e.what());
    return 1;
  }
}
