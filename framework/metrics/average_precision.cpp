// Average precision with scikit-learn's tie handling.
#include "framework/metrics/average_precision.h"

#include <algorithm>
#include <numeric>

namespace spml::metrics {

double average_precision(const std::vector<double>& scores, const std::vector<double>& labels) {
  SPML_CHECK(scores.size() == labels.size(), "average_precision: ", scores.size(), " scores but ", labels.size(),
             " labels");
  const double positives = std::accumulate(labels.begin(), labels.end(), 0.0);
  if (positives == 0) return 0.0;
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double ap = 0, tp = 0, seen = 0, previous_recall = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    tp += labels[order[k]];
    seen += 1;
    // A threshold ends where the next score differs: tied scores enter together.
    if (k + 1 < order.size() && scores[order[k + 1]] == scores[order[k]]) continue;
    const double recall = tp / positives, precision = tp / seen;
    ap += (recall - previous_recall) * precision;
    previous_recall = recall;
  }
  return ap;
}

MapResult mean_average_precision(const Tensor& scores, const Tensor& labels) {
  SPML_CHECK(scores.defined() && labels.defined() && scores.dim() == 2 && scores.shape() == labels.shape(),
             "mean_average_precision: scores ", scores.description(), " and labels ", labels.description(),
             " must both be [N, C]");
  const int64_t n = scores.size(0), c = scores.size(1);
  const std::vector<double> s = scores.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::vector<double> y = labels.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  MapResult result;
  std::vector<double> column_s(static_cast<std::size_t>(n)), column_y(static_cast<std::size_t>(n));
  for (int64_t j = 0; j < c; ++j) {
    for (int64_t i = 0; i < n; ++i) {
      column_s[std::size_t(i)] = s[std::size_t(i * c + j)];
      column_y[std::size_t(i)] = y[std::size_t(i * c + j)];
      SPML_CHECK(column_y[std::size_t(i)] == 0.0 || column_y[std::size_t(i)] == 1.0, "mean_average_precision: label ",
                 column_y[std::size_t(i)], " at row ", i, ", column ", j, " is not 0 or 1");
    }
    result.per_class_ap.push_back(average_precision(column_s, column_y));
  }
  const double sum = std::accumulate(result.per_class_ap.begin(), result.per_class_ap.end(), 0.0);
  result.map_percent = c ? 100.0 * sum / double(c) : 0.0;
  return result;
}

}  // namespace spml::metrics
