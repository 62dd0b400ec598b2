// mAP, Cole et al.'s ranking metrics and the mAP against the observed labels, as JSON.
#include "training/split_metrics.h"

#include <string>

#include "framework/metrics/average_precision.h"
#include "framework/metrics/ranking_metrics.h"

namespace spml::training {
namespace {

// Runs f, prefixing the message of an spml::Error it throws with `what` (which labels were being measured).
template <class F>
auto naming(const char* what, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(std::string("split_metrics_json: ") + what + ": " + e.what());
  }
}

}  // namespace

nlohmann::json split_metrics_json(const Tensor& probabilities, const Tensor& clean_labels,
                                  const Tensor& observed_labels) {
  nlohmann::json out;
  out["mAP"] =
      naming("clean labels", [&] { return metrics::mean_average_precision(probabilities, clean_labels).map_percent; });
  const metrics::RankingMetrics ranking = naming("clean labels", [&] {
    return metrics::ranking_metrics(probabilities, clean_labels, {1, 3, 5});
  });
  for (std::size_t q = 0; q < ranking.ks.size(); ++q) {
    const std::string k = std::to_string(ranking.ks[q]);
    out["recall_at_" + k] = ranking.recall_percent[q];
    out["precision_at_" + k] = ranking.precision_percent[q];
    out["top_" + k] = ranking.top_percent[q];
  }
  if (observed_labels.defined())
    out["mAP_observed"] = naming(
        "observed labels", [&] { return metrics::mean_average_precision(probabilities, observed_labels).map_percent; });
  return out;
}

}  // namespace spml::training
