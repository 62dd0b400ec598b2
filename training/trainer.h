// The SPML training protocol (docs/method.md section 7) over a run folder (training/run_folder.h): Adam with the
// backbone at lr and the head at lr x lr_mult, linear_init epochs with a frozen backbone (BatchNorm statistics
// still updating), per-epoch validation mAP on clean labels, the best checkpoint on strict improvement, early
// stopping, the test split evaluated once with the best weights, resumable checkpoints, NaN/Inf and Ctrl-C
// handling, and per-phase timing with NVTX ranges. run_training composes the pieces of training/training_run.h.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/data/dataset.h"
#include "framework/data/loader.h"
#include "framework/metrics/average_precision.h"
#include "models/resnet.h"
#include "training/run_folder.h"
#include "training/train_config.h"
#include "training/train_step.h"

namespace spml::training {

// best - current > drop mAP points (docs/method.md section 7: 2; LL's protocol: 3).
bool should_stop_early(double best_val_map, double current_val_map, double drop = 2.0);

// The per-epoch decision of the protocol: the best checkpoint moves on strict improvement (the first epoch always
// sets it), and training stops once the current val mAP is more than stop_drop points below the best.
struct BestTracker {
  double best_val_map = 0;
  int best_epoch = 0;  // 0: no epoch seen yet
  double stop_drop = 2.0;
  struct Decision {
    bool improved = false;
    bool stop = false;
  };
  Decision update(int epoch, double val_map);
};

struct TrainCallbacks {
  // Polled after every step; true (e.g. after SIGINT) finishes the step, writes a resumable last.ckpt and
  // returns with interrupted set.
  std::function<bool()> stop_requested;
  // Log lines (default: stderr). Progress lines go to stderr directly.
  std::function<void(const std::string&)> log;
  // Called after every completed step with the epoch (1-based), the step within it (1-based) and its loss.
  std::function<void(int epoch, int64_t step, double loss)> on_step;
  bool progress_on_tty = true;  // a \r progress line per step when stderr is a terminal
  std::string command_line;     // recorded in run.json
};

struct TrainOutcome {
  bool interrupted = false;
  bool stopped_early = false;
  int epochs_run = 0;
  int best_epoch = 0;
  double best_val_map = 0;
  double test_map = 0;  // percent (not set when interrupted)
  std::vector<double> per_class_ap;
  std::vector<EpochRecord> history;
};

// Runs the configuration into config.out. A fresh run refuses a folder that already holds a run (config.json or
// last.ckpt); resume = true continues from RUNDIR/last.ckpt (from the start when a run was stopped before its
// first checkpoint; the caller checks that the configuration matches RUNDIR/config.json: see resume_config) to the
// same result an uninterrupted run gives. A folder in use by another process is refused (RUNDIR/.lock). Throws
// spml::Error for bad data, weights or checkpoints (naming the file), for a failed write (naming the file and the
// cause), and for a NaN/Inf loss under on_nonfinite "stop" (naming the epoch, the step, the loss and the batch;
// last.ckpt keeps the last completed epoch).
TrainOutcome run_training(const TrainConfig& config, bool resume, const TrainCallbacks& callbacks = {});

// The configuration to resume RUNDIR with: RUNDIR/config.json with `requested` applied, where only epochs (not
// below the epochs already run, checked by run_training), threads, workers, device, cpu_kernels and the fault
// policies on_bad_image and on_nonfinite may differ; any other difference is an error naming the keys.
TrainConfig resume_config(const std::string& run_dir, const TrainConfig& requested,
                          const std::vector<std::string>& explicitly_set);

// The data set of a configuration: generated first when the data set is fashion-mosaic (the default mosaic
// settings) or toy-shapes and config.data does not exist; its class count checked against the data set's;
// the train split cut to max_train rows.
data::MultiLabelDataset load_training_data(const TrainConfig& config,
                                           const std::function<void(const std::string&)>& log);

// A ResNet for the configuration's architecture, width, seed and the data set's class count (random init).
std::shared_ptr<models::ResNet> make_model(const TrainConfig& config, int64_t num_classes);

// The training loader of a configuration: shuffled, the order from order_seed, flips from flip_seed unless
// no_flip (each seed falling back to `seed`), the last partial batch kept, bad images skipped when on_bad_image is
// "skip"; `schedule` (an order file) replaces order and flips when set.
data::LoaderOptions train_loader_options(const TrainConfig& config, Device device,
                                         std::shared_ptr<const data::SampleSchedule> schedule = nullptr);

// The loader of an evaluation pass (evaluate_split, feature extraction): the configuration's batch size, image
// size and workers, dataset order, no flip.
data::LoaderOptions eval_loader_options(const TrainConfig& config, Device device);

struct SplitEvaluation {
  metrics::MapResult map;
  Tensor probabilities;  // [N, C] float32 sigmoid outputs, CPU, in the split's order
  Tensor labels;         // [N, C] the split's clean labels (what mAP is measured against)
  Tensor observed;       // [N, C] the split's observed single-positive labels
  double seconds = 0;
};

// Eval mode, no grad, no flip, dataset order; mAP of the float32 probabilities against the clean labels. A bad
// image is an error naming it whatever on_bad_image says (skipping it would change the mAP). Fault point
// eval-batch after each batch (framework/core/fault_injection.h).
SplitEvaluation evaluate_split(models::ResNet& net, const data::MultiLabelSplit& split, const std::string& image_root,
                               const TrainConfig& config, Device device);

// As evaluate_split, on a split's cached features [N, feature_dim] (linear-fixed-features): the head alone.
SplitEvaluation evaluate_features(models::ResNet& net, const Tensor& features, const data::MultiLabelSplit& split,
                                  const TrainConfig& config, Device device);

// Re-evaluates RUNDIR/best.safetensors on the split "test" or "val" of the run's data set (RUNDIR/config.json);
// device "" = the run's. Errors name the run folder's file at fault.
SplitEvaluation evaluate_run(const std::string& run_dir, const std::string& split, const std::string& device = "");

}  // namespace spml::training
