// The SPML training protocol (trainer.h): the loop over a TrainingRun's epochs, and the pieces it shares with
// evaluation and the tests (data, model, loaders, split evaluation, resume configuration).
#include "training/trainer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/autograd/autograd.h"
#include "framework/core/fault_injection.h"
#include "framework/core/nvtx.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/data/builders/fashion_mosaic.h"
#include "framework/data/builders/toy_shapes.h"
#include "framework/data/preformatted.h"
#include "framework/io/file.h"
#include "framework/io/safetensors.h"
#include "framework/ops/ops.h"
#include "kernels/common/error.h"
#include "training/training_run.h"

namespace spml::training {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string in_dir(const std::string& dir, const char* name) {
  return (fs::path(dir) / name).string();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

bool should_stop_early(double best_val_map, double current_val_map, double drop) {
  return best_val_map - current_val_map > drop;
}

BestTracker::Decision BestTracker::update(int epoch, double val_map) {
  Decision d;
  d.improved = best_epoch == 0 || val_map > best_val_map;
  if (d.improved) {
    best_val_map = val_map;
    best_epoch = epoch;
  }
  d.stop = should_stop_early(best_val_map, val_map, stop_drop);
  return d;
}

data::MultiLabelDataset load_training_data(const TrainConfig& config,
                                           const std::function<void(const std::string&)>& log) {
  const DatasetSettings& defaults = dataset_settings(config.dataset);
  if (config.dataset == "fashion-mosaic" && !data::preformatted_exists(config.data)) {
    data::FashionMosaicOptions options;
    options.out = config.data;
    log("Fashion-Mosaic: generating " + config.data + " (default settings: " + std::to_string(options.train) +
        " train / " + std::to_string(options.test) + " test canvases of " + std::to_string(options.size) +
        " px, seed " + std::to_string(options.seed) + ")");
    data::build_fashion_mosaic(options);
  } else if (config.dataset == "toy-shapes" && !data::preformatted_exists(config.data)) {
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
  options.skip_bad_images = config.on_bad_image == "skip";
  return options;
}

data::LoaderOptions eval_loader_options(const TrainConfig& config, Device device) {
  data::LoaderOptions options;
  options.batch_size = config.batch_size;
  options.image_size = config.image_size;
  options.workers = config.workers;
  options.device = device;
  return options;
}

namespace {
// The split's mAP from its probabilities [N, C] (CPU float32), with the labels and the time since `start`.
SplitEvaluation split_evaluation(const Tensor& probabilities, const data::MultiLabelSplit& split,
                                 Clock::time_point start) {
  SplitEvaluation result;
  result.map = metrics::mean_average_precision(probabilities, split.labels);
  result.probabilities = probabilities;
  result.labels = split.labels;
  result.observed = split.observed;
  result.seconds = seconds_since(start);
  return result;
}
}  // namespace

SplitEvaluation evaluate_split(models::ResNet& net, const data::MultiLabelSplit& split, const std::string& image_root,
                               const TrainConfig& config, Device device) {
  NvtxRange range("eval");
  const auto start = Clock::now();
  net.eval();
  autograd::NoGradGuard no_grad;
  data::DataLoader loader(split, image_root, eval_loader_options(config, device));
  loader.start_epoch(0);
  Tensor probabilities = Tensor::empty({split.size(), split.labels.size(1)});
  float* out = probabilities.data<float>();
  data::Batch batch;
  const DType dtype = train_dtype(config);
  for (;;) {
    try {
      if (!loader.next(batch)) break;
    } catch (const Error& e) {
      SPML_FAIL(e.what(),
                " (an evaluation image is never skipped, whatever --on-bad-image says: leaving it out would "
                "change the mAP; repair or remove it from the split)");
    }
    const Tensor images = batch.images.dtype() == dtype ? batch.images : batch.images.to(dtype);
    const Tensor p = sigmoid(net.forward(images)).to(Device::cpu()).to(DType::Float32);
    const float* src = p.data<float>();
    const int64_t classes = p.size(1);
    const int64_t* rows = batch.indices.data<int64_t>();
    for (int64_t i = 0; i < p.size(0); ++i)
      std::copy(src + i * classes, src + (i + 1) * classes, out + rows[i] * classes);
    fault::at("eval-batch");
  }
  return split_evaluation(probabilities, split, start);
}

SplitEvaluation evaluate_features(models::ResNet& net, const Tensor& features, const data::MultiLabelSplit& split,
                                  const TrainConfig& config, Device device) {
  NvtxRange range("eval_features");
  const auto start = Clock::now();
  net.eval();
  autograd::NoGradGuard no_grad;
  const int64_t n = split.size(), dim = features.size(1), classes = split.labels.size(1);
  SPML_CHECK(features.dim() == 2 && features.size(0) == n, "evaluate_features: features ", features.description(),
             " do not have the split's ", n, " rows");
  Tensor probabilities = Tensor::empty({n, classes});
  const DType dtype = train_dtype(config);
  for (int64_t begin = 0; begin < n; begin += config.batch_size) {
    const int64_t count = std::min<int64_t>(config.batch_size, n - begin);
    Tensor rows = Tensor::empty({count, dim});
    std::copy(features.data<float>() + begin * dim, features.data<float>() + (begin + count) * dim, rows.data<float>());
    const Tensor input = dtype == DType::Float32 ? rows.to(device) : rows.to(dtype).to(device);
    const Tensor p = sigmoid(net.classify(input)).to(Device::cpu()).to(DType::Float32);
    std::copy(p.data<float>(), p.data<float>() + count * classes, probabilities.data<float>() + begin * classes);
  }
  return split_evaluation(probabilities, split, start);
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
    } else if (key == "on_bad_image") {
      merged.on_bad_image = requested.on_bad_image;
    } else if (key == "on_nonfinite") {
      merged.on_nonfinite = requested.on_nonfinite;
    } else if (key == "checkpoint_minutes") {
      merged.checkpoint_minutes = requested.checkpoint_minutes;
    } else if (key != "out" && requested_json.at(key) != stored_json.at(key)) {
      changed += (changed.empty() ? "--" : ", --") + key;
    }
  }
  SPML_CHECK(changed.empty(), "--resume: ", changed, " differ from the run's ", path,
             "; only --epochs (and --threads, --workers, --device, --cpu-kernels, --on-bad-image, --on-nonfinite, "
             "--checkpoint-minutes) may change when resuming");
  return merged;
}

namespace {

// Cole et al.'s two-stage linear init: RUNDIR/stage1 trains the head on cached features (linear-fixed-features,
// stage1_epochs), RUNDIR/stage2 fine-tunes end to end from stage 1's best weights (its head included) and, for ROLE,
// its best label estimates. A finished stage (test.json) is not rerun; a started one is resumed.
TrainOutcome run_linear_init(const TrainConfig& config, bool resume, const TrainCallbacks& callbacks) {
  const std::string top = config.out, config_path = in_dir(top, "config.json");
  SPML_CHECK(resume || !fs::exists(config_path), "--out ", top, " already holds a run (", config_path,
             "): use --resume to continue it, or another --out");
  fs::create_directories(top);
  if (!resume || !fs::exists(config_path)) io::write_file_atomic(config_path, train_config_to_json(config) + "\n");
  const auto log = [&](const std::string& line) {
    if (callbacks.log)
      callbacks.log(line);
    else
      std::fprintf(stderr, "%s\n", line.c_str());
  };
  TrainConfig stage1 = config;
  stage1.mode = "linear-fixed-features";
  stage1.epochs = config.stage1_epochs;
  stage1.out = in_dir(top, "stage1");
  TrainConfig stage2 = config;
  stage2.mode = "end-to-end";
  stage2.out = in_dir(top, "stage2");
  stage2.weights = in_dir(stage1.out, "best.safetensors");
  if (config.loss == "role") stage2.role_init = in_dir(stage1.out, "best_label_estimates.npy");
  TrainOutcome outcome;
  for (const TrainConfig* stage : {&stage1, &stage2}) {
    const bool done = fs::exists(in_dir(stage->out, "test.json"));
    const bool started = fs::exists(in_dir(stage->out, "config.json"));
    const std::string name = stage == &stage1 ? "stage 1 (linear-fixed-features)" : "stage 2 (end to end)";
    if (done) {
      log("linear-init: " + name + " finished already (" + stage->out + "/test.json)");
      continue;
    }
    log("linear-init: " + name + " in " + stage->out + (started ? " (resumed)" : ""));
    outcome = run_training(*stage, started, callbacks);
    if (outcome.interrupted) return outcome;
  }
  // The two-stage run's result is stage 2's, with stage 1's next to it.
  json stage1_test = json::parse(io::read_text_file(in_dir(stage1.out, "test.json")));
  json result = json::parse(io::read_text_file(in_dir(stage2.out, "test.json")));
  result["mode"] = "linear-init";
  result["stage1"] = {{"test_mAP", stage1_test.at("test_mAP")},
                      {"best_val_mAP", stage1_test.at("best_val_mAP")},
                      {"best_epoch", stage1_test.at("best_epoch")},
                      {"epochs_run", stage1_test.at("epochs_run")},
                      {"seconds_total", stage1_test.at("seconds_total")}};
  io::write_file_atomic(in_dir(top, "test.json"), result.dump(2) + "\n");
  outcome.interrupted = false;
  outcome.stopped_early = result.at("stopped_early").get<bool>();
  outcome.epochs_run = result.at("epochs_run").get<int>();
  outcome.best_epoch = result.at("best_epoch").get<int>();
  outcome.best_val_map = result.at("best_val_mAP").get<double>();
  outcome.test_map = result.at("test_mAP").get<double>();
  outcome.per_class_ap = result.at("per_class_AP").get<std::vector<double>>();
  log("linear-init: test mAP " + std::to_string(outcome.test_map) + " (stage 1: " +
      std::to_string(stage1_test.at("test_mAP").get<double>()) + "); " + in_dir(top, "test.json") + " written");
  return outcome;
}

}  // namespace

TrainOutcome run_training(const TrainConfig& config, bool resume, const TrainCallbacks& callbacks) {
  if (config.mode == "linear-init") {
    validate_train_config(config);
    return run_linear_init(config, resume, callbacks);
  }
  TrainingRun run(config, resume, callbacks);
  while (!run.done()) {
    const int epoch = run.next_epoch();
    if (!run.train_epoch(epoch)) {
      const RunPosition& at = run.position();
      return run.interrupted("at epoch " + std::to_string(epoch) + ", step " + std::to_string(at.next_step));
    }
    run.end_epoch(epoch);
    if (run.stop_requested() && !run.done()) return run.interrupted("after epoch " + std::to_string(epoch));
  }
  return run.finish();
}

SplitEvaluation evaluate_run(const std::string& run_dir, const std::string& split, const std::string& device_name) {
  // A linear-init run's weights are its second stage's.
  const std::string top_config = in_dir(run_dir, "config.json");
  if (fs::exists(top_config) && fs::exists(in_dir(run_dir, "stage2/config.json")) &&
      train_config_from_json(io::read_text_file(top_config), top_config, TrainConfig{}).mode == "linear-init")
    return evaluate_run(in_dir(run_dir, "stage2"), split, device_name);
  const std::string config_path = in_dir(run_dir, "config.json"), best_path = in_dir(run_dir, "best.safetensors");
  SPML_CHECK(fs::exists(config_path), "--run ", run_dir, ": ", config_path, " does not exist (not a run folder)");
  TrainConfig config = train_config_from_json(io::read_text_file(config_path), config_path, TrainConfig{});
  if (!device_name.empty()) config.device = device_name;
  SPML_CHECK(split == "test" || split == "val", "--split must be test or val, got '", split, "'");
  SPML_CHECK(fs::exists(best_path), "--run ", run_dir, ": ", best_path,
             " does not exist (the run has not finished an epoch yet)");
  const Device device = Device::parse(config.device);
  if (device.is_cuda()) cuda_runtime::require_device(device.index, "--device");
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
