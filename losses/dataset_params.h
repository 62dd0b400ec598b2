// Loss hyper-parameters per data set (SPML.md sections 2 and 3), in one table: expected positives per image
// k (EPR, ROLE), EM's alpha, and GR's beta / alpha / q2q3.
#pragma once

#include <string>
#include <vector>

#include "losses/spml_loss.h"

namespace spml::losses {

struct DatasetLossParams {
  std::string dataset;  // voc, coco, nuswide, cub, fashion-mosaic, toy-shapes
  double expected_positives;
  double em_alpha;
  GrSettings gr;
};

// Throws spml::Error listing the known names for an unknown data set.
const DatasetLossParams& dataset_loss_params(const std::string& dataset);
const std::vector<DatasetLossParams>& all_dataset_loss_params();

}  // namespace spml::losses
