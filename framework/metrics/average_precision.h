// Mean average precision (docs/method.md section 9): scikit-learn's average_precision_score per class (scores ranked
// as given, tied scores one threshold, AP = sum over thresholds of (R_n - R_{n-1}) P_n), a class without
// positives counting as AP 0, and mAP = 100 x the mean over ALL classes.
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace spml::metrics {

// scores, labels: [N] of one class; labels in {0, 1}. Returns 0 when there is no positive.
double average_precision(const std::vector<double>& scores, const std::vector<double>& labels);

struct MapResult {
  double map_percent = 0;
  std::vector<double> per_class_ap;  // in [0, 1]
};

// scores, labels: [N, C] (any floating dtype or device; labels {0, 1}, checked with row and column named).
MapResult mean_average_precision(const Tensor& scores, const Tensor& labels);

}  // namespace spml::metrics
