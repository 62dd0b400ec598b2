// The SPML losses (docs/method.md sections 3 and 5) composed from the framework's separate differentiable
// ops (sigmoid, log, pow, exp, add, mul, sum, mean, ...) and autograd, written as literally as the formulas read.
// Slower by design (one op and one saved tensor per term): it is the baseline of the fused kernels' benchmark and an
// independent cross-check of their values and gradients, not something to train with. It also holds the GR variant
// that tests need and the fused kernels do not carry: K and V differentiated.
#pragma once

#include "framework/core/tensor.h"
#include "losses/spml_loss.h"

namespace spml::losses {

// Same contract as spml_loss: logits z [B, C] float32/float64, labels y [B, C] of the same dtype and device
// (0 or 1; NOT checked here, the fused op is the validating one), ROLE's label_estimate_logits G [B, C].
// For em_apl and ll_* label_estimate_logits is their second input (spml_loss's aux: the soft targets, the selection
// mask), a constant. C is taken from the logits (params.num_classes is ignored). Returns the scalar mean loss (+
// EPR/ROLE's regularisers). K and V of GR and ROLE's sg() terms are detached, so no gradient flows through them. Where
// a probability saturates to exactly 0 or 1 the literal form may give inf/NaN gradients (pow's derivative at 0), where
// the fused op's closed forms stay finite.
Tensor composed_spml_loss(LossKind kind, const Tensor& logits, const Tensor& labels, const LossParams& params,
                          const Tensor& label_estimate_logits = Tensor());

// GR with K and V NOT detached, so the gradient flows through them too: NOT the GR loss (same value, other
// gradient). It exists so tests can show that the GR op lets no gradient flow through K and V. Arguments as
// composed_spml_loss.
Tensor composed_gr_loss_through_kv(const Tensor& logits, const Tensor& labels, const LossParams& params);

}  // namespace spml::losses
