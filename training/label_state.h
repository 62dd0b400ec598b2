// The per-run training labels of the losses that change them as they train (docs/method.md section 5.2): LL-Cp's
// permanent flips of large-loss entries to positive, and EM+APL's soft negatives from its after-epoch
// pseudo-labelling pass. They live on the CPU as [N_train, C] float32 tensors that the training step registers as
// buffers of its state, so last.ckpt holds them and --resume continues exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::training {

// The value of an entry of apl_targets that is not pseudo-labelled.
constexpr float kNotPseudoLabelled = -1.0f;
// EM+APL picks this share of each class's unobserved entries, spread evenly over the epochs after the warm-up.
constexpr double kAplProportion = 0.9;

class TrainLabelState {
 public:
  // observed: the train split's observed labels [N, C] float32 on the CPU, every entry 0 or 1.
  explicit TrainLabelState(const Tensor& observed);

  // [N, C] float32: the observed labels plus LL-Cp's flips (what LL-Cp trains on).
  Tensor& labels() { return labels_; }
  // [N, C] float32: kNotPseudoLabelled, or the soft target s in [0, 1] that EM+APL's pass gave the entry.
  Tensor& apl_targets() { return apl_targets_; }

  // The rows of the batch: indices int64 [B] (dataset rows, CPU) -> [B, C] float32 CPU.
  Tensor label_rows(const Tensor& indices) const;
  Tensor apl_target_rows(const Tensor& indices) const;

  // LL-Cp: the entries where mask [B, C] (CPU, 1 = selected by the large-loss selection) is 1 become positive in
  // the rows `indices` [B]. Returns how many changed.
  int64_t flip_to_positive(const Tensor& indices, const Tensor& mask);

  // EM+APL's pass after an epoch >= warmup. probabilities: [N, C] float32 sigmoid outputs of the whole train split
  // (eval mode, dataset order). For each class c, the int(kAplProportion * U_c / (epochs - warmup)) entries with the
  // lowest probability among those still unobserved and not yet pseudo-labelled (ties: the lower row) get the soft
  // target s = p; U_c = the class's unobserved entries at the start. Returns how many were labelled.
  int64_t pseudo_label(const Tensor& probabilities, int epochs, int warmup);

  int64_t flipped_count() const;          // entries positive in labels() but not observed
  int64_t pseudo_labelled_count() const;  // entries with a soft target

 private:
  Tensor observed_, labels_, apl_targets_;
  std::vector<int64_t> unobserved_at_start_;  // U_c per class
};

}  // namespace spml::training
