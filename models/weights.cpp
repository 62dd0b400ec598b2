// Trained-weights files: writing with metadata and reading the metadata back.
#include "models/weights.h"

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"

namespace spml::models {

void save_resnet_weights(const std::string& path, const ResNet& model, const std::vector<std::string>& class_names) {
  SPML_CHECK(class_names.empty() || int64_t(class_names.size()) == model.config().num_classes,
             "save_resnet_weights: ", class_names.size(), " class names for a model with ", model.config().num_classes,
             " classes");
  const std::map<std::string, std::string> metadata = {{"arch", model.config().arch},
                                                       {"num_classes", std::to_string(model.config().num_classes)},
                                                       {"class_names", nlohmann::json(class_names).dump()},
                                                       {"format", "spml-weights-1"}};
  io::write_safetensors(path, model.state_dict(), metadata);
}

WeightsInfo weights_info(const std::map<std::string, std::string>& metadata, const std::string& path) {
  WeightsInfo info;
  if (auto it = metadata.find("arch"); it != metadata.end()) info.arch = it->second;
  try {
    if (auto it = metadata.find("num_classes"); it != metadata.end()) info.num_classes = std::stoll(it->second);
    if (auto it = metadata.find("class_names"); it != metadata.end())
      info.class_names = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    SPML_FAIL(path, ": malformed weights metadata (num_classes / class_names): ", e.what());
  }
  return info;
}

}  // namespace spml::models
