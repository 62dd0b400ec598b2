// Trained ResNet weights as safetensors: torchvision's keys plus metadata (arch, num_classes, class names), so
// spml-predict (or torchvision after conversion) loads them directly.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/resnet.h"

namespace spml::models {

struct WeightsInfo {
  std::string arch;         // empty when the file does not say (e.g. exported torchvision weights)
  int64_t num_classes = 0;  // 0 when unknown
  std::vector<std::string> class_names;
};

// Writes the model's state dict (parameters and buffers) with metadata {"arch", "num_classes", "class_names"
// (a JSON array)}; atomic.
void save_resnet_weights(const std::string& path, const ResNet& model, const std::vector<std::string>& class_names);
// The metadata of a weights file's header (throws naming the path when it is malformed).
WeightsInfo weights_info(const std::map<std::string, std::string>& metadata, const std::string& path);

}  // namespace spml::models
