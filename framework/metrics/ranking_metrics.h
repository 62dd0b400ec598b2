// Cole et al.'s per-image ranking metrics next to mAP (docs/method.md section 9.1): recall@k, precision@k and
// top-k accuracy. Each row's classes are ranked by score, descending, tied scores with the HIGHER class index first
// (numpy's np.argsort(kind="stable")[::-1]); top_k is the first min(k, C) of that ranking. Per row:
// precision@k = |top_k and positives| / k, recall@k = |top_k and positives| / |positives|, both 0 for a row without
// positives (which still counts). The metrics are means over all rows, top-k accuracy the fraction of rows with
// precision@k > 0; all in percent.
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace spml::metrics {

struct RankingMetrics {
  std::vector<int> ks{1, 3, 5};
  // One entry per k of ks, in its order; percent.
  std::vector<double> recall_percent, precision_percent, top_percent;
};

// scores, labels: [N, C] (any floating dtype or device: copied to the host as float64); labels in {0, 1}, checked with
// row and column named; every k of ks >= 1 (k > C ranks all C classes but still divides precision by k). NaN scores
// rank above every number (as in numpy's sort). N = 0 gives 0 for every metric.
RankingMetrics ranking_metrics(const Tensor& scores, const Tensor& labels, const std::vector<int>& ks = {1, 3, 5});

}  // namespace spml::metrics
