// The pieces of one training run (see training_run.h): open, train an epoch, end it, finish.
#include "training/training_run.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/fault_injection.h"
#include "framework/core/runtime.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/safetensors.h"
#include "framework/io/sha256.h"
#include "kernels/common/error.h"
#include "models/weights.h"
#include "training/split_metrics.h"

namespace spml::training {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "4:05" or "1:02:03".
std::string clock_text(double seconds) {
  const long s = long(std::max(0.0, seconds) + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

std::string format_fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string phases_text(const PhaseSeconds& p) {
  return "data " + format_fixed(p.data, 1) + " s, forward " + format_fixed(p.forward, 1) + " s, loss " +
         format_fixed(p.loss, 1) + " s, backward " + format_fixed(p.backward, 1) + " s, optimizer " +
         format_fixed(p.optimizer, 1) + " s, eval " + format_fixed(p.eval, 1) + " s";
}

void print_progress(int epoch, int epochs, int64_t step, int64_t steps, double images_per_s, double mean_loss,
                    double eta_seconds) {
  std::fprintf(stderr, "\repoch %d/%d [%lld/%lld] %.1f img/s, loss %.4f, ETA %s   ", epoch, epochs, (long long)step,
               (long long)steps, images_per_s, mean_loss, clock_text(eta_seconds).c_str());
  std::fflush(stderr);
}

const TrainConfig& validated(const TrainConfig& config) {
  validate_train_config(config);
  return config;
}

// "the gr loss (value nan) at epoch 2, step 3 of 8 (batch of 16 images, dataset indices 12, 40, 3, 7, 99 and 11
// more, first image images/train/000012.png)".
std::string nonfinite_step_text(const StepResult& result, int epoch, int64_t step, int64_t steps,
                                const data::Batch& batch, const std::string& loss) {
  const int64_t n = batch.indices.numel();
  const int64_t* indices = batch.indices.data<int64_t>();
  std::string listed;
  for (int64_t i = 0; i < std::min<int64_t>(n, 5); ++i) listed += (i ? ", " : "") + std::to_string(indices[i]);
  if (n > 5) listed += " and " + std::to_string(n - 5) + " more";
  const double v = result.loss;
  const std::string value = std::isnan(v) ? "nan" : std::isinf(v) ? (v > 0 ? "inf" : "-inf") : std::to_string(v);
  return "the " + loss + " loss (" + (result.loss_finite ? "logits not finite" : "value " + value) + ") at epoch " +
         std::to_string(epoch) + ", step " + std::to_string(step) + " of " + std::to_string(steps) + " (batch of " +
         std::to_string(n) + " images, dataset indices " + listed + ", first image " + batch.paths.front() + ")";
}

std::string device_description(Device device) {
  return device.is_cuda() ? device.str() + " (" + cuda_runtime::device_name(device.index) + ")" : "cpu";
}

}  // namespace

TrainingRun::TrainingRun(const TrainConfig& config, bool resume, const TrainCallbacks& callbacks)
    : config_(validated(config)),
      callbacks_(callbacks),
      log_(callbacks.log ? callbacks.log : [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }),
      folder_(config.out, resume),
      device_(Device::parse(config.device)) {
  linear_ = config_.mode == "linear-fixed-features";
  if (device_.is_cuda()) cuda_runtime::require_device(device_.index, "--device");
  set_deterministic_convolutions(config_.deterministic);

  dataset_ = load_training_data(config_, log_);
  const int64_t num_classes = dataset_.num_classes();
  log("data: " + config_.data + " (" + dataset_.name + "): " + std::to_string(dataset_.train.size()) + " train / " +
      std::to_string(dataset_.val.size()) + " val / " + std::to_string(dataset_.test.size()) + " test images, " +
      std::to_string(num_classes) + " classes" +
      (config_.max_train > 0 ? " (train cut to --max-train " + std::to_string(config_.max_train) + ")" : ""));
  if (!config_.order_file.empty()) {
    auto read = std::make_shared<data::SampleSchedule>(data::read_sample_schedule(config_.order_file));
    data::check_sample_schedule(*read, dataset_.train.size(), config_.epochs, "--order-file " + config_.order_file);
    schedule_ = std::move(read);
  }

  net_ = make_model(config_, num_classes);
  RunStartFacts facts{device_description(device_), "", callbacks_.command_line};
  if (config_.weights.empty()) {
    log("WARNING: no --weights given: the backbone starts from RANDOM initialisation (seed " +
        std::to_string(config_.seed) + "); the run record says random_init: true");
  } else {
    const io::SafetensorsFile file = io::read_safetensors(config_.weights);
    const io::LoadReport report = io::load_weights(*net_, file.tensors, "fc.");
    facts.weights_sha256 = io::sha256_file_hex(config_.weights);
    log("weights: " + config_.weights + " (sha256 " + facts.weights_sha256 + ")" +
        (report.skipped_head_keys.empty() ? ", head loaded too" : ", head left at random init (other shape)"));
  }
  net_->to(device_);
  step_ = std::make_unique<TrainingStep>(config_, net_, dataset_.train.observed, device_);

  for (const std::string& stale : folder_.removed_temp_files())
    log("removed " + stale + " (the temp file of a write that was killed; the file it was to replace is intact)");
  if (resume && folder_.starts_over()) {
    log("resuming " + folder_.dir() + " from the start: it was stopped before its first checkpoint (no " +
        folder_.checkpoint_path() + ")");
  } else if (resume) {
    position_ = folder_.load_checkpoint(step_->state(), step_->optimizer());
    SPML_CHECK(config_.epochs >= int(position_.history.size()), "--epochs ", config_.epochs, " is below the ",
               position_.history.size(), " epochs ", folder_.dir(), " has already run");
    log("resuming " + folder_.dir() + " at epoch " + std::to_string(position_.next_epoch) + ", step " +
        std::to_string(position_.next_step));
  }
  folder_.write_start(config_, facts, position_);

  if (linear_) {
    // Cole et al.'s linear_fixed_features: the backbone's pooled features once per split (cached), no augmentation.
    SPML_CHECK(config_.order_file.empty(), "--order-file fixes image flips: it does not apply to --mode ",
               config_.mode);
    const std::string backbone = backbone_key(config_, facts.weights_sha256);
    train_features_ =
        split_features(*net_, dataset_.train, "train", dataset_.image_root, config_, device_, backbone, log_);
    val_features_ = split_features(*net_, dataset_.val, "val", dataset_.image_root, config_, device_, backbone, log_);
    test_features_ =
        split_features(*net_, dataset_.test, "test", dataset_.image_root, config_, device_, backbone, log_);
    feature_batches_ = std::make_unique<FeatureBatches>(train_features_, dataset_.train, config_.batch_size,
                                                        stream_seed(config_, config_.order_seed), device_);
  } else {
    loader_ = std::make_unique<data::DataLoader>(dataset_.train, dataset_.image_root,
                                                 train_loader_options(config_, device_, schedule_));
  }
  tty_ = callbacks_.progress_on_tty && isatty(fileno(stderr)) != 0;
  log("training " + config_.arch + " with loss " + config_.loss + " on " + config_.device + ": " +
      std::to_string(config_.epochs) + " epochs x " + std::to_string(batches_per_epoch()) + " steps of " +
      std::to_string(config_.batch_size) + ", lr " + format_fixed(config_.lr, 6) + " (head x" +
      format_fixed(config_.lr_mult, 1) + "), linear_init " + std::to_string(config_.linear_init) +
      (linear_ ? ", mode linear-fixed-features (the head on cached features)" : "") + ", " + build_info_string());
}

int64_t TrainingRun::batches_per_epoch() const {
  return linear_ ? feature_batches_->batches_per_epoch() : loader_->batches_per_epoch();
}
void TrainingRun::start_batches(int epoch, int64_t first_step) {
  if (linear_)
    feature_batches_->start_epoch(epoch, first_step);
  else
    loader_->start_epoch(epoch, first_step);
}
bool TrainingRun::next_batch(data::Batch& batch) {
  return linear_ ? feature_batches_->next(batch) : loader_->next(batch);
}
int64_t TrainingRun::loader_images_skipped() const {
  return linear_ ? 0 : loader_->stats().images_skipped;
}
SplitEvaluation TrainingRun::evaluate(const data::MultiLabelSplit& split, const Tensor& features) {
  return linear_ ? evaluate_features(step_->net(), features, split, config_, device_)
                 : evaluate_split(step_->net(), split, dataset_.image_root, config_, device_);
}

bool TrainingRun::stop_requested() const {
  return callbacks_.stop_requested && callbacks_.stop_requested();
}

void TrainingRun::save_checkpoint() {
  folder_.save_checkpoint(step_->state(), step_->optimizer(), position_, config_);
  last_checkpoint_ = Clock::now();
}

bool TrainingRun::train_epoch(int epoch) {
  SPML_CHECK(epoch == position_.next_epoch, "train_epoch: epoch ", epoch, " asked, the run is at epoch ",
             position_.next_epoch);
  RunPosition& pos = position_;
  step_->begin_epoch(epoch);
  const int64_t first_step = pos.next_step, steps = batches_per_epoch();
  if (first_step == 0) {
    pos.loss_sum = 0;
    pos.loss_images = 0;
    pos.train_seconds = 0;
    pos.phases = PhaseSeconds{};
    pos.skipped_images = 0;
    pos.skipped_steps = 0;
  }
  start_batches(epoch, first_step);
  // The loader counts the bad images it drops over its lifetime; the position keeps the epoch's share across
  // resumes.
  const int64_t loader_skipped_at_start = loader_images_skipped(), skipped_before = pos.skipped_images;
  const auto count_skipped_images = [&] {
    pos.skipped_images = skipped_before + loader_images_skipped() - loader_skipped_at_start;
  };
  const auto train_start = Clock::now();
  const double seconds_before = pos.train_seconds;
  int64_t step = first_step, images_now = 0;
  data::Batch batch;
  for (;;) {
    {
      PhaseTimer phase("data", pos.phases.data);
      if (!next_batch(batch)) break;
    }
    count_skipped_images();
    // The batch's place in the epoch, not a count of batches: with bad images skipped a whole batch may be left
    // out, and a resume must restart at the right one.
    step = batch.batch_index + 1;
    if (fault::at("train-batch") == fault::Action::nan)
      batch.images = Tensor::full(batch.images.shape(), std::nan(""), batch.images.dtype(), batch.images.device());
    const StepResult result = step_->run(batch, pos.phases);
    const int64_t batch_images = batch.images.size(0);
    if (result.finite()) {
      pos.loss_sum += result.loss * double(batch_images);
      pos.loss_images += batch_images;
    } else {
      const std::string what = nonfinite_step_text(result, epoch, step, steps, batch, config_.loss);
      SPML_CHECK(config_.on_nonfinite == "skip", "training stopped: ", what, "; ",
                 !folder_.has_checkpoint()
                     ? std::string("no checkpoint was written yet")
                     : folder_.checkpoint_path() + " keeps the last good state (--resume continues from it)",
                 "; --on-nonfinite skip would leave such steps out");
      ++pos.skipped_steps;
      if (tty_) std::fprintf(stderr, "\n");
      log("WARNING: " + what + ": step skipped (--on-nonfinite skip: no update, BatchNorm statistics kept)");
    }
    images_now += batch_images;
    fault::at("train-step");
    if (callbacks_.on_step) callbacks_.on_step(epoch, step, result.loss);
    if (tty_) {
      const double elapsed = seconds_since(train_start);
      print_progress(epoch, config_.epochs, step, steps, double(images_now) / elapsed,
                     pos.loss_images > 0 ? pos.loss_sum / double(pos.loss_images) : 0.0,
                     elapsed / double(step - first_step) * double(steps - step));
    }
    if (stop_requested() && step < steps) {  // polled after every step: the tests count the polls
      if (tty_) std::fprintf(stderr, "\n");
      step_->finish_phase_times();
      pos.next_step = step;
      pos.train_seconds = seconds_before + seconds_since(train_start);
      save_checkpoint();
      return false;
    }
    // --checkpoint-minutes: a mid-epoch checkpoint at the step's end, as an interruption writes (the run goes on).
    if (config_.checkpoint_minutes > 0 && step < steps &&
        seconds_since(last_checkpoint_) >= config_.checkpoint_minutes * 60.0) {
      step_->finish_phase_times();
      pos.next_step = step;
      pos.train_seconds = seconds_before + seconds_since(train_start);
      save_checkpoint();
    }
  }
  count_skipped_images();       // next() also counts the bad images of batches it left out at the epoch's end
  step_->finish_phase_times();  // CUDA: the last steps' device times, before the epoch's totals are read
  if (tty_) std::fprintf(stderr, "\n");
  SPML_CHECK(pos.loss_images > 0, "training stopped: epoch ", epoch, " trained no image (", pos.skipped_steps,
             " non-finite steps and ", pos.skipped_images,
             " bad images skipped): the run diverged or the data cannot be read");
  pos.train_seconds = seconds_before + seconds_since(train_start);
  return true;
}

const EpochRecord& TrainingRun::end_epoch(int epoch) {
  RunPosition& pos = position_;
  SplitEvaluation val;
  std::string label_state_note;
  if (TrainLabelState* labels = step_->label_state()) {
    if (config_.loss == "em_apl" && epoch >= config_.apl_warmup) {
      // EM+APL's pass (eval mode, dataset order, no flip: deterministic) before validation; the checkpoint below
      // holds its result, so a resumed run never repeats or loses it.
      PhaseTimer phase("pseudo_label", pos.phases.eval);
      const SplitEvaluation train = evaluate(dataset_.train, train_features_);
      const int64_t added = labels->pseudo_label(train.probabilities, config_.epochs, config_.apl_warmup);
      label_state_note = ", " + std::to_string(added) + " entries pseudo-labelled (" +
                         std::to_string(labels->pseudo_labelled_count()) + " in all)";
    } else if (config_.loss == "ll_cp") {
      label_state_note = ", " + std::to_string(labels->flipped_count()) + " labels flipped to positive in all";
    }
  }
  {
    PhaseTimer phase("eval", pos.phases.eval);
    val = evaluate(dataset_.val, val_features_);
  }
  EpochRecord record;
  record.epoch = epoch;
  record.train_loss = pos.loss_images > 0 ? pos.loss_sum / double(pos.loss_images) : 0;
  record.val_map = val.map.map_percent;
  record.images_per_s = pos.train_seconds > 0 ? double(pos.loss_images) / pos.train_seconds : 0;
  record.phases = pos.phases;
  record.skipped_images = pos.skipped_images;
  record.skipped_steps = pos.skipped_steps;
  // The training phase's time plus validation's: the wall time of an epoch, summed over its resumed pieces.
  record.seconds = pos.train_seconds + pos.phases.eval;
  pos.history.push_back(record);
  BestTracker tracker{pos.best_val_map, pos.best_epoch, config_.early_stop_drop};
  const BestTracker::Decision decision = tracker.update(epoch, record.val_map);
  pos.best_val_map = tracker.best_val_map;
  pos.best_epoch = tracker.best_epoch;
  if (decision.improved) {
    folder_.save_best_weights(step_->net(), dataset_.class_names);
    // ROLE's estimates of the best epoch: what Cole et al.'s linear-init carries into its second stage.
    if (losses::RoleLabelEstimates* g = step_->label_estimates())
      io::write_npy_tensor(folder_.path("best_label_estimates.npy"), g->logits().detach().to(DType::Float32));
  }
  pos.stopped_early = decision.stop;
  pos.next_epoch = epoch + 1;
  pos.next_step = 0;
  folder_.write_epoch_files(pos.history, config_.loss + " seed " + std::to_string(config_.seed));
  folder_.write_run_counts(pos.history);
  save_checkpoint();
  log("epoch " + std::to_string(epoch) + "/" + std::to_string(config_.epochs) +
      (step_->backbone_frozen() ? " (backbone frozen)" : "") + ": train_loss " + format_fixed(record.train_loss, 4) +
      ", val_mAP " + format_fixed(record.val_map, 2) +
      (decision.improved
           ? " (best)"
           : " (best " + format_fixed(pos.best_val_map, 2) + " @ " + std::to_string(pos.best_epoch) + ")") +
      ", " + format_fixed(record.seconds, 1) + " s, " + format_fixed(record.images_per_s, 1) + " img/s" +
      (record.skipped_images > 0 ? ", " + std::to_string(record.skipped_images) + " bad images skipped" : "") +
      (record.skipped_steps > 0 ? ", " + std::to_string(record.skipped_steps) + " non-finite steps skipped" : "") +
      label_state_note);
  log("  phases: " + phases_text(pos.phases));
  if (pos.stopped_early)
    log("early stop: val mAP " + format_fixed(record.val_map, 2) + " is more than " +
        format_fixed(config_.early_stop_drop, 1) + " points below the best " + format_fixed(pos.best_val_map, 2) +
        " (epoch " + std::to_string(pos.best_epoch) + ")");
  return pos.history.back();
}

TrainOutcome TrainingRun::interrupted(const std::string& message) const {
  log("interrupted " + message + ": " + folder_.checkpoint_path() + " written; continue with --resume --out " +
      folder_.dir());
  TrainOutcome outcome;
  outcome.interrupted = true;
  outcome.epochs_run = int(position_.history.size());
  outcome.history = position_.history;
  return outcome;
}

TrainOutcome TrainingRun::finish() {
  const RunPosition& pos = position_;
  const std::string best_path = folder_.best_weights_path();
  SPML_CHECK(pos.best_epoch > 0 && std::filesystem::exists(best_path), folder_.dir(), ": no best checkpoint ",
             best_path, " to evaluate (did the run complete an epoch?)");
  const io::SafetensorsFile best = io::read_safetensors(best_path);
  step_->net().load_state_dict(best.tensors, /*strict=*/true);
  const SplitEvaluation test = evaluate(dataset_.test, test_features_);
  double seconds_total = 0;
  int64_t skipped_images = 0, skipped_steps = 0;
  for (const EpochRecord& r : pos.history) {
    seconds_total += r.seconds;
    skipped_images += r.skipped_images;
    skipped_steps += r.skipped_steps;
  }
  nlohmann::json test_json = {{"test_mAP", test.map.map_percent},
                              {"per_class_AP", test.map.per_class_ap},
                              {"best_epoch", pos.best_epoch},
                              {"best_val_mAP", pos.best_val_map},
                              {"epochs_run", int(pos.history.size())},
                              {"stopped_early", pos.stopped_early},
                              {"seconds_total", seconds_total},
                              {"test_seconds", test.seconds},
                              {"test_images", dataset_.test.size()},
                              {"skipped_images", skipped_images},
                              {"skipped_steps", skipped_steps},
                              {"class_names", dataset_.class_names},
                              {"dataset", config_.dataset},
                              {"arch", config_.arch},
                              {"loss", config_.loss},
                              {"seed", config_.seed}};
  // Cole et al.'s metrics next to mAP: recall@k, precision@k, top-k (percent) and the mAP on the observed labels.
  const nlohmann::json more = split_metrics_json(test.probabilities, test.labels, test.observed);
  for (const auto& item : more.items())
    if (item.key() != "mAP") test_json["test_" + item.key()] = item.value();
  folder_.write_test_results(test_json.dump(2) + "\n", test.probabilities);
  log("test mAP " + format_fixed(test.map.map_percent, 2) + " (best epoch " + std::to_string(pos.best_epoch) +
      ", val mAP " + format_fixed(pos.best_val_map, 2) + "); " + folder_.path("test.json") + " written");

  TrainOutcome outcome;
  outcome.stopped_early = pos.stopped_early;
  outcome.epochs_run = int(pos.history.size());
  outcome.best_epoch = pos.best_epoch;
  outcome.best_val_map = pos.best_val_map;
  outcome.test_map = test.map.map_percent;
  outcome.per_class_ap = test.map.per_class_ap;
  outcome.history = pos.history;
  return outcome;
}

}  // namespace spml::training
