// The metrics of one evaluated split as one JSON object (docs/method.md section 9): what test.json and spml-eval
// report next to each other.
#pragma once

#include <nlohmann/json.hpp>

#include "framework/core/tensor.h"

namespace spml::training {

// probabilities, clean_labels (and observed_labels when defined): [N, C], labels in {0, 1}. Keys, every value in
// percent: "mAP" (against the clean labels), "recall_at_k", "precision_at_k" and "top_k" for k = 1, 3, 5 (against the
// clean labels), and "mAP_observed" (mAP against the observed labels) when observed_labels is defined. Errors say
// which labels are at fault.
nlohmann::json split_metrics_json(const Tensor& probabilities, const Tensor& clean_labels,
                                  const Tensor& observed_labels = Tensor());

}  // namespace spml::training
