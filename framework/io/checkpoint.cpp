// Checkpoints as one safetensors file: "model.*" (state_dict), "optim.*" (optimizer state) and JSON metadata.
#include "framework/io/checkpoint.h"

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"
#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"

namespace spml::io {
namespace {
constexpr const char* kFormat = "spml-checkpoint-1";
const std::string kModel = "model.";
const std::string kOptim = "optim.";
}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& opt,
                     const std::string& metadata_json) {
  const std::string meta = metadata_json.empty() ? "{}" : metadata_json;
  try {
    const nlohmann::json parsed = nlohmann::json::parse(meta);
    (void)parsed;
  } catch (const nlohmann::json::exception& e) {
    SPML_FAIL(path, ": save_checkpoint: metadata is not valid JSON (", e.what(), ")");
  }
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : model.state_dict()) tensors[kModel + name] = t;
  for (const auto& [key, t] : opt.state_dict()) tensors[kOptim + key] = t;
  write_safetensors(path, tensors, {{"format", kFormat}, {"meta", meta}});
}

CheckpointContents checkpoint_contents(SafetensorsFile file, const std::string& path) {
  auto format = file.metadata.find("format");
  SPML_CHECK(format != file.metadata.end(), path, ": not an spml checkpoint (no \"format\" in the metadata)");
  SPML_CHECK(format->second == kFormat, path, ": checkpoint format '", format->second, "' is not '", kFormat, "'");
  auto meta = file.metadata.find("meta");
  SPML_CHECK(meta != file.metadata.end(), path, ": checkpoint has no \"meta\" in its metadata");

  CheckpointContents contents;
  contents.metadata_json = meta->second;
  for (auto& [key, t] : file.tensors) {
    if (key.rfind(kModel, 0) == 0) {
      contents.model_state.emplace(key.substr(kModel.size()), std::move(t));
    } else if (key.rfind(kOptim, 0) == 0) {
      contents.optim_state.emplace(key.substr(kOptim.size()), std::move(t));
    } else {
      SPML_FAIL(path, ": checkpoint key '", key, "' is neither under 'model.' nor under 'optim.'");
    }
  }
  return contents;
}

std::string load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt) {
  CheckpointContents contents = checkpoint_contents(read_safetensors(path), path);
  std::map<std::string, Tensor>& model_state = contents.model_state;
  std::map<std::string, Tensor>& optim_state = contents.optim_state;

  // The model's load checks every key before copying; keep its previous values to undo it when the optimizer
  // state does not load.
  std::map<std::string, Tensor> backup;
  for (const auto& [name, t] : model.state_dict()) backup[name] = t.clone();
  try {
    model.load_state_dict(model_state, /*strict=*/true);
  } catch (const Error& e) {
    SPML_FAIL(path, ": model state: ", e.what());
  }
  try {
    opt.load_state_dict(optim_state);
  } catch (const Error& e) {
    model.load_state_dict(backup, /*strict=*/true);
    SPML_FAIL(path, ": optimizer state: ", e.what());
  }
  return contents.metadata_json;
}

}  // namespace spml::io
