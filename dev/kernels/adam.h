// The Adam study (dev-adam): what adam.cpp (CPU reference, CPU versions, driver) hands to adam_versions.cu (GPU
// versions, their validation and bench).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dev/kernels/common.h"
#include "kernels/common/optim_math.h"

namespace spml::dev {

// One step of one parameter group, as training runs it: `count` tensors laid out one after another in flat
// buffers (each starting on a 16-byte boundary, as separate allocations would), all at the same step t.
struct AdamProblem {
  std::string name;               // the hyper-parameter case: "adam-l2" or "adamw"
  kernels::AdamParams params;     // shared hyper-parameters and the step's bias corrections
  std::vector<int64_t> offset;    // [count] first element of each tensor in the flat buffers
  std::vector<int64_t> size;      // [count] elements of each tensor
  int64_t total = 0;              // flat buffer length (tensors plus alignment gaps)
  std::vector<float> p, g, m, v;  // [total] parameters, gradients, first and second moments
  int64_t params_count() const {
    int64_t s = 0;
    for (int64_t x : size) s += x;
    return s;
  }
};

// The float64 reference after the step: p, m, v [total] (gaps keep their inputs).
struct AdamReference {
  std::vector<double> p, m, v;
};

// Tolerances against the float64 reference (max |error| / max |ref|): p and the moments, and the update
// p_new - p_old (float32 rounding of p ~ 2 alone is 1.2e-7, about 1e-5 of the largest steps).
constexpr double kStateTol = 1e-6;
constexpr double kUpdateTol = 2e-4;

// Bytes an ideal step moves per parameter: p, g, m, v read, p, m, v written.
constexpr double kAdamBytesPerParam = 7.0 * sizeof(float);

// A version's result p, m, v: [total] against the reference; prints one line, returns whether it passes. One pass
// without temporaries: at 25.6M parameters the check runs once per version and block size.
inline bool check_step(const char* side, const char* version, const AdamProblem& pr, const AdamReference& ref,
                       const float* p, const float* m, const float* v, const char* note = "") {
  double err[4] = {0, 0, 0, 0}, scale[4] = {0, 0, 0, 0};  // dp, p, m, v
  bool finite = true;
  const auto add = [&](int k, double got, double want) {
    finite = finite && std::isfinite(got);
    err[k] = std::max(err[k], std::fabs(got - want));
    scale[k] = std::max(scale[k], std::fabs(want));
  };
  for (int64_t i = 0; i < pr.total; ++i) {
    add(0, double(p[i]) - double(pr.p[i]), ref.p[i] - double(pr.p[i]));
    add(1, p[i], ref.p[i]);
    add(2, m[i], ref.m[i]);
    add(3, v[i], ref.v[i]);
  }
  double scaled[4];
  for (int k = 0; k < 4; ++k) scaled[k] = err[k] / std::max(scale[k], 1e-300);
  const bool ok =
      finite && scaled[0] <= kUpdateTol && scaled[1] <= kStateTol && scaled[2] <= kStateTol && scaled[3] <= kStateTol;
  std::printf("validate %-4s %-4s %-8s T=%-4zu max |err| / max |ref|: dp %.1e  p %.1e  m %.1e  v %.1e  %s%s\n", side,
              version, pr.name.c_str(), pr.size.size(), scaled[0], scaled[1], scaled[2], scaled[3],
              ok ? "ok" : "MISMATCH", note);
  return ok;
}

// GPU side (adam_versions.cu; only in CUDA builds). version 0 = every GPU version.
bool gpu_validate(const AdamProblem& problem, const AdamReference& ref, int version);
void gpu_bench(const AdamProblem& problem, int version, int reps);

}  // namespace spml::dev
