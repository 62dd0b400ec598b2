// Reusable gradient checker: compares the autograd gradient of every input/parameter element with a
// central finite difference, in float64 on the CPU (or float32 with a step and tolerances derived from its
// epsilon). Points at kinks (ReLU at 0, max ties) are found automatically, where the forward and backward
// one-sided differences disagree, and skipped; a custom predicate can skip more.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::testing {

struct GradCheckOptions {
  double step = 0;  // finite-difference step; 0: 1e-6 (float64) or 5e-3 (float32), times max(1, |x|)
  double atol = 0;  // 0: 1e-6 (float64) or 2e-3 (float32)
  double rtol = 0;  // 0: 1e-5 (float64) or 2e-2 (float32)
  bool skip_kinks = true;
  double kink_tolerance = 0;  // 0: 1e-3 (float64) or 5e-2 (float32), relative to max(1, |numeric|)
  uint64_t seed = 1234;       // the random projection of a non-scalar output
  // Return true to skip element `index` of input `input`.
  std::function<bool(std::size_t input, int64_t index)> skip;
  int max_reported_failures = 5;
};

struct GradCheckResult {
  bool ok = true;
  int64_t checked = 0;
  int64_t skipped = 0;  // kinks and predicate
  double max_abs_error = 0;
  std::string message;  // the first failures: input, element, analytic, numeric
};

// f maps the inputs to an output of any shape; the check uses L = sum(f(inputs) * r) for a fixed random r.
// Every input that requires grad is checked (inputs are CPU leaves; module parameters may be passed too:
// they are perturbed in place and restored).
GradCheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& options = {});

}  // namespace spml::testing
