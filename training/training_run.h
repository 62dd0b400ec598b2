// One training run in its pieces, each testable on its own: opening it (run folder checks, data, model, weights,
// the resumed position), training one epoch from wherever the position stands, ending an epoch (validation, the
// best weights, metrics and last.ckpt), and finishing (the test split once, with the best weights). run_training
// (training/trainer.h) is the loop over these.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "framework/data/dataset.h"
#include "framework/data/loader.h"
#include "framework/data/sample_schedule.h"
#include "models/resnet.h"
#include "training/feature_cache.h"
#include "training/run_folder.h"
#include "training/train_config.h"
#include "training/train_step.h"
#include "training/trainer.h"

namespace spml::training {

class TrainingRun {
 public:
  // Validates the configuration, checks the run folder (training/run_folder.h), loads the data set and an order
  // file (before anything is written, so bad input leaves no half-made run), builds the model with its weights,
  // restores last.ckpt when resuming and writes config.json / run.json.
  TrainingRun(const TrainConfig& config, bool resume, const TrainCallbacks& callbacks);

  // The epoch to train next (1-based) and whether the run has nothing left to train (all epochs, or early stop).
  int next_epoch() const { return position_.next_epoch; }
  bool done() const { return position_.next_epoch > config_.epochs || position_.stopped_early; }

  // Trains epoch `epoch` (== next_epoch()) from the position's step. Returns false when a stop was requested
  // before the epoch's last step: last.ckpt then holds the position mid-epoch. A non-finite loss or logits throws
  // naming the epoch, the step, the loss, the batch's dataset indices and its first image (on_nonfinite "stop"),
  // or skips the step with a warning and counts it ("skip"); bad images are counted when skipped. Fault points
  // train-batch and train-step (framework/core/fault_injection.h).
  bool train_epoch(int epoch);

  // After train_epoch: validation mAP, the epoch's record, best.safetensors on strict improvement, the early-stop
  // decision, metrics files, run.json's fault counts and last.ckpt (in that order: last.ckpt last, so a crash
  // before it repeats the epoch); logs the epoch's line.
  const EpochRecord& end_epoch(int epoch);

  // Whether the callbacks ask to stop now.
  bool stop_requested() const;

  // The outcome of a run stopped before its end (last.ckpt written): logs `message` and how to resume.
  TrainOutcome interrupted(const std::string& message) const;

  // Evaluates best.safetensors once on the test split, writes test.json and test_probabilities.npy, and returns
  // the outcome. Needs at least one finished epoch.
  TrainOutcome finish();

  const RunPosition& position() const { return position_; }
  const RunFolder& folder() const { return folder_; }
  const data::MultiLabelDataset& dataset() const { return dataset_; }

 private:
  void log(const std::string& line) const { log_(line); }
  // The training batches: images from the loader, or (linear-fixed-features) the cached train features.
  int64_t batches_per_epoch() const;
  void start_batches(int epoch, int64_t first_step);
  bool next_batch(data::Batch& batch);
  int64_t loader_images_skipped() const;
  // A split evaluated from its images, or from its cached features in linear-fixed-features mode.
  SplitEvaluation evaluate(const data::MultiLabelSplit& split, const Tensor& features);
  // last.ckpt from the position as it is; restarts the --checkpoint-minutes clock.
  void save_checkpoint();

  TrainConfig config_;
  TrainCallbacks callbacks_;
  std::function<void(const std::string&)> log_;
  RunFolder folder_;
  Device device_;
  data::MultiLabelDataset dataset_;
  std::shared_ptr<const data::SampleSchedule> schedule_;
  std::shared_ptr<models::ResNet> net_;
  std::unique_ptr<TrainingStep> step_;
  std::unique_ptr<data::DataLoader> loader_;
  bool linear_ = false;  // linear-fixed-features
  Tensor train_features_, val_features_, test_features_;
  std::unique_ptr<FeatureBatches> feature_batches_;
  RunPosition position_;
  std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();
  bool tty_ = false;
};

}  // namespace spml::training
