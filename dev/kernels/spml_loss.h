// The fused SPML loss study (dev-spml-loss): what spml_loss.cpp (CPU reference, CPU versions, driver) hands to
// spml_loss_versions.cu (GPU versions, their validation and bench).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/spml_loss_math.h"

namespace spml::dev {

// One loss configuration that is validated (GR twice: q3 = 1 takes the production kernels' special path), with
// its dz tolerance (max |error| over max |dz|).
struct LossCase {
  std::string name;
  kernels::LossKind kind;
  kernels::LossParams params;
  double grad_tol;
};

// A batch of logits and observed labels: z, y: [B, C] row-major float32 (what training feeds the loss).
struct LossProblem {
  int64_t rows = 0, cols = 0;
  std::vector<float> z, y;
  int64_t n() const { return rows * cols; }
};

// The float64 reference result: the mean loss and dL/dz [B, C].
struct LossReference {
  double loss = 0;
  std::vector<double> dz;
};

// Tolerances of a float32 version against the float64 reference: the loss (relative) and dz (max |error| over
// max |dz|) of well-conditioned losses. AN's -log(1 - p + 1e-5) is not one: its dl/dz = p (1 - p) / (1 - p + 1e-5)
// moves by up to 1e5 x the error of 1 - p, and 1 - p formed from a float32 p near 1 is off by half an ulp (3e-8)
// plus the sigmoid's own error (up to 2 ulp), so a float32 kernel that computes 1 - p from p (the production ones
// do) is only good to ~3e-3 (exact sigmoid) to ~1.5e-2 at saturated logits.
constexpr double kLossTol = 2e-5;
constexpr double kGradTol = 2e-5;
constexpr double kGradTolOneMinusP = 2e-2;

// Bytes an ideal kernel moves: z and y read, dz written (the loss scalar is negligible). Every version is rated
// on the same count, so a version that spills a workspace to memory shows up as lower effective bandwidth.
inline double loss_bytes(const LossProblem& p) {
  return 3.0 * sizeof(float) * double(p.n());
}

// GPU side (spml_loss_versions.cu; only in CUDA builds). version 0 = every GPU version.
// Validates each version (at every block size of the sweep) against `ref`; prints one line per version; false
// on a mismatch.
bool gpu_validate(const LossProblem& problem, const LossCase& c, const LossReference& ref, int version);
// Times each version over the block-size sweep; prints one line per (version, block size).
void gpu_bench(const LossProblem& problem, const LossCase& c, int version, int reps);

}  // namespace spml::dev
