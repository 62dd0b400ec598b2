// Trying candidates in order until one runs: the loop behind cuDNN's algorithm fallback (kernels/cuda/conv_cudnn.cu),
// kept host-only and library-free so the CPU build unit-tests it (tests/test_cuda_conv.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/error.h"

namespace spml::kernels {

// What one attempt reported: it ran, or it failed in a way the next candidate may avoid (an unsupported
// configuration, an engine that failed to launch), with the reason for the message should none run. Failures no
// other candidate can avoid (a device fault, bad arguments) are not reported here: the attempt throws them.
struct AttemptResult {
  bool ran = false;
  std::string reason;
  static AttemptResult success() { return {true, {}}; }
  static AttemptResult try_next(std::string why) { return {false, std::move(why)}; }
};

// Runs attempt(candidate) over `candidates` in order until one runs and returns that candidate's index; a candidate
// is tried at most once, and none after the one that ran. When none runs, throws spml::Error
// "<context()>: none of N candidates ran; tried <name(c)> (<reason>); ..." naming every candidate tried and why it
// failed ("<context()>: no candidate to try" for an empty list). context() is only built on that error path.
template <class Candidate, class Attempt, class Name, class Context>
std::size_t run_first_that_works(const std::vector<Candidate>& candidates, Attempt&& attempt, Name&& name,
                                 Context&& context) {
  std::string tried;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const AttemptResult result = attempt(candidates[i]);
    if (result.ran) return i;
    if (!tried.empty()) tried += "; ";
    tried += std::string(name(candidates[i])) + " (" + result.reason + ")";
  }
  if (candidates.empty()) SPML_FAIL(context(), ": no candidate to try");
  SPML_FAIL(context(), ": none of ", candidates.size(), " candidates ran; tried ", tried);
}

}  // namespace spml::kernels
