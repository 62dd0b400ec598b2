// A training run's folder RUNDIR and everything written into it: config.json (the resolved TrainConfig), run.json
// (the run record: git commit, build, device, threads, weights checksum, random-init flag, start and resume times),
// metrics.csv and metrics.jsonl (one row per epoch), plot.svg, best.safetensors (torchvision keys + metadata,
// loadable by spml-predict), last.ckpt (model + optimizer + the run's position and history) and, when training
// ends, test.json and test_probabilities.npy. Every file is written atomically (temp file + rename), so a crash
// leaves the previous version, never half a file; RUNDIR/.lock (flock) keeps a second process out while a run is
// open. docs/design.md section 13 and docs/reliability.md describe the folder and its behaviour under faults.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"
#include "models/resnet.h"
#include "training/train_config.h"
#include "training/train_step.h"

namespace spml::training {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0;
  double val_map = 0;       // percent
  double seconds = 0;       // wall time of the epoch, validation included
  double images_per_s = 0;  // training images per second of the training phase
  PhaseSeconds phases;
  int64_t skipped_images = 0;  // bad training images left out (on_bad_image "skip")
  int64_t skipped_steps = 0;   // non-finite steps left out (on_nonfinite "skip")
};

// Where a run stands: saved in last.ckpt's metadata, so --resume continues at the same step.
struct RunPosition {
  int next_epoch = 1;
  int64_t next_step = 0;  // batches of next_epoch already trained (a run interrupted mid-epoch)
  double loss_sum = 0;    // sum over those batches of loss x batch size
  int64_t loss_images = 0;
  double train_seconds = 0;    // of those batches
  PhaseSeconds phases;         // of those batches
  int64_t skipped_images = 0;  // of those batches
  int64_t skipped_steps = 0;   // of those batches
  std::vector<EpochRecord> history;
  double best_val_map = -std::numeric_limits<double>::infinity();
  int best_epoch = 0;  // 0: no epoch finished yet
  bool stopped_early = false;
};

// What run.json records about the machine and the start of a run besides the configuration.
struct RunStartFacts {
  std::string device;          // "cpu" or "cuda:0 (NVIDIA ...)"
  std::string weights_sha256;  // "" for a random init
  std::string command_line;
};

// An exclusive flock on RUNDIR/.lock for the holder's lifetime (the file holds the holder's pid). The kernel drops
// the lock when the process dies, so a crashed run never leaves it held; the file itself may stay.
class FolderLock {
 public:
  // Throws spml::Error naming the folder and the holder's pid when another process (or another FolderLock of
  // this one) holds it.
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

class RunFolder {
 public:
  // A fresh run (resume = false) creates the folder and refuses one that already holds a run (config.json or
  // last.ckpt); a resumed one needs RUNDIR/last.ckpt, or at least config.json (a run stopped before its first
  // checkpoint starts over: every random stream is a pure function of the seeds). Both take the folder's lock
  // first (a second process is refused naming the holder's pid) and then remove the temp files that killed writers
  // left (removed_temp_files()). Errors are spml::Error naming the path and what to do.
  RunFolder(std::string dir, bool resume);

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const;  // RUNDIR/name
  std::string checkpoint_path() const { return path("last.ckpt"); }
  std::string best_weights_path() const { return path("best.safetensors"); }
  bool has_checkpoint() const;
  // A resumed run without last.ckpt (stopped before its first checkpoint): it trains from the start.
  bool starts_over() const { return starts_over_; }
  const std::vector<std::string>& removed_temp_files() const { return removed_temp_files_; }

  // A fresh run writes config.json and run.json; a resumed one rewrites config.json (threads, device or epochs may
  // have changed) and appends {at, epoch, step} of `position` to run.json's "resumed" list.
  void write_start(const TrainConfig& config, const RunStartFacts& facts, const RunPosition& position) const;

  // Loads last.ckpt into `state` and `optimizer` and returns its position; a corrupt file is an error naming it.
  RunPosition load_checkpoint(nn::Module& state, optim::Optimizer& optimizer) const;
  void save_checkpoint(const nn::Module& state, const optim::Optimizer& optimizer, const RunPosition& position,
                       const TrainConfig& config) const;

  // metrics.csv, metrics.jsonl and plot.svg from the whole history (rewritten after every epoch, so a resumed run
  // ends with exactly the files an uninterrupted one writes).
  void write_epoch_files(const std::vector<EpochRecord>& history, const std::string& title) const;
  // Rewrites run.json with the fault counts of `history`: "skipped_images" and "skipped_steps", each
  // {"total": n, "per_epoch": [...]} (after every epoch, so the record is current when a run stops).
  void write_run_counts(const std::vector<EpochRecord>& history) const;
  void save_best_weights(const models::ResNet& net, const std::vector<std::string>& class_names) const;
  // test.json (test_json: a JSON object's text) and test_probabilities.npy ([N, C] float32).
  void write_test_results(const std::string& test_json, const Tensor& probabilities) const;

 private:
  std::string dir_;
  bool resume_;
  std::unique_ptr<FolderLock> lock_;
  bool starts_over_ = false;
  std::vector<std::string> removed_temp_files_;
};

// The JSON form of a position (last.ckpt's metadata).
std::string run_position_to_json(const RunPosition& position, const TrainConfig& config);
// `source` names the file in errors.
RunPosition run_position_from_json(const std::string& text, const std::string& source);

}  // namespace spml::training
