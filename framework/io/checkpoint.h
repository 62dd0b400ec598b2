// Training checkpoints: one safetensors file holding the model's state_dict ("model.<name>": parameters and
// buffers), the optimizer's state_dict ("optim.<key>") and caller-defined JSON metadata (epoch, step, RNG
// state, configuration), so a resumed run continues the same trajectory.
#pragma once

#include <map>
#include <string>

#include "framework/core/tensor.h"

namespace spml::nn {
class Module;
}
namespace spml::optim {
class Optimizer;
}

namespace spml::io {

// Writes the checkpoint atomically. Metadata: {"format": "spml-checkpoint-1", "meta": metadata_json};
// metadata_json must be valid JSON text ("" is stored as "{}").
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& opt,
                     const std::string& metadata_json = "{}");

// Restores the model (strict: missing or extra "model." keys are errors; shapes and dtypes must match) and the
// optimizer (same groups and shapes) exactly, and returns the stored metadata JSON text. Keys outside
// "model."/"optim." and a format other than "spml-checkpoint-1" are errors naming the path. When the optimizer
// state fails to load, the model is restored to what it held before the call.
std::string load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt);

struct SafetensorsFile;

// The pure parse step of load_checkpoint, without a model: checks the {"format", "meta"} wrapper in the metadata
// and splits the tensors into the "model." and "optim." state dicts (prefixes removed). Errors name `name`.
struct CheckpointContents {
  std::map<std::string, Tensor> model_state, optim_state;
  std::string metadata_json;  // the "meta" text as stored (not parsed here)
};
CheckpointContents checkpoint_contents(SafetensorsFile file, const std::string& name);

}  // namespace spml::io
