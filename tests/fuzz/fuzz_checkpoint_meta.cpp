// Fuzz target: training checkpoints (last.ckpt). An input that starts with '{' (or white space) is the metadata text
// itself and goes to training/run_folder.h run_position_from_json; anything else is a whole checkpoint file:
// parse_safetensors -> io::checkpoint_contents (the {"format": "spml-checkpoint-1", "meta": ...} wrapper and the
// "model." / "optim." split) -> the strict state-dict loads of a small model (nn::Linear 3 -> 2) and its Adam
// optimizer -> run_position_from_json on the stored "meta".
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/nn/layers.h"
#include "framework/optim/optimizer.h"
#include "fuzz_util.h"
#include "training/run_folder.h"

namespace {

void position_from_meta(const std::string& text) {
  spml::fuzz::accepts([&] { spml::training::run_position_from_json(text, "fuzz.ckpt"); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  if (size > 0 && (data[0] == '{' || data[0] == ' ' || data[0] == '\n')) {
    position_from_meta(fuzz::as_text(data, size));
    return 0;
  }
  io::CheckpointContents contents;
  if (!fuzz::accepts(
          [&] { contents = io::checkpoint_contents(io::parse_safetensors(data, size, "fuzz.ckpt"), "fuzz.ckpt"); }))
    return 0;
  nn::Linear model(3, 2, /*bias=*/true, /*seed=*/1);
  optim::Adam adam({{model.parameters(), 1e-3, "all"}});
  if (fuzz::accepts([&] { model.load_state_dict(contents.model_state, /*strict=*/true); }))
    fuzz::accepts([&] { adam.load_state_dict(contents.optim_state); });
  position_from_meta(contents.metadata_json);
  return 0;
}
