// The SPML losses as fused autograd ops (docs/method.md sections 3 and 5): gr, an, an_ls, wan, epr, role,
// em, bce, em_apl, ll_r, ll_ct, ll_cp, and LL's large-loss selection. Each takes logits z [B, C] and labels y [B, C] in
// {0, 1} (observed single positives; the clean labels for bce) and returns the scalar mean loss; the forward computes
// the loss and dL/dz in one pass and the backward scales the saved dL/dz by the incoming gradient.
#pragma once

#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "kernels/common/spml_loss_math.h"

namespace spml::losses {

using kernels::LossKind;
using kernels::LossParams;

// "gr" -> LossKind::GR ...; throws spml::Error listing the valid names.
LossKind parse_loss_name(const std::string& name);
const char* loss_name(LossKind kind);
std::vector<std::string> loss_names();

// GR's hyper-parameter schedules (docs/method.md section 4). Vector orders differ on purpose:
// beta = [w0, wT, b0, bT], alpha = [mu0, sigma0, muT, sigmaT], q2q3 = [q2, q3].
struct GrSettings {
  std::vector<double> beta{0, 2, -2, -2};
  std::vector<double> alpha{0.5, 2, 0.8, 0.5};
  std::vector<double> q2q3{0.01, 1};
};

struct GrEpochValues {
  double w, b, mu, sigma, q2, q3;
};

class GrSchedule {
 public:
  // Throws spml::Error naming the parameter when epochs <= linear_init, linear_init < 0, a vector has the
  // wrong length, a sigma <= 0 or a q <= 0.
  GrSchedule(const GrSettings& settings, int epochs, int linear_init);
  // Values for 1-based epoch e: f_beta = max(e - n - 1, 0) / (T - n), f_alpha = max(e - n, 0) / (T - n).
  GrEpochValues at(int epoch) const;
  int epochs() const { return epochs_; }
  int linear_init() const { return linear_init_; }

 private:
  GrSettings settings_;
  int epochs_, linear_init_;
};

// The parameters of one loss call: the GR values of the current epoch plus the per-dataset constants.
LossParams make_loss_params(const GrEpochValues& gr, double expected_positives, double em_alpha, int64_t num_classes);

// Throws spml::Error naming `what`, the row and the column of the first label that is not 0 or 1. labels: a
// [B, C] float tensor on the CPU.
void check_binary_labels(const Tensor& labels, const std::string& what);

// Fused loss op. logits: [B, C] float32/float64 (requires grad as usual); labels: [B, C] of the same dtype and
// device, every entry 0 or 1 (checked on CPU tensors, naming row and column; CUDA labels are not copied back
// for the check on every step: they come from the loader, whose data sets validate them when loaded).
// aux: [B, C] of the logits' dtype and device, the second input of the kinds that have one (undefined otherwise):
//   role    the label-estimate logits G of the batch's rows (its gradient flows to it);
//   em_apl  the soft targets of the batch's rows: -1 where an entry is not pseudo-labelled, else s in [0, 1];
//   ll_*    the large-loss selection mask (large_loss_selection), 1 = selected.
// params.num_classes is taken from C.
Tensor spml_loss(LossKind kind, const Tensor& logits, const Tensor& labels, LossParams params,
                 const Tensor& aux = Tensor());

// LL's large-loss selection (docs/method.md section 5.2): a [B, C] mask of the logits' dtype and device, 1 on the k
// unobserved entries (labels 0) with the largest AN loss, i.e. the largest logits, ties broken by the lower row-major
// index, 0 elsewhere (every unobserved entry when fewer than k). The same entries on the CPU and on CUDA. No
// gradient. logits, labels: [B, C] as for spml_loss.
Tensor large_loss_selection(const Tensor& logits, const Tensor& labels, int64_t k);

// k of a batch of `entries` = B * C entries at 1-based `epoch` (docs/method.md section 5.2): 0 in epoch 1; then
// ceil(entries * (1 - clean_rate)) for ll_r and ll_ct, the clean rate falling from 1 by delta_rel_percent / 100 after
// every epoch, and ceil(entries * delta_rel_percent / 100) for ll_cp.
int64_t large_loss_count(LossKind kind, int epoch, double delta_rel_percent, int64_t entries);

}  // namespace spml::losses
