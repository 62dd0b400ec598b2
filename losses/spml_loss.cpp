// The fused SPML loss op: argument checks, CPU/CUDA dispatch, and the backward that scales the saved gradients.
#include "losses/spml_loss.h"

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/ops/ops.h"

namespace spml::losses {
namespace {
void check_inputs(LossKind kind, const Tensor& logits, const Tensor& labels, const Tensor& aux) {
  const char* name = loss_name(kind);
  SPML_CHECK(logits.defined() && labels.defined(), "loss ", name, ": logits and labels must be defined");
  SPML_CHECK(logits.dim() == 2, "loss ", name, ": logits must be [B, C], got ", logits.description());
  SPML_CHECK(logits.dtype() == DType::Float32 || logits.dtype() == DType::Float64, "loss ", name,
             ": logits must be float32 or float64, got ", logits.description());
  SPML_CHECK(labels.shape() == logits.shape(), "loss ", name, ": labels ", shape_str(labels.shape()),
             " do not match logits ", shape_str(logits.shape()));
  SPML_CHECK(labels.dtype() == logits.dtype() && labels.device() == logits.device(), "loss ", name, ": labels ",
             labels.description(), " must have the logits' dtype and device (", logits.description(), ")");
  SPML_CHECK(logits.size(0) > 0 && logits.size(1) > 0, "loss ", name, ": empty batch ", logits.description());
  SPML_CHECK(kind != LossKind::WAN || logits.size(1) >= 2, "loss wan: needs at least 2 classes, got ", logits.size(1));
  if (kernels::loss_has_aux_input(kind)) {
    const char* what = kind == LossKind::ROLE     ? "the label-estimate logits of the batch's rows"
                       : kind == LossKind::EM_APL ? "the soft targets of the batch's rows (-1: not pseudo-labelled)"
                                                  : "the large-loss selection mask of the batch (large_loss_selection)";
    SPML_CHECK(aux.defined(), "loss ", name, ": needs ", what);
    SPML_CHECK(aux.shape() == logits.shape() && aux.dtype() == logits.dtype() && aux.device() == logits.device(),
               "loss ", name, ": ", what, " ", aux.description(), " do not match logits ", logits.description());
  }
  if (labels.device().is_cpu()) check_binary_labels(labels, std::string("loss ") + name);
}
}  // namespace

void check_binary_labels(const Tensor& labels, const std::string& what) {
  SPML_CHECK(labels.device().is_cpu() && labels.dim() == 2, what, ": labels must be a [B, C] CPU tensor, got ",
             labels.description());
  const int64_t cols = labels.size(1), n = labels.numel();
  SPML_DISPATCH_FLOATING(labels.dtype(), what.c_str(), {
    const scalar_t* y = labels.data<scalar_t>();
    const int64_t i = kernels::cpu::first_non_binary(y, n);  // a vectorised scan (the check runs every step)
    SPML_CHECK(i == n, what, ": labels must be 0 or 1, found ", double(y[i]), " at row ", i / cols, ", column ",
               i % cols);
  });
}

Tensor spml_loss(LossKind kind, const Tensor& logits, const Tensor& labels, LossParams params, const Tensor& aux) {
  NvtxRange range(loss_name(kind));
  check_inputs(kind, logits, labels, aux);
  const int64_t rows = logits.size(0), cols = logits.size(1);
  params.num_classes = double(cols);
  const bool role = kind == LossKind::ROLE;
  Tensor loss = Tensor::empty(Shape{}, logits.dtype(), logits.device());
  Tensor dz = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  Tensor dg = role ? Tensor::empty(logits.shape(), logits.dtype(), logits.device()) : Tensor();
  SPML_DISPATCH_FLOATING(logits.dtype(), loss_name(kind), {
    const scalar_t* g = kernels::loss_has_aux_input(kind) ? aux.data<scalar_t>() : nullptr;
    scalar_t* dgp = role ? dg.data<scalar_t>() : nullptr;
    SPML_ON_DEVICE(logits.device(),
                   kernels::cpu::spml_loss(kind, logits.data<scalar_t>(), labels.data<scalar_t>(), g, rows, cols,
                                           params, loss.data<scalar_t>(), dz.data<scalar_t>(), dgp),
                   {
                     Tensor workspace = Tensor::empty({kernels::cuda::spml_loss_workspace_elements(rows, cols)},
                                                      logits.dtype(), logits.device());
                     kernels::cuda::spml_loss(kind, logits.data<scalar_t>(), labels.data<scalar_t>(), g, rows, cols,
                                              params, loss.data<scalar_t>(), dz.data<scalar_t>(), dgp,
                                              workspace.data<scalar_t>(), detail::stream_of(logits));
                   });
  });
  std::vector<Tensor> inputs{logits};
  if (role) inputs.push_back(aux);  // EM+APL's targets and LL's mask are constants
  return autograd::record(loss_name(kind), loss, inputs, [dz, dg, role](const Tensor& grad) {
    // dL/dz was computed in the forward pass; the chain rule only scales it by the scalar dOut/dL.
    std::vector<Tensor> grads{mul(dz, grad)};
    if (role) grads.push_back(mul(dg, grad));
    return grads;
  });
}

}  // namespace spml::losses

