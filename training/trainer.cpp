// The SPML training loop over a run folder (see trainer.h for the folder's files).
#include "training/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/autograd/autograd.h"
#include "framework/core/nvtx.h"
#include "framework/core/runtime.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/data/fashion_mosaic.h"
#include "framework/data/loader.h"
#include "framework/data/preformatted.h"
#include "framework/data/sample_schedule.h"
#include "framework/data/toy_shapes.h"
#include "framework/io/checkpoint.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/safetensors.h"
#include "framework/io/sha256.h"
#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "kernels/common/error.h"
#include "models/weights.h"
#include "training/plot.h"

#ifndef SPML_GIT_COMMIT
#define SPML_GIT_COMMIT "unknown"
#endif

namespace spml::training {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kCheckpointFormat = "spml-train-1";

std::string in_dir(const std::string& dir, const char* name) {
  return (fs::path(dir) / name).string();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
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

json phases_to_json(const PhaseSeconds& p) {
  return {{"data", p.data},         {"forward", p.forward},     {"loss", p.loss},
          {"backward", p.backward}, {"optimizer", p.optimizer}, {"eval", p.eval}};
}

json record_to_json(const EpochRecord& r) {
  return {{"epoch", r.epoch},     {"train_loss", r.train_loss},     {"val_mAP", r.val_map},
          {"seconds", r.seconds}, {"images_per_s", r.images_per_s}, {"phase_seconds", phases_to_json(r.phases)}};
}

PhaseSeconds phases_from_json(const json& p) {
  return {p.at("data").get<double>(),     p.at("forward").get<double>(),   p.at("loss").get<double>(),
          p.at("backward").get<double>(), p.at("optimizer").get<double>(), p.at("eval").get<double>()};
}

EpochRecord record_from_json(const json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<int>();
  r.train_loss = j.at("train_loss").get<double>();
  r.val_map = j.at("val_mAP").get<double>();
  r.seconds = j.at("seconds").get<double>();
  r.images_per_s = j.at("images_per_s").get<double>();
  if (j.contains("phase_seconds")) r.phases = phases_from_json(j.at("phase_seconds"));
  return r;
}

// metrics.csv / metrics.jsonl / plot.svg from the whole history (rewritten atomically after every epoch, so a
// resumed run rewrites exactly what an uninterrupted one has).
void write_epoch_files(const std::string& dir, const std::vector<EpochRecord>& history, const std::string& title) {
  std::ostringstream csv, jsonl;
  csv << "epoch,train_loss,val_mAP,seconds,images_per_s\n";
  csv.precision(10);
  for (const EpochRecord& r : history) {
    csv << r.epoch << ',' << r.train_loss << ',' << r.val_map << ',' << r.seconds << ',' << r.images_per_s << '\n';
    jsonl << record_to_json(r).dump() << '\n';
  }
  io::write_file_atomic(in_dir(dir, "metrics.csv"), csv.str());
  io::write_file_atomic(in_dir(dir, "metrics.jsonl"), jsonl.str());

  PlotSeries loss{title, {}, {}}, map{title, {}, {}};
  for (const EpochRecord& r : history) {
    loss.x.push_back(r.epoch);
    loss.y.push_back(r.train_loss);
    map.x.push_back(r.epoch);
    map.y.push_back(r.val_map);
  }
  write_svg(in_dir(dir, "plot.svg"), {PlotPanel{"train loss", "epoch", "loss", {loss}},
                                      PlotPanel{"validation mAP (clean labels)", "epoch", "mAP (%)", {map}}});
}

std::string phases_text(const PhaseSeconds& p) {
  return "data " + format_fixed(p.data, 1) + " s, forward " + format_fixed(p.forward, 1) + " s, loss " +
         format_fixed(p.loss, 1) + " s, backward " + format_fixed(p.backward, 1) + " s, optimizer " +
         format_fixed(p.optimizer, 1) + " s, eval " + format_fixed(p.eval, 1) + " s";
}

// Where a run stands: saved in last.ckpt's metadata.
struct Position {
  int next_epoch = 1;
  int64_t next_step = 0;  // batches of next_epoch already trained (a run interrupted mid-epoch)
  double loss_sum = 0;    // sum over those batches of loss x batch size
  int64_t loss_images = 0;
  double train_seconds = 0;  // of those batches
  PhaseSeconds phases;       // of those batches
  std::vector<EpochRecord> history;
  double best_val_map = -std::numeric_limits<double>::infinity();
  int best_epoch = 0;
  bool stopped_early = false;
};

json position_to_json(const Position& p, const TrainConfig& config) {
  json history = json::array();
  for (const EpochRecord& r : p.history) history.push_back(record_to_json(r));
  return {{"format", kCheckpointFormat},
          {"next_epoch", p.next_epoch},
          {"next_step", p.next_step},
          {"loss_sum", p.loss_sum},
          {"loss_images", p.loss_images},
          {"train_seconds", p.train_seconds},
          {"phase_seconds", phases_to_json(p.phases)},
          {"history", history},
          {"best_val_mAP", p.best_epoch > 0 ? json(p.best_val_map) : json(nullptr)},
          {"best_epoch", p.best_epoch},
          {"stopped_early", p.stopped_early},
          {"seed", config.seed},
          {"config", json::parse(train_config_to_json(config))}};
}

Position position_from_json(const std::string& text, const std::string& path) {
  try {
    const json j = json::parse(text);
    SPML_CHECK(j.value("format", "") == kCheckpointFormat, "not a spml-train checkpoint (format \"",
               j.value("format", ""), "\", expected \"", kCheckpointFormat, "\")");
    Position p;
    p.next_epoch = j.at("next_epoch").get<int>();
    p.next_step = j.at("next_step").get<int64_t>();
    p.loss_sum = j.at("loss_sum").get<double>();
    p.loss_images = j.at("loss_images").get<int64_t>();
    p.train_seconds = j.at("train_seconds").get<double>();
    p.phases = phases_from_json(j.at("phase_seconds"));
    for (const json& r : j.at("history")) p.history.push_back(record_from_json(r));
    p.best_epoch = j.at("best_epoch").get<int>();
    if (p.best_epoch > 0) p.best_val_map = j.at("best_val_mAP").get<double>();
    p.stopped_early = j.at("stopped_early").get<bool>();
    SPML_CHECK(p.next_epoch >= 1 && p.next_step >= 0 && int(p.history.size()) == p.next_epoch - 1,
               "inconsistent position (next epoch ", p.next_epoch, ", ", p.history.size(), " epochs of history)");
    return p;
  } catch (const std::exception& e) {
    SPML_FAIL("corrupt checkpoint metadata in ", path, ": ", e.what());
  }
}

json run_record(const TrainConfig& config, Device device, const std::string& weights_sha256,
                const TrainCallbacks& callbacks) {
  const BuildInfo build = build_info();
  json record = {{"config", json::parse(train_config_to_json(config))},
                 {"git_commit", SPML_GIT_COMMIT},
                 {"build",
                  {{"version", build.version},
                   {"cuda", build.cuda},
                   {"cuda_architectures", build.cuda_architectures},
                   {"gemm", build.gemm},
                   {"onednn", build.onednn}}},
                 {"device", device.is_cuda() ? device.str() + " (" + cuda::device_name(device.index) + ")" : "cpu"},
                 {"threads", num_threads()},
                 {"cpu_kernels", cpu_kernels_description()},
                 {"random_init", config.weights.empty()},
                 {"weights", config.weights},
                 {"weights_sha256", weights_sha256},
                 {"deterministic", config.deterministic},
                 {"command", callbacks.command_line},
                 {"started", utc_now()},
                 {"resumed", json::array()}};
  return record;
}

void print_progress(int epoch, int epochs, int64_t step, int64_t steps, double images_per_s, double mean_loss,
                    double eta_seconds) {
  std::fprintf(stderr, "\repoch %d/%d [%lld/%lld] %.1f img/s, loss %.4f, ETA %s   ", epoch, epochs, (long long)step,
               (long long)steps, images_per_s, mean_loss, clock_text(eta_seconds).c_str());
  std::fflush(stderr);
}

}  // namespace

bool should_stop_early(double best_val_map, double current_val_map) {
  return best_val_map - current_val_map > 2.0;
}

BestTracker::Decision BestTracker::update(int epoch, double val_map) {
  Decision d;
  d.improved = best_epoch == 0 || val_map > best_val_map;
  if (d.improved) {
    best_val_map = val_map;
    best_epoch = epoch;
  }
  d.stop = should_stop_early(best_val_map, val_map);
  return d;
}

data::MultiLabelDataset load_training_data(const TrainConfig& config,
                                           const std::function<void(const std::string&)>& log) {
  const DatasetTrainingDefaults& defaults = dataset_training_defaults(config.dataset);
  if (config.dataset == "fashion-mosaic" && !data::fashion_mosaic_exists(config.data)) {
    data::FashionMosaicOptions options;
    options.out = config.data;
    log("Fashion-Mosaic: generating " + config.data + " (default settings: " + std::to_string(options.train) +
        " train / " + std::to_string(options.test) + " test canvases of " + std::to_string(options.size) +
        " px, seed " + std::to_string(options.seed) + ")");
    data::build_fashion_mosaic(options);
  } else if (config.dataset == "toy-shapes" && !data::fashion_mosaic_exists(config.data)) {
    log("Toy Shapes: generating " + config.data + " (320 train / 128 test canvases of 32 px)");
    data::build_toy_shapes(config.data, 320, 128, 32, 0);
  }
  SPML_CHECK(fs::is_directory(config.data), "--data ", config.data, " is not a folder (prepare the ", config.dataset,
             " data set with spml-data prepare first)");
  data::MultiLabelDataset dataset = data::load_preformatted(config.data, config.images);
  SPML_CHECK(dataset.num_classes() == defaults.num_classes, "--data ", config.data, " holds ", dataset.num_classes(),
             " classes but --dataset ", config.dataset, " has ", defaults.num_classes);
  SPML_CHECK(dataset.train.size() > 0 && dataset.val.size() > 0 && dataset.test.size() > 0, "--data ", config.data,
             ": the train, val and test splits must not be empty (sizes ", dataset.train.size(), ", ",
             dataset.val.size(), ", ", dataset.test.size(), ")");
  if (config.max_train > 0 && config.max_train < dataset.train.size()) {
    data::MultiLabelSplit& train = dataset.train;
    const int64_t n = config.max_train;
    train.image_paths.resize(std::size_t(n));
    train.source_rows.resize(std::size_t(n));
    train.labels = train.labels.slice(0, n).clone();
    train.observed = train.observed.slice(0, n).clone();
  }
  return dataset;
}

std::shared_ptr<models::ResNet> make_model(const TrainConfig& config, int64_t num_classes) {
  models::ResNetConfig rc;
  rc.arch = config.arch;
  rc.num_classes = num_classes;
  rc.width = config.width;
  rc.seed = stream_seed(config, config.init_seed);
  rc.dtype = train_dtype(config);
  return std::make_shared<models::ResNet>(rc);
}

data::LoaderOptions train_loader_options(const TrainConfig& config, Device device,
                                         std::shared_ptr<const data::SampleSchedule> schedule) {
  data::LoaderOptions options;
  options.batch_size = config.batch_size;
  options.image_size = config.image_size;
  options.shuffle = true;
  options.flip = !config.no_flip;
  options.seed = stream_seed(config, config.order_seed);
  options.flip_seed = int64_t(stream_seed(config, config.flip_seed));
  options.schedule = std::move(schedule);
  options.workers = config.workers;
  options.device = device;
  return options;
}

SplitEvaluation evaluate_split(models::ResNet& net, const data::MultiLabelSplit& split, const std::string& image_root,
                               const TrainConfig& config, Device device) {
  NvtxRange range("eval");
  const auto start = Clock::now();
  net.eval();
  autograd::NoGradGuard no_grad;
  data::LoaderOptions options;
  options.batch_size = config.batch_size;
  options.image_size = config.image_size;
  options.workers = config.workers;
  options.device = device;
  data::DataLoader loader(split, image_root, options);
  loader.start_epoch(0);
  Tensor probabilities = Tensor::empty({split.size(), split.labels.size(1)});
  float* out = probabilities.data<float>();
  data::Batch batch;
  const DType dtype = train_dtype(config);
  while (loader.next(batch)) {
    const Tensor images = batch.images.dtype() == dtype ? batch.images : batch.images.to(dtype);
    const Tensor p = sigmoid(net.forward(images)).to(Device::cpu()).to(DType::Float32);
    const float* src = p.data<float>();
    const int64_t classes = p.size(1);
    const int64_t* rows = batch.indices.data<int64_t>();
    for (int64_t i = 0; i < p.size(0); ++i)
      std::copy(src + i * classes, src + (i + 1) * classes, out + rows[i] * classes);
  }
  SplitEvaluation result;
  result.map = metrics::mean_average_precision(probabilities, split.labels);
  result.probabilities = probabilities;
  result.seconds = seconds_since(start);
  return result;
}

TrainConfig resume_config(const std::string& run_dir, const TrainConfig& requested,
                          const std::vector<std::string>& explicitly_set) {
  const std::string path = in_dir(run_dir, "config.json");
  SPML_CHECK(fs::exists(path), "--resume: ", path, " does not exist (is ", run_dir, " a run folder?)");
  TrainConfig stored = train_config_from_json(io::read_text_file(path), path, TrainConfig{});
  TrainConfig merged = stored;
  const json requested_json = json::parse(train_config_to_json(requested));
  const json stored_json = json::parse(train_config_to_json(stored));
  std::string changed;
  for (const std::string& key : explicitly_set) {
    if (key == "epochs") {
      SPML_CHECK(requested.epochs >= stored.epochs, "--resume: --epochs may only be raised (", path, " says ",
                 stored.epochs, ", asked for ", requested.epochs, ")");
      merged.epochs = requested.epochs;
    } else if (key == "threads") {
      merged.threads = requested.threads;
    } else if (key == "workers") {
      merged.workers = requested.workers;
    } else if (key == "cpu_kernels") {
      merged.cpu_kernels = requested.cpu_kernels;
    } else if (key == "device") {
      merged.device = requested.device;
    } else if (key != "out" && requested_json.at(key) != stored_json.at(key)) {
      changed += (changed.empty() ? "--" : ", --") + key;
    }
  }
  SPML_CHECK(changed.empty(), "--resume: ", changed, " differ from the run's ", path,
             "; only --epochs (and --threads, --workers, --device, --cpu-kernels) may change when resuming");
  return merged;
}

TrainOutcome run_training(const TrainConfig& config, bool resume, const TrainCallbacks& callbacks) {
  validate_train_config(config);
  const std::function<void(const std::string&)> log =
      callbacks.log ? callbacks.log : [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  const std::string& dir = config.out;
  const std::string config_path = in_dir(dir, "config.json"), record_path = in_dir(dir, "run.json");
  const std::string ckpt_path = in_dir(dir, "last.ckpt"), best_path = in_dir(dir, "best.safetensors");
  if (resume) {
    SPML_CHECK(fs::exists(ckpt_path), "--resume: ", ckpt_path,
               " does not exist (the run never finished an epoch nor was interrupted): start it again without "
               "--resume");
  } else {
    SPML_CHECK(!fs::exists(config_path) && !fs::exists(ckpt_path), "--out ", dir,
               " already holds a run: pass --resume to continue it, or choose another --out");
    fs::create_directories(dir);
  }

  const Device device = Device::parse(config.device);
  if (device.is_cuda()) cuda::require_device(device.index, "--device");
  set_deterministic_convolutions(config.deterministic);

  data::MultiLabelDataset dataset = load_training_data(config, log);
  const int64_t num_classes = dataset.num_classes();
  log("data: " + config.data + " (" + dataset.name + "): " + std::to_string(dataset.train.size()) + " train / " +
      std::to_string(dataset.val.size()) + " val / " + std::to_string(dataset.test.size()) + " test images, " +
      std::to_string(num_classes) + " classes" +
      (config.max_train > 0 ? " (train cut to --max-train " + std::to_string(config.max_train) + ")" : ""));

  // Read before anything is written into the run folder, so a bad order file leaves no half-made run.
  std::shared_ptr<const data::SampleSchedule> schedule;
  if (!config.order_file.empty()) {
    auto read = std::make_shared<data::SampleSchedule>(data::read_sample_schedule(config.order_file));
    data::check_sample_schedule(*read, dataset.train.size(), config.epochs, "--order-file " + config.order_file);
    schedule = std::move(read);
  }

  std::shared_ptr<models::ResNet> net = make_model(config, num_classes);
  std::string weights_sha256;
  if (config.weights.empty()) {
    log("WARNING: no --weights given: the backbone starts from RANDOM initialisation (seed " +
        std::to_string(config.seed) + "); the run record says random_init: true");
  } else {
    const io::SafetensorsFile file = io::read_safetensors(config.weights);
    const io::LoadReport report = io::load_weights(*net, file.tensors, "fc.");
    weights_sha256 = io::sha256_file_hex(config.weights);
    log("weights: " + config.weights + " (sha256 " + weights_sha256 + ")" +
        (report.skipped_head_keys.empty() ? ", head loaded too" : ", head left at random init (other shape)"));
  }
  net->to(device);

  TrainingStep trainer(config, net, dataset.train.observed, device);
  nn::Module& state = trainer.state();
  optim::Adam& adam = trainer.optimizer();

  Position pos;
  if (resume) {
    pos = position_from_json(io::load_checkpoint(ckpt_path, state, adam), ckpt_path);
    SPML_CHECK(config.epochs >= int(pos.history.size()), "--epochs ", config.epochs, " is below the ",
               pos.history.size(), " epochs ", dir, " has already run");
    json record = fs::exists(record_path) ? json::parse(io::read_text_file(record_path))
                                          : run_record(config, device, weights_sha256, callbacks);
    record["resumed"].push_back({{"at", utc_now()}, {"epoch", pos.next_epoch}, {"step", pos.next_step}});
    record["config"] = json::parse(train_config_to_json(config));
    io::write_file_atomic(config_path, train_config_to_json(config) + "\n");
    io::write_file_atomic(record_path, record.dump(2) + "\n");
    log("resuming " + dir + " at epoch " + std::to_string(pos.next_epoch) + ", step " + std::to_string(pos.next_step));
  } else {
    io::write_file_atomic(config_path, train_config_to_json(config) + "\n");
    io::write_file_atomic(record_path, run_record(config, device, weights_sha256, callbacks).dump(2) + "\n");
  }

  data::DataLoader train_loader(dataset.train, dataset.image_root, train_loader_options(config, device, schedule));
  const int64_t steps = train_loader.batches_per_epoch();
  const bool tty = callbacks.progress_on_tty && isatty(fileno(stderr)) != 0;
  const std::string title = config.loss + " seed " + std::to_string(config.seed);
  log("training " + config.arch + " with loss " + config.loss + " on " + config.device + ": " +
      std::to_string(config.epochs) + " epochs x " + std::to_string(steps) + " steps of " +
      std::to_string(config.batch_size) + ", lr " + format_fixed(config.lr, 6) + " (head x" +
      format_fixed(config.lr_mult, 1) + "), linear_init " + std::to_string(config.linear_init) + ", " +
      build_info_string());

  TrainOutcome outcome;
  for (int epoch = pos.next_epoch; epoch <= config.epochs && !pos.stopped_early; ++epoch) {
    const auto epoch_start = Clock::now();
    trainer.begin_epoch(epoch);
    const bool frozen = trainer.backbone_frozen();
    const int64_t first_step = epoch == pos.next_epoch ? pos.next_step : 0;
    if (first_step == 0) {
      pos.loss_sum = 0;
      pos.loss_images = 0;
      pos.train_seconds = 0;
      pos.phases = PhaseSeconds{};
    }
    PhaseSeconds& phases = pos.phases;
    train_loader.start_epoch(epoch, first_step);
    const auto train_start = Clock::now();
    const double seconds_before = pos.train_seconds;
    int64_t step = first_step, images_now = 0;
    data::Batch batch;
    for (;;) {
      {
        PhaseTimer phase("data", phases.data);
        if (!train_loader.next(batch)) break;
      }
      const StepResult result = trainer.run(batch, phases);
      const double value = result.loss;
      ++step;
      const int64_t batch_images = batch.images.size(0);
      SPML_CHECK(result.finite(), "training stopped: the ", config.loss, " loss (",
                 result.loss_finite ? "logits not finite" : "value " + std::to_string(value), ") at epoch ", epoch,
                 ", step ", step, " of ", steps, " (batch of ", batch_images, " images starting with ",
                 batch.paths.front(), "); ",
                 !fs::exists(ckpt_path)
                     ? std::string("no checkpoint was written yet")
                     : ckpt_path + " keeps the last good state (resume with --resume, e.g. with a lower --lr)");
      pos.loss_sum += value * double(batch_images);
      pos.loss_images += batch_images;
      images_now += batch_images;
      if (callbacks.on_step) callbacks.on_step(epoch, step, value);
      if (tty) {
        const double elapsed = seconds_since(train_start);
        print_progress(epoch, config.epochs, step, steps, double(images_now) / elapsed,
                       pos.loss_sum / double(pos.loss_images),
                       elapsed / double(step - first_step) * double(steps - step));
      }
      if (callbacks.stop_requested && callbacks.stop_requested() && step < steps) {
        if (tty) std::fprintf(stderr, "\n");
        pos.next_epoch = epoch;
        pos.next_step = step;
        pos.train_seconds = seconds_before + seconds_since(train_start);
        io::save_checkpoint(ckpt_path, state, adam, position_to_json(pos, config).dump());
        log("interrupted at epoch " + std::to_string(epoch) + ", step " + std::to_string(step) + " of " +
            std::to_string(steps) + ": " + ckpt_path + " written; continue with --resume --out " + dir);
        outcome.interrupted = true;
        outcome.epochs_run = int(pos.history.size());
        outcome.history = pos.history;
        return outcome;
      }
    }
    if (tty) std::fprintf(stderr, "\n");
    pos.train_seconds = seconds_before + seconds_since(train_start);

    SplitEvaluation val;
    {
      PhaseTimer phase("eval", phases.eval);
      val = evaluate_split(*net, dataset.val, dataset.image_root, config, device);
    }
    EpochRecord record;
    record.epoch = epoch;
    record.train_loss = pos.loss_images > 0 ? pos.loss_sum / double(pos.loss_images) : 0;
    record.val_map = val.map.map_percent;
    record.images_per_s = pos.train_seconds > 0 ? double(pos.loss_images) / pos.train_seconds : 0;
    record.phases = phases;
    record.seconds = seconds_since(epoch_start) + seconds_before;
    pos.history.push_back(record);
    BestTracker tracker{pos.best_val_map, pos.best_epoch};
    const BestTracker::Decision decision = tracker.update(epoch, record.val_map);
    const bool improved = decision.improved;
    pos.best_val_map = tracker.best_val_map;
    pos.best_epoch = tracker.best_epoch;
    if (improved) models::save_resnet_weights(best_path, *net, dataset.class_names);
    pos.stopped_early = decision.stop;
    pos.next_epoch = epoch + 1;
    pos.next_step = 0;
    write_epoch_files(dir, pos.history, title);
    io::save_checkpoint(ckpt_path, state, adam, position_to_json(pos, config).dump());
    log("epoch " + std::to_string(epoch) + "/" + std::to_string(config.epochs) + (frozen ? " (backbone frozen)" : "") +
        ": train_loss " + format_fixed(record.train_loss, 4) + ", val_mAP " + format_fixed(record.val_map, 2) +
        (improved ? " (best)"
                  : " (best " + format_fixed(pos.best_val_map, 2) + " @ " + std::to_string(pos.best_epoch) + ")") +
        ", " + format_fixed(record.seconds, 1) + " s, " + format_fixed(record.images_per_s, 1) + " img/s");
    log("  phases: " + phases_text(phases));
    if (pos.stopped_early)
      log("early stop: val mAP " + format_fixed(record.val_map, 2) + " is more than 2 points below the best " +
          format_fixed(pos.best_val_map, 2) + " (epoch " + std::to_string(pos.best_epoch) + ")");
    if (callbacks.stop_requested && callbacks.stop_requested() && epoch < config.epochs && !pos.stopped_early) {
      log("interrupted after epoch " + std::to_string(epoch) + ": " + ckpt_path + " written; continue with --resume");
      outcome.interrupted = true;
      outcome.epochs_run = int(pos.history.size());
      outcome.history = pos.history;
      return outcome;
    }
  }

  SPML_CHECK(pos.best_epoch > 0 && fs::exists(best_path), dir, ": no best checkpoint ", best_path,
             " to evaluate (did the run complete an epoch?)");
  const io::SafetensorsFile best = io::read_safetensors(best_path);
  net->load_state_dict(best.tensors, /*strict=*/true);
  const SplitEvaluation test = evaluate_split(*net, dataset.test, dataset.image_root, config, device);
  double seconds_total = 0;
  for (const EpochRecord& r : pos.history) seconds_total += r.seconds;
  const json test_json = {{"test_mAP", test.map.map_percent},
                          {"per_class_AP", test.map.per_class_ap},
                          {"best_epoch", pos.best_epoch},
                          {"best_val_mAP", pos.best_val_map},
                          {"epochs_run", int(pos.history.size())},
                          {"stopped_early", pos.stopped_early},
                          {"seconds_total", seconds_total},
                          {"test_seconds", test.seconds},
                          {"test_images", dataset.test.size()},
                          {"class_names", dataset.class_names},
                          {"dataset", config.dataset},
                          {"arch", config.arch},
                          {"loss", config.loss},
                          {"seed", config.seed}};
  io::write_npy_tensor(in_dir(dir, "test_probabilities.npy"), test.probabilities);
  io::write_file_atomic(in_dir(dir, "test.json"), test_json.dump(2) + "\n");
  log("test mAP " + format_fixed(test.map.map_percent, 2) + " (best epoch " + std::to_string(pos.best_epoch) +
      ", val mAP " + format_fixed(pos.best_val_map, 2) + "); " + in_dir(dir, "test.json") + " written");

  outcome.stopped_early = pos.stopped_early;
  outcome.epochs_run = int(pos.history.size());
  outcome.best_epoch = pos.best_epoch;
  outcome.best_val_map = pos.best_val_map;
  outcome.test_map = test.map.map_percent;
  outcome.per_class_ap = test.map.per_class_ap;
  outcome.history = pos.history;
  return outcome;
}

SplitEvaluation evaluate_run(const std::string& run_dir, const std::string& split, const std::string& device_name) {
  const std::string config_path = in_dir(run_dir, "config.json"), best_path = in_dir(run_dir, "best.safetensors");
  SPML_CHECK(fs::exists(config_path), "--run ", run_dir, ": ", config_path, " does not exist (not a run folder)");
  TrainConfig config = train_config_from_json(io::read_text_file(config_path), config_path, TrainConfig{});
  if (!device_name.empty()) config.device = device_name;
  SPML_CHECK(split == "test" || split == "val", "--split must be test or val, got '", split, "'");
  SPML_CHECK(fs::exists(best_path), "--run ", run_dir, ": ", best_path,
             " does not exist (the run has not finished an epoch yet)");
  const Device device = Device::parse(config.device);
  if (device.is_cuda()) cuda::require_device(device.index, "--device");
  const data::MultiLabelDataset dataset =
      load_training_data(config, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  std::shared_ptr<models::ResNet> net = make_model(config, dataset.num_classes());
  const io::SafetensorsFile best = io::read_safetensors(best_path);
  try {
    net->load_state_dict(best.tensors, /*strict=*/true);
  } catch (const std::exception& e) {
    SPML_FAIL(best_path, " does not fit the run's model (", config.arch, ", ", dataset.num_classes(),
              " classes): ", e.what());
  }
  net->to(device);
  return evaluate_split(*net, split == "test" ? dataset.test : dataset.val, dataset.image_root, config, device);
}

}  // namespace spml::training
