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

// The losses' table: a loss's own published settings on a data set (EM+APL's and LL's papers train with other
// batch sizes, learning rates and epochs than GR's protocol) as a JSON object of TrainConfig keys, laid over the data
// set's row by default_train_config; nullptr when the loss has no row for the data set (docs/method.md section 11).
const std::string* loss_settings_overrides(const std::string& loss, const std::string& dataset);

// One row of the losses' table: the losses it applies to, the data set and the overrides.
struct LossSettingsRow {
  std::vector<std::string> losses;
  std::string dataset;
  std::string overrides;
};
const std::vector<LossSettingsRow>& all_loss_settings();

const std::vector<DatasetSettings>& all_dataset_settings();
// Throws spml::Error listing the known names for an unknown data set.
const DatasetSettings& dataset_settings(const std::string& dataset);

}  // namespace spml::training
