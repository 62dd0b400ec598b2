// Runs one of the PyTorch baseline scripts (scripts/bench_torch_resnet.py, scripts/bench_torch_loss.py) that the
// benchmark apps measure against in the same invocation, and hands back its JSON line or one line saying why there
// is none, so that a missing interpreter, torch or GPU prints a clear reason instead of a ratio.
#pragma once

#include <string>

namespace spml::apps {

// The interpreter the baselines run with: $SPML_TORCH_PYTHON when set and not empty, else /usr/bin/python3 (Debian's
// python3-torch on the CPU machines; the GPU machine's PyTorch is the python3 on its PATH, which gpu-check.sh sets).
std::string torch_python();

struct TorchBaselineRun {
  std::string json;     // the script's last stdout line that parses as a JSON object; empty when it did not run
  std::string failure;  // empty on success, else one line: the interpreter and script, and the cause
  bool ok() const { return !json.empty(); }
};

// Runs `torch_python() script arguments` (arguments: already shell-safe flags such as "--batch 8 --device cuda"),
// stdout and stderr together, and waits for it. A non-zero exit or output without a JSON object is a failure whose
// cause is the output's last non-empty line (e.g. "ModuleNotFoundError: No module named 'torchvision'").
TorchBaselineRun run_torch_baseline(const std::string& script, const std::string& arguments);

}  // namespace spml::apps
