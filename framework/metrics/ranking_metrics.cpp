// Recall@k, precision@k and top-k accuracy with numpy's stable-argsort-reversed tie order.
#include "framework/metrics/ranking_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace spml::metrics {

RankingMetrics ranking_metrics(const Tensor& scores, const Tensor& labels, const std::vector<int>& ks) {
  SPML_CHECK(scores.defined() && labels.defined() && scores.dim() == 2 && scores.shape() == labels.shape(),
             "ranking_metrics: scores ", scores.description(), " and labels ", labels.description(),
             " must both be [N, C]");
  int max_k = 0;
  for (const int k : ks) {
    SPML_CHECK(k >= 1, "ranking_metrics: k = ", k, " in ks must be at least 1");
    max_k = std::max(max_k, k);
  }
  const int64_t n = scores.size(0), c = scores.size(1);
  const std::vector<double> s = scores.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::vector<double> y = labels.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  for (std::size_t e = 0; e < y.size(); ++e)
    SPML_CHECK(y[e] == 0.0 || y[e] == 1.0, "ranking_metrics: label ", y[e], " at row ", int64_t(e) / c, ", column ",
               int64_t(e) % c, " is not 0 or 1");

  // The ranking only matters down to the largest k: a partial sort of that many classes.
  const int64_t depth = std::min<int64_t>(max_k, c);
  std::vector<double> recall_sum(ks.size(), 0.0), precision_sum(ks.size(), 0.0), top_count(ks.size(), 0.0);
  std::vector<int64_t> order(static_cast<std::size_t>(c));
  std::vector<double> hits_at(static_cast<std::size_t>(depth) + 1);  // hits_at[m]: positives among the first m
  for (int64_t i = 0; i < n; ++i) {
    const double* row = s.data() + i * c;
    const double* truth = y.data() + i * c;
    const double positives = std::accumulate(truth, truth + c, 0.0);
    if (positives == 0) continue;  // 0 for every metric; the row still counts in the means below
    // Descending score, ties by descending index; NaN above every number (numpy sorts NaN last, then reversed).
    const auto ranks_before = [row](int64_t a, int64_t b) {
      const bool nan_a = std::isnan(row[a]), nan_b = std::isnan(row[b]);
      if (nan_a != nan_b) return nan_a;
      if (!nan_a && row[a] != row[b]) return row[a] > row[b];
      return a > b;
    };
    std::iota(order.begin(), order.end(), int64_t(0));
    std::partial_sort(order.begin(), order.begin() + depth, order.end(), ranks_before);
    hits_at[0] = 0;
    for (int64_t m = 0; m < depth; ++m) hits_at[std::size_t(m) + 1] = hits_at[std::size_t(m)] + truth[order[m]];
    for (std::size_t q = 0; q < ks.size(); ++q) {
      const double hits = hits_at[std::size_t(std::min<int64_t>(ks[q], c))];
      precision_sum[q] += hits / double(ks[q]);
      recall_sum[q] += hits / positives;
      top_count[q] += hits > 0 ? 1.0 : 0.0;
    }
  }
  RankingMetrics result;
  result.ks = ks;
  const double scale = n > 0 ? 100.0 / double(n) : 0.0;
  for (std::size_t q = 0; q < ks.size(); ++q) {
    result.recall_percent.push_back(scale * recall_sum[q]);
    result.precision_percent.push_back(scale * precision_sum[q]);
    result.top_percent.push_back(scale * top_count[q]);
  }
  return result;
}

}  // namespace spml::metrics