namespace spml::losses {

Tensor large_loss_selection(const Tensor& logits, const Tensor& labels, int64_t k) {
  NvtxRange range("large_loss_selection");
  SPML_CHECK(logits.defined() && labels.defined() && logits.dim() == 2 && labels.shape() == logits.shape() &&
                 labels.dtype() == logits.dtype() && labels.device() == logits.device(),
             "large_loss_selection: logits and labels must be [B, C] of one dtype and device, got ",
             logits.description(), " and ", labels.description());
  SPML_CHECK(logits.dtype() == DType::Float32 || logits.dtype() == DType::Float64,
             "large_loss_selection: logits must be float32 or float64, got ", logits.description());
  SPML_CHECK(k >= 0, "large_loss_selection: k must be >= 0, got ", k);
  const Tensor z = logits.detach(), &y = labels;  // tensors are contiguous
  Tensor mask = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  const int64_t n = logits.numel();
  SPML_DISPATCH_FLOATING(logits.dtype(), "large_loss_selection", {
    SPML_ON_DEVICE(logits.device(),
                   kernels::cpu::large_loss_mask(z.data<scalar_t>(), y.data<scalar_t>(), n, k, mask.data<scalar_t>()), {
                     Tensor workspace =
                         Tensor::empty({kernels::cuda::large_loss_mask_workspace_bytes(n, int64_t(sizeof(scalar_t)))},
                                       DType::UInt8, logits.device());
                     kernels::cuda::large_loss_mask(z.data<scalar_t>(), y.data<scalar_t>(), n, k, mask.data<scalar_t>(),
                                                    workspace.data<uint8_t>(), detail::stream_of(logits));
                   });
  });
  return mask;
}

int64_t large_loss_count(LossKind kind, int epoch, double delta_rel_percent, int64_t entries) {
  SPML_CHECK(kernels::is_large_loss_kind(kind), "large_loss_count: ", loss_name(kind), " is not ll_r, ll_ct or ll_cp");
  SPML_CHECK(epoch >= 1, "large_loss_count: epoch must be >= 1, got ", epoch);
  if (epoch == 1) return 0;
  const double delta = delta_rel_percent / 100.0;
  if (kind == LossKind::LL_CP) return int64_t(std::ceil(double(entries) * delta));
  double clean_rate = 1.0;  // lowered once per finished epoch, in this order (the published code's float64 steps)
  for (int e = 1; e < epoch; ++e) clean_rate -= delta;
  return std::min(entries, int64_t(std::ceil(double(entries) * (1.0 - clean_rate))));
}

}  // namespace spml::losses
