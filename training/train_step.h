// One optimisation step of the SPML protocol (training/trainer.h, docs/fidelity.md) and the state it updates: the
// ResNet, ROLE's label estimates, Adam over the groups backbone (lr), head (lr x lr_mult) and label_estimates, and the
// epoch's loss settings (GR's schedule) and frozen backbone. run_training drives it batch by batch; the
// training-trajectory test (tests/test_trajectory.cpp) drives the same object, so what it checks against PyTorch is the
// trainer's step.
#pragma once

#include <chrono>
#include <memory>

#include "framework/core/nvtx.h"
#include "framework/core/tensor.h"
#include "framework/cuda/device_intervals.h"
#include "framework/data/loader.h"
#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"
#include "losses/role.h"
#include "losses/spml_loss.h"
#include "models/resnet.h"
#include "training/label_state.h"
#include "training/train_config.h"

namespace spml::training {

// Seconds per training phase, summed over an epoch. On CUDA forward, loss, backward and optimizer are device times
// (CUDA events on the compute stream: what the GPU spent between the phase's two points, as Nsight shows it); data
// (the host waiting for the loader) and eval are host times, as are all phases on the CPU.
struct PhaseSeconds {
  double data = 0, forward = 0, loss = 0, backward = 0, optimizer = 0, eval = 0;
};

// One timed phase: an NVTX range for Nsight plus its time added to `total`: the device's time when `device` times on
// the device (collected later, see cuda_runtime::DeviceIntervals), else the host's wall time.
class PhaseTimer {
 public:
  PhaseTimer(const char* name, double& total, cuda_runtime::DeviceIntervals* device = nullptr)
      : range_(name),
        total_(total),
        device_(device != nullptr && device->on_device() ? device : nullptr),
        start_(std::chrono::steady_clock::now()) {
    if (device_ != nullptr) handle_ = device_->begin();
  }
  ~PhaseTimer() {
    if (device_ != nullptr)
      device_->end(handle_, &total_);
    else
      total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  NvtxRange range_;
  double& total_;
  cuda_runtime::DeviceIntervals* device_;
  int handle_ = -1;
  std::chrono::steady_clock::time_point start_;
};

struct StepResult {
  double loss = 0;            // the batch's mean loss, in float64
  bool loss_finite = true;    // false: NaN/Inf loss
  bool logits_finite = true;  // false: NaN/Inf logits (the losses clamp, so the loss alone can look finite)
  bool finite() const { return loss_finite && logits_finite; }
};

class TrainingStep {
 public:
  // net: on `device` in train_dtype(config). train_observed: the train split's observed labels [N, C] (ROLE's
  // estimates start from them; unused otherwise).
  TrainingStep(const TrainConfig& config, std::shared_ptr<models::ResNet> net, const Tensor& train_observed,
               Device device);

  // Epoch `epoch` (1-based) begins: the backbone frozen while epoch <= linear_init (its parameters get no
  // gradient, so Adam leaves them and their state untouched), train mode (BatchNorm statistics move even when
  // frozen), and the loss settings of GR's schedule at this epoch.
  void begin_epoch(int epoch);

  // batch: images [B, 3, S, S] float32 from the loader (linear-fixed-features: pooled features [B, F]) (cast to the
  // model's dtype here), observed / clean labels [B, C]. Forward, loss, and when both the loss and the logits are
  // finite: zero_grad, backward, Adam step. A non-finite step updates nothing (the caller reports it); under
  // on_nonfinite "skip" the BatchNorm running statistics that its forward moved are put back too.
  // On CUDA the phase times of the steps reach `phases` lazily (no device sync for timing): finish_phase_times()
  // adds the outstanding ones; call it before reading or resetting the totals.
  StepResult run(const data::Batch& batch, PhaseSeconds& phases);
  void finish_phase_times() { phase_clock_.collect(true); }

  // Everything a checkpoint holds: "net.*", for ROLE "label_estimates", for LL-Cp the buffer "train_labels" and for
  // EM+APL the buffer "apl_targets" (the label state).
  nn::Module& state() { return *state_; }
  // LL-Cp's and EM+APL's label state; nullptr for the other losses.
  TrainLabelState* label_state() { return label_state_.get(); }
  // ROLE's label estimates; nullptr for the other losses.
  losses::RoleLabelEstimates* label_estimates() { return estimates_.get(); }
  optim::Adam& optimizer() { return *adam_; }
  models::ResNet& net() { return *net_; }
  const losses::LossParams& loss_params() const { return loss_params_; }
  int epoch() const { return epoch_; }
  bool backbone_frozen() const { return frozen_; }

 private:
  TrainConfig config_;
  Device device_;
  DType dtype_;
  losses::LossKind kind_;
  int64_t num_classes_;
  std::shared_ptr<models::ResNet> net_;
  std::unique_ptr<losses::RoleLabelEstimates> estimates_;
  std::unique_ptr<TrainLabelState> label_state_;
  std::unique_ptr<nn::Module> state_;
  std::unique_ptr<optim::Adam> adam_;
  losses::GrSchedule schedule_;
  losses::LossParams loss_params_{};
  bool features_input_ = false;  // linear-fixed-features: batches hold pooled features, only the head runs
  int epoch_ = 0;
  bool frozen_ = false;
  cuda_runtime::DeviceIntervals phase_clock_;  // on CUDA: the step's phases in device time
};

}  // namespace spml::training
