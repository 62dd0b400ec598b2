// The per-data-set settings of the method, one row per data set and the only table of them (docs/method.md
// section 11): the class count its folder must hold, the protocol's training defaults, and the loss
// hyper-parameters (EPR/ROLE's k, EM's alpha, GR's schedules). spml-train's defaults and spml-loss's both read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "losses/spml_loss.h"

namespace spml::training {

struct DatasetSettings {
  std::string dataset;  // voc, coco, nuswide, cub, fashion-mosaic, toy-shapes
  int64_t num_classes;  // what the data set's folder must hold (checked when it is loaded)
  // Training defaults.
  std::string arch;
  int epochs;
  int64_t batch_size;
  double lr;
  int image_size;
  // Loss hyper-parameters.
  double expected_positives;  // k of EPR and ROLE
  double em_alpha;
  losses::GrSettings gr;
};

const std::vector<DatasetSettings>& all_dataset_settings();
// Throws spml::Error listing the known names for an unknown data set.
const DatasetSettings& dataset_settings(const std::string& dataset);

}  // namespace spml::training
