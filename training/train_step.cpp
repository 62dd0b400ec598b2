// The SPML training step (see train_step.h).
#include "training/train_step.h"

#include "framework/autograd/autograd.h"
#include "framework/io/npy_tensor.h"
#include "framework/ops/ops.h"
#include "kernels/common/error.h"

namespace spml::training {
namespace {

// What the checkpoint holds besides the model: the network and, for ROLE, the label-estimate logits, so that one
// optimizer (groups backbone, head, label_estimates) and one state dict cover everything that trains.
class TrainState : public nn::Module {
 public:
  TrainState(std::shared_ptr<models::ResNet> net, const Tensor& label_estimates, TrainLabelState* label_state,
             losses::LossKind kind) {
    register_module("net", std::move(net));
    if (label_estimates.defined()) register_parameter("label_estimates", label_estimates);
    if (label_state && kind == losses::LossKind::LL_CP) register_buffer("train_labels", label_state->labels());
    if (label_state && kind == losses::LossKind::EM_APL) register_buffer("apl_targets", label_state->apl_targets());
  }
};

Tensor read_role_init(const std::string& path, const Shape& shape) {
  const Tensor g = io::read_npy_tensor(path);
  SPML_CHECK(g.shape() == shape, "--role-init ", path, ": expected label-estimate logits ", shape_str(shape),
             " (the train split's rows x classes), got ", g.description());
  return g;
}

}  // namespace

TrainingStep::TrainingStep(const TrainConfig& config, std::shared_ptr<models::ResNet> net, const Tensor& train_observed,
                           Device device)
    : config_(config),
      device_(device),
      dtype_(train_dtype(config)),
      kind_(losses::parse_loss_name(config.loss)),
      num_classes_(train_observed.size(1)),
      net_(std::move(net)),
      schedule_(losses::GrSettings{config.beta, config.alpha, config.q2q3}, config.epochs, config.linear_init),
      features_input_(config.mode == "linear-fixed-features"),
      phase_clock_(device) {
  SPML_CHECK(net_, "TrainingStep: no network");
  if (kind_ == losses::LossKind::ROLE) {
    estimates_ = std::make_unique<losses::RoleLabelEstimates>(train_observed, uint64_t(config.seed), dtype_, device);
    if (!config.role_init.empty()) {
      autograd::NoGradGuard no_grad;
      estimates_->logits().copy_(read_role_init(config.role_init, train_observed.shape()).to(dtype_).to(device));
    }
  }
  if (kind_ == losses::LossKind::LL_CP || kind_ == losses::LossKind::EM_APL)
    label_state_ = std::make_unique<TrainLabelState>(train_observed.to(Device::cpu()).to(DType::Float32));
  state_ = std::make_unique<TrainState>(net_, estimates_ ? estimates_->logits() : Tensor(), label_state_.get(), kind_);
  std::vector<optim::ParamGroup> groups = {{net_->backbone_parameters(), config.lr, "backbone"},
                                           {net_->head_parameters(), config.lr * config.lr_mult, "head"}};
  if (estimates_)
    groups.push_back(
        {{estimates_->logits()}, config.lr * losses::RoleLabelEstimates::kLrMultiplier, "label_estimates"});
  adam_ = std::make_unique<optim::Adam>(groups);
}

void TrainingStep::begin_epoch(int epoch) {
  SPML_CHECK(epoch >= 1 && epoch <= config_.epochs, "TrainingStep: epoch ", epoch, " outside [1, ", config_.epochs,
             "]");
  epoch_ = epoch;
  frozen_ = features_input_ || epoch <= config_.linear_init;
  for (Tensor& p : net_->backbone_parameters()) p.set_requires_grad(!frozen_);
  state_->train();
  loss_params_ = losses::make_loss_params(schedule_.at(epoch), config_.expected_pos, config_.em_alpha, num_classes_);
  loss_params_.apl_beta = config_.apl_beta;
}

StepResult TrainingStep::run(const data::Batch& batch, PhaseSeconds& phases) {
  SPML_CHECK(epoch_ >= 1, "TrainingStep::run before begin_epoch");
  phase_clock_.collect(false);  // the earlier steps' device times that are in (never waits)
  // A train-mode forward moves the BatchNorm statistics before the loss is known; a step that is to be skipped
  // when non-finite must not leave NaN in them (they are what evaluation uses).
  std::vector<Tensor> buffers_before;
  if (config_.on_nonfinite == "skip")
    for (const auto& [name, buffer] : net_->named_buffers()) buffers_before.push_back(buffer.clone());
  Tensor logits, loss, selection;
  {
    PhaseTimer phase("forward", phases.forward, &phase_clock_);
    const Tensor input = batch.images.dtype() == dtype_ ? batch.images : batch.images.to(dtype_);
    logits = features_input_ ? net_->classify(input) : net_->forward(input);
  }
  StepResult result;
  {
    PhaseTimer phase("loss", phases.loss, &phase_clock_);
    const auto as_model_input = [&](const Tensor& t) {
      const Tensor on_device = t.to(device_);  // the same tensor when already there
      return on_device.dtype() == dtype_ ? on_device : on_device.to(dtype_);
    };
    // LL-Cp trains on its label state (the observed labels plus its flips), BCE on the clean labels.
    const Tensor labels = kind_ == losses::LossKind::BCE     ? as_model_input(batch.labels)
                          : kind_ == losses::LossKind::LL_CP ? as_model_input(label_state_->label_rows(batch.indices))
                                                             : as_model_input(batch.observed);
    Tensor aux;
    if (estimates_) {
      aux = estimates_->rows(batch.indices.to(device_));
    } else if (kind_ == losses::LossKind::EM_APL) {
      aux = as_model_input(label_state_->apl_target_rows(batch.indices));
    } else if (kernels::is_large_loss_kind(kind_)) {
      const int64_t k = losses::large_loss_count(kind_, epoch_, config_.ll_delta_rel, logits.numel());
      aux = losses::large_loss_selection(logits, labels, k);
    }
    loss = losses::spml_loss(kind_, logits, labels, loss_params_, aux);
    if (kind_ == losses::LossKind::LL_CP) selection = aux;
    // Both scalars come back in one copy (one device sync per step).
    autograd::NoGradGuard no_grad;
    const std::vector<double> loss_and_logit_sum =
        concat({reshape(loss.detach(), {1}), reshape(sum(logits.detach()), {1})})
            .to(Device::cpu())
            .to(DType::Float64)
            .to_vector<double>();
    result.loss = loss_and_logit_sum[0];
    result.loss_finite = std::isfinite(result.loss);
    result.logits_finite = std::isfinite(loss_and_logit_sum[1]);
  }
  if (!result.finite()) {
    std::size_t i = 0;
    for (auto& [name, buffer] : net_->named_buffers())
      if (i < buffers_before.size()) buffer.copy_(buffers_before[i++]);
    return result;
  }
  {
    PhaseTimer phase("backward", phases.backward, &phase_clock_);
    adam_->zero_grad();
    loss.backward();
  }
  {
    PhaseTimer phase("optimizer", phases.optimizer, &phase_clock_);
    adam_->step();
    // LL-Cp's permanent correction: the selected entries are positive from now on (the step was taken).
    if (selection.defined())
      label_state_->flip_to_positive(batch.indices, selection.to(Device::cpu()).to(DType::Float32));
  }
  return result;
}

}  // namespace spml::training
