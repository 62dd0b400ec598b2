// The SPML training protocol (training/): configuration table, JSON and layering, the run folder, a run's pieces
// (an epoch stopped midway and resumed, the finish), early stopping, linear_init freezing with
// BatchNorm statistics moving, a short training that must learn, resume == uninterrupted, NaN stops (and an
// epoch of only skipped steps), the folder lock and stale temp files, run.json's skip counts, and clear errors for
// corrupt run folders and checkpoints.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "framework/autograd/autograd.h"
#include "framework/core/runtime.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/device_intervals.h"
#include "framework/data/builders/toy_shapes.h"
#include "framework/data/preformatted.h"
#include "framework/io/file.h"
#include "framework/io/safetensors.h"
#include "framework/io/sha256.h"
#include "framework/ops/ops.h"
#include "test_util.h"
#include "training/train_config.h"
#include "training/train_step.h"
#include "training/trainer.h"
#include "training/training_run.h"

namespace spml::training {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/spml_training_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

// One toy-shapes folder per process, shared by the tests (built once: 320 train rows -> 256 train / 64 val).
const std::string& toy_data() {
  static const std::string dir = [] {
    const std::string d = fresh_dir("toy_data");
    data::build_toy_shapes(d, 320, 96, 32, 5);
    return d;
  }();
  return dir;
}

// A small, fast configuration: ResNet-18 at width 16 on 32 px toy shapes.
TrainConfig toy_config(const std::string& out) {
  TrainConfig c = default_train_config("toy-shapes");
  c.data = toy_data();
  c.out = out;
  c.width = 16;
  c.epochs = 2;
  c.batch_size = 16;
  c.lr = 1e-3;
  c.threads = 0;
  return c;
}

TrainCallbacks quiet() {
  TrainCallbacks cb;
  cb.log = [](const std::string&) {};
  cb.progress_on_tty = false;
  return cb;
}

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(io::read_text_file(path));
}

TEST(TrainConfigTest, DefaultsTablePerDataset) {
  const TrainConfig voc = default_train_config("voc");
  EXPECT_EQ(voc.arch, "resnet50");
  EXPECT_EQ(voc.image_size, 448);
  EXPECT_EQ(voc.batch_size, 8);
  EXPECT_EQ(voc.epochs, 8);
  EXPECT_DOUBLE_EQ(voc.lr, 1e-5);
  EXPECT_EQ(voc.beta, (std::vector<double>{0, 2, -2, -2}));
  const TrainConfig coco = default_train_config("coco");
  EXPECT_EQ(coco.batch_size, 16);
  EXPECT_EQ(coco.beta, (std::vector<double>{0, 10, -2, -8}));
  EXPECT_DOUBLE_EQ(coco.expected_pos, 2.9);
  EXPECT_EQ(default_train_config("nuswide").epochs, 10);
  const TrainConfig cub = default_train_config("cub");
  EXPECT_EQ(cub.epochs, 10);
  EXPECT_EQ(cub.q2q3, (std::vector<double>{0.01, 1.5}));
  const TrainConfig fm = default_train_config("fashion-mosaic");
  EXPECT_EQ(fm.arch, "resnet18");
  EXPECT_EQ(fm.image_size, 64);
  EXPECT_EQ(fm.epochs, 6);
  EXPECT_EQ(fm.batch_size, 32);
  EXPECT_DOUBLE_EQ(fm.lr, 3e-4);
  EXPECT_DOUBLE_EQ(fm.lr_mult, 10);
  EXPECT_DOUBLE_EQ(fm.expected_pos, 1.76);
  EXPECT_DOUBLE_EQ(fm.em_alpha, 0.2);
  EXPECT_ERROR_CONTAINS(default_train_config("imagenet"), "unknown data set 'imagenet'");
}

TEST(TrainConfigTest, JsonRoundTripAndStrictReading) {
  TrainConfig c = default_train_config("coco");
  c.data = "/d";
  c.out = "/o";
  c.loss = "role";
  c.seed = 7;
  c.max_train = 100;
  c.deterministic = true;
  c.alpha = {0.1, 1, 0.9, 0.3};
  c.order_seed = 3;
  c.no_flip = true;
  c.dtype = "float64";
  const std::string text = train_config_to_json(c);
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["batch_size"], 16);
  EXPECT_EQ(j["lr_mult"], 10.0);
  EXPECT_EQ(j["max_train"], 100);
  EXPECT_EQ(j["order_seed"], 3);
  EXPECT_EQ(j["no_flip"], true);
  EXPECT_EQ(j["dtype"], "float64");
  EXPECT_EQ(j["order_file"], "");
  const TrainConfig back = train_config_from_json(text, "x.json", TrainConfig{});
  EXPECT_TRUE(train_config_differences(c, back).empty());
  // A subset keeps the base's other values.
  const TrainConfig partial = train_config_from_json(R"({"lr": 0.5, "epochs": 3})", "p.json", c);
  EXPECT_EQ(train_config_differences(c, partial), (std::vector<std::string>{"epochs", "lr"}));
  EXPECT_ERROR_CONTAINS(train_config_from_json(R"({"learning_rate": 1})", "p.json", c),
                        "p.json: unknown key \"learning_rate\"");
  EXPECT_ERROR_CONTAINS(train_config_from_json(R"({"epochs": "ten"})", "p.json", c),
                        "key \"epochs\" has the wrong type");
  EXPECT_ERROR_CONTAINS(train_config_from_json(R"({"epochs": 2.5})", "p.json", c), "\"epochs\" has the wrong type");
  EXPECT_ERROR_CONTAINS(train_config_from_json("[1, 2]", "p.json", c), "expected a JSON object");
  EXPECT_ERROR_CONTAINS(train_config_from_json("{", "p.json", c), "p.json: not valid JSON");
}

TEST(TrainConfigTest, ValidationNamesTheFlag) {
  TrainConfig c = toy_config("/tmp/x");
  c.linear_init = 2;
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--linear-init must be in [0, --epochs)");
  c = toy_config("/tmp/x");
  c.loss = "focal";
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "focal");
  c = toy_config("/tmp/x");
  c.arch = "vgg16";
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--arch: unknown architecture 'vgg16'");
  c = toy_config("/tmp/x");
  c.beta = {0, 1};
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "beta");
  c = toy_config("");
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--out");
  c = toy_config("/tmp/x");
  c.dtype = "float16";
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--dtype must be float32 or float64, got 'float16'");
  c = toy_config("/tmp/x");
  c.order_file = "order.json";
  c.no_flip = true;
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--order-file fixes the order and the flips");
  c.no_flip = false;
  c.flip_seed = 3;
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "cannot be combined with --order-seed, --flip-seed or --no-flip");
  c = toy_config("/tmp/x");
  c.on_bad_image = "ignore";
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--on-bad-image must be fail or skip, got 'ignore'");
  c = toy_config("/tmp/x");
  c.on_nonfinite = "zero";
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--on-nonfinite must be stop or skip, got 'zero'");
  c = toy_config("/tmp/x");
  c.init_seed = -2;
  EXPECT_ERROR_CONTAINS(validate_train_config(c), "--init-seed must be >= 0 (or -1: --seed)");
}

TEST(TrainConfigTest, StreamSeedsDefaultToTheSeed) {
  TrainConfig c = toy_config("/tmp/x");
  c.seed = 5;
  EXPECT_EQ(stream_seed(c, c.init_seed), 5u);
  c.init_seed = 9;
  EXPECT_EQ(stream_seed(c, c.init_seed), 9u);
  EXPECT_EQ(stream_seed(c, c.order_seed), 5u);
  // The model's init follows init_seed alone: seed 5 with init seed 9 starts where seed 9 does.
  TrainConfig other = c;
  other.seed = 9;
  other.init_seed = -1;
  const auto a = make_model(c, 4)->state_dict(), b = make_model(other, 4)->state_dict();
  c.init_seed = -1;
  const auto d = make_model(c, 4)->state_dict();
  EXPECT_EQ(a.at("conv1.weight").to_vector<float>(), b.at("conv1.weight").to_vector<float>());
  EXPECT_NE(a.at("conv1.weight").to_vector<float>(), d.at("conv1.weight").to_vector<float>());
  c.dtype = "float64";
  EXPECT_EQ(make_model(c, 4)->state_dict().at("fc.weight").dtype(), DType::Float64);
}

TEST(TrainConfigTest, LoaderOptionsFollowTheStreamSeedsAndNoFlip) {
  TrainConfig c = toy_config("/tmp/x");
  c.seed = 4;
  data::LoaderOptions o = train_loader_options(c, Device::cpu());
  EXPECT_TRUE(o.shuffle);
  EXPECT_TRUE(o.flip);
  EXPECT_FALSE(o.drop_last);
  EXPECT_EQ(o.seed, 4u);
  EXPECT_EQ(o.flip_seed, 4);
  EXPECT_EQ(o.batch_size, c.batch_size);
  EXPECT_FALSE(o.skip_bad_images);
  c.on_bad_image = "skip";
  EXPECT_TRUE(train_loader_options(c, Device::cpu()).skip_bad_images);
  c.order_seed = 11;
  c.flip_seed = 12;
  c.no_flip = true;
  o = train_loader_options(c, Device::cpu());
  EXPECT_EQ(o.seed, 11u);
  EXPECT_EQ(o.flip_seed, 12);
  EXPECT_FALSE(o.flip);
  auto schedule = std::make_shared<data::SampleSchedule>();
  EXPECT_EQ(train_loader_options(c, Device::cpu(), schedule).schedule, schedule);
}

TEST(TrainingTest, EarlyStopRuleIsMoreThanTwoPoints) {
  EXPECT_FALSE(should_stop_early(72.0, 70.0));  // exactly 2 points: go on
  EXPECT_TRUE(should_stop_early(72.0, 69.99));
  EXPECT_FALSE(should_stop_early(72.0, 72.5));
}

TEST(TrainingTest, BestTrackerKeepsTheFirstStrictMaximumAndStopsMoreThanTwoPointsBelow) {
  BestTracker t;
  const std::vector<double> val = {50.0, 55.0, 55.0, 54.0, 53.0, 52.9};
  const std::vector<bool> improved = {true, true, false, false, false, false};
  const std::vector<bool> stop = {false, false, false, false, false, true};
  const std::vector<int> best_epoch = {1, 2, 2, 2, 2, 2};  // an equal value (epoch 3) is no improvement
  for (std::size_t i = 0; i < val.size(); ++i) {
    const BestTracker::Decision d = t.update(int(i) + 1, val[i]);
    EXPECT_EQ(d.improved, improved[i]) << "epoch " << i + 1;
    EXPECT_EQ(d.stop, stop[i]) << "epoch " << i + 1;
    EXPECT_EQ(t.best_epoch, best_epoch[i]) << "epoch " << i + 1;
  }
  EXPECT_EQ(t.best_val_map, 55.0);
  BestTracker u;
  EXPECT_TRUE(u.update(1, 0.0).improved);  // the first epoch sets the best even at 0 mAP
  EXPECT_FALSE(u.update(2, -0.5).stop);
}

// The run's history must follow the protocol: best = first strict maximum, stop at the first epoch more than two
// points below the best so far, test.json naming that best epoch.
void expect_protocol_followed(const TrainOutcome& outcome, const TrainConfig& config) {
  ASSERT_FALSE(outcome.history.empty());
  double best = -1;
  int best_epoch = 0;
  for (std::size_t i = 0; i < outcome.history.size(); ++i) {
    const EpochRecord& r = outcome.history[i];
    EXPECT_EQ(r.epoch, int(i) + 1);
    if (r.val_map > best) {
      best = r.val_map;
      best_epoch = r.epoch;
    }
    const bool stop = best - r.val_map > 2.0;
    if (stop) {
      EXPECT_EQ(i + 1, outcome.history.size()) << "training went on after epoch " << r.epoch;
    }
  }
  const bool stopped = best - outcome.history.back().val_map > 2.0;
  EXPECT_EQ(outcome.stopped_early, stopped);
  EXPECT_EQ(outcome.epochs_run, stopped ? int(outcome.history.size()) : config.epochs);
  EXPECT_EQ(outcome.best_epoch, best_epoch);
  EXPECT_DOUBLE_EQ(outcome.best_val_map, best);
  const nlohmann::json test = read_json(config.out + "/test.json");
  EXPECT_EQ(test["best_epoch"], best_epoch);
  EXPECT_DOUBLE_EQ(test["test_mAP"].get<double>(), outcome.test_map);
  EXPECT_EQ(test["per_class_AP"].size(), 4u);
  EXPECT_EQ(test["stopped_early"], stopped);
}

TEST(TrainingTest, TwoEpochsOfGrLearnTheToyShapes) {
  TrainConfig config = toy_config(fresh_dir("learn"));
  // More rows than the shared folder (1024 train / 256 val): 256 images are too few to learn shapes in 2 epochs.
  config.data = fresh_dir("learn_data");
  data::build_toy_shapes(config.data, 1280, 96, 32, 5);
  // The untrained model's val mAP (same seed, eval mode) is the floor the training must clear.
  const data::MultiLabelDataset dataset = load_training_data(config, [](const std::string&) {});
  auto untrained = make_model(config, dataset.num_classes());
  const double untrained_map =
      evaluate_split(*untrained, dataset.val, dataset.image_root, config, Device::cpu()).map.map_percent;

  const TrainOutcome outcome = run_training(config, /*resume=*/false, quiet());
  expect_protocol_followed(outcome, config);
  // Measured on this configuration: untrained 57.1, best val 65.9, test 66.6 (chance is about 50).
  EXPECT_GE(outcome.best_val_map, 62.0) << "untrained: " << untrained_map;
  EXPECT_GT(outcome.best_val_map, untrained_map + 5.0);
  EXPECT_GE(outcome.test_map, 60.0);
  // Run folder contents.
  for (const char* file : {"config.json", "run.json", "metrics.csv", "metrics.jsonl", "best.safetensors", "last.ckpt",
                           "plot.svg", "test.json", "test_probabilities.npy"})
    EXPECT_TRUE(fs::exists(config.out + "/" + file)) << file;
  const nlohmann::json record = read_json(config.out + "/run.json");
  EXPECT_EQ(record["random_init"], true);
  EXPECT_EQ(record["config"]["loss"], "gr");
  EXPECT_FALSE(record["git_commit"].get<std::string>().empty());
  // Which float32 CPU kernels trained it ("onednn (oneDNN 2.6.3 (OpenMP))" or "reference").
  EXPECT_EQ(record["cpu_kernels"].get<std::string>(), cpu_kernels_description());
  const std::string csv = io::read_text_file(config.out + "/metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,train_loss,val_mAP,seconds,images_per_s");
  // spml-eval's path: re-evaluating the run reproduces test.json and the best val mAP.
  EXPECT_DOUBLE_EQ(evaluate_run(config.out, "test").map.map_percent, outcome.test_map);
  EXPECT_DOUBLE_EQ(evaluate_run(config.out, "val").map.map_percent, outcome.best_val_map);
  // The weights file loads as a ResNet with its metadata (spml-predict's path).
  const io::SafetensorsFile best = io::read_safetensors(config.out + "/best.safetensors");
  EXPECT_EQ(best.metadata.at("arch"), "resnet18");
  EXPECT_TRUE(best.tensors.count("fc.weight"));
  // A fresh run refuses a folder that already holds one.
  EXPECT_ERROR_CONTAINS(run_training(config, false, quiet()), "already holds a run");
}

TEST(TrainingTest, LinearInitFreezesTheBackboneButMovesBatchNormStatistics) {
  TrainConfig config = toy_config(fresh_dir("linear_init"));
  config.epochs = 2;
  config.linear_init = 1;
  TrainCallbacks cb = quiet();
  cb.stop_requested = [] { return true; };  // stop after the first epoch (checked mid-epoch only before the end)
  // The stop request mid-epoch would interrupt at step 1: ask only at the epoch's end.
  int calls = 0;
  const int64_t steps = (256 + config.batch_size - 1) / config.batch_size;
  cb.stop_requested = [&] { return ++calls >= steps; };
  const TrainOutcome outcome = run_training(config, false, cb);
  ASSERT_TRUE(outcome.interrupted);
  ASSERT_EQ(outcome.epochs_run, 1);

  const io::SafetensorsFile ckpt = io::read_safetensors(config.out + "/last.ckpt");
  const auto initial = make_model(config, 4)->state_dict();
  const auto& saved = ckpt.tensors;
  auto saved_of = [&](const std::string& key) { return saved.at("model.net." + key); };
  int64_t frozen_checked = 0;
  for (const auto& [name, value] : initial) {
    const Tensor now = saved_of(name);
    const double diff = max_abs_diff(now.to(DType::Float64), value.to(DType::Float64));
    if (name.rfind("fc.", 0) == 0) {
      EXPECT_GT(diff, 0) << name << ": the head must train";
    } else if (name.find("running_mean") != std::string::npos || name.find("running_var") != std::string::npos) {
      EXPECT_GT(diff, 0) << name << ": BatchNorm statistics must keep updating";
    } else if (name.find("num_batches_tracked") == std::string::npos) {
      EXPECT_EQ(diff, 0) << name << ": frozen during linear_init";
      ++frozen_checked;
    }
  }
  EXPECT_GT(frozen_checked, 40);
  // Adam: the backbone's state has not started, the head's has (one step per batch).
  EXPECT_EQ(saved.at("optim.backbone.0.step").item(), 0);
  EXPECT_EQ(saved.at("optim.head.0.step").item(), double(steps));
}

// Runs `config` interrupted at the given stop calls (global step counts) and resumed until it finishes.
TrainOutcome run_with_interruptions(const TrainConfig& config, const std::vector<int>& stop_at) {
  std::size_t next = 0;
  int calls = 0;
  TrainCallbacks cb = quiet();
  cb.stop_requested = [&] { return next < stop_at.size() && ++calls == stop_at[next]; };
  TrainOutcome outcome = run_training(config, false, cb);
  while (outcome.interrupted) {
    ++next;
    calls = 0;
    outcome = run_training(config, true, cb);
  }
  EXPECT_EQ(next, stop_at.size());
  return outcome;
}

void expect_same_trajectory(const TrainConfig& a, const TrainOutcome& ra, const TrainConfig& b,
                            const TrainOutcome& rb) {
  ASSERT_EQ(ra.history.size(), rb.history.size());
  for (std::size_t i = 0; i < ra.history.size(); ++i) {
    EXPECT_EQ(ra.history[i].train_loss, rb.history[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(ra.history[i].val_map, rb.history[i].val_map) << "epoch " << i + 1;
  }
  EXPECT_EQ(ra.test_map, rb.test_map);
  EXPECT_EQ(ra.best_epoch, rb.best_epoch);
  EXPECT_EQ(io::sha256_file_hex(a.out + "/test_probabilities.npy"),
            io::sha256_file_hex(b.out + "/test_probabilities.npy"));
  const io::SafetensorsFile wa = io::read_safetensors(a.out + "/best.safetensors");
  const io::SafetensorsFile wb = io::read_safetensors(b.out + "/best.safetensors");
  ASSERT_EQ(wa.tensors.size(), wb.tensors.size());
  for (const auto& [name, value] : wa.tensors) EXPECT_EQ(max_abs_diff(value, wb.tensors.at(name)), 0) << name;
}

TEST(TrainingTest, ResumeMidEpochEqualsUninterrupted) {
  TrainConfig a = toy_config(fresh_dir("resume_a"));
  a.epochs = 3;
  a.deterministic = true;
  const TrainOutcome uninterrupted = run_training(a, false, quiet());
  TrainConfig b = a;
  b.out = fresh_dir("resume_b");
  // Interrupt at step 5 of epoch 1, then 14 steps later (mid epoch 2), then after 16 more (end of epoch 2).
  const TrainOutcome resumed = run_with_interruptions(b, {5, 14, 13});
  expect_same_trajectory(a, uninterrupted, b, resumed);
  // metrics.csv: the same rows apart from the timing columns.
  auto loss_and_map_columns = [](const std::string& path) {
    std::istringstream in(io::read_text_file(path));
    std::string line, out;
    while (std::getline(in, line)) {
      const std::size_t third_comma = line.find(',', line.find(',', line.find(',') + 1) + 1);
      out += line.substr(0, third_comma) + "\n";
    }
    return out;
  };
  EXPECT_EQ(loss_and_map_columns(a.out + "/metrics.csv"), loss_and_map_columns(b.out + "/metrics.csv"));
  EXPECT_EQ(read_json(b.out + "/run.json")["resumed"].size(), 3u);
}

TEST(TrainingTest, ResumeWithRoleAndLinearInitEqualsUninterrupted) {
  TrainConfig a = toy_config(fresh_dir("resume_role_a"));
  a.loss = "role";
  a.epochs = 3;
  a.linear_init = 1;
  const TrainOutcome uninterrupted = run_training(a, false, quiet());
  TrainConfig b = a;
  b.out = fresh_dir("resume_role_b");
  const TrainOutcome resumed = run_with_interruptions(b, {3, 20});  // inside linear_init, then in epoch 2
  expect_same_trajectory(a, uninterrupted, b, resumed);
  // ROLE's label estimates are part of the checkpoint.
  EXPECT_TRUE(io::read_safetensors(b.out + "/last.ckpt").tensors.count("model.label_estimates"));
}

TEST(TrainingTest, NonFiniteLossStopsWithEpochStepAndLoss) {
  TrainConfig config = toy_config(fresh_dir("nan"));
  // Weights whose head bias is NaN: the first step's logits are NaN (the fused losses clamp probabilities, so
  // the check must look at the logits, not only at the loss value).
  auto net = make_model(config, 4);
  std::map<std::string, Tensor> weights = net->state_dict();
  weights["fc.bias"] = Tensor::full(weights["fc.bias"].shape(), std::nan(""));
  config.weights = config.out + "_weights.safetensors";
  io::write_safetensors(config.weights, weights);
  EXPECT_ERROR_CONTAINS(run_training(config, false, quiet()),
                        "training stopped: the gr loss (value nan) at epoch 1, step 1 of 16 (batch of 16 images, "
                        "dataset indices ",
                        " and 11 more, first image ", "no checkpoint was written yet");
  EXPECT_FALSE(fs::exists(config.out + "/last.ckpt"));
  // Skipping cannot rescue a network that is NaN everywhere: an epoch without one finite step stops the run.
  config.out = fresh_dir("nan_skip");
  config.on_nonfinite = "skip";
  std::vector<std::string> lines;
  TrainCallbacks cb = quiet();
  cb.log = [&](const std::string& line) { lines.push_back(line); };
  EXPECT_ERROR_CONTAINS(run_training(config, false, cb),
                        "training stopped: epoch 1 trained no image (16 non-finite steps and 0 bad images skipped)");
  int warnings = 0;
  for (const std::string& line : lines) warnings += line.rfind("WARNING: the gr loss (value nan) at epoch 1", 0) == 0;
  EXPECT_EQ(warnings, 16);
}

TEST(TrainingTest, ReluPropagatesNan) {  // as PyTorch: a diverged network must not turn NaN into 0
  const Tensor x = Tensor::from_vector<float>({std::nanf(""), -1.f, 2.f}, {3});
  const std::vector<float> y = relu(x).to_vector<float>();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 0.f);
  EXPECT_EQ(y[2], 2.f);
}

TEST(TrainingTest, CorruptRunFoldersGiveClearErrors) {
  const std::string missing = fresh_dir("missing");
  EXPECT_ERROR_CONTAINS(evaluate_run(missing, "test"), "config.json does not exist");
  TrainConfig config = toy_config(fresh_dir("corrupt"));
  config.epochs = 1;
  run_training(config, false, quiet());
  EXPECT_ERROR_CONTAINS(evaluate_run(config.out, "train"), "--split must be test or val");

  // Truncated best weights.
  const std::string best = config.out + "/best.safetensors";
  const std::vector<uint8_t> bytes = io::read_file(best);
  io::write_file_atomic(best, bytes.data(), 100);
  EXPECT_ERROR_CONTAINS(evaluate_run(config.out, "test"), "best.safetensors");

  // A checkpoint that is not a safetensors file.
  io::write_file_atomic(config.out + "/last.ckpt", std::string("not a checkpoint"));
  config.epochs = 2;
  EXPECT_ERROR_CONTAINS(run_training(config, true, quiet()), "last.ckpt");

  // Resuming with another learning rate is refused, naming the flag; epochs may grow.
  TrainConfig requested = config;
  requested.lr = 0.5;
  EXPECT_ERROR_CONTAINS(resume_config(config.out, requested, {"lr", "epochs"}), "--lr differ from the run's");
  EXPECT_EQ(resume_config(config.out, requested, {"epochs"}).epochs, 2);
  requested.on_nonfinite = "skip";
  requested.on_bad_image = "skip";
  const TrainConfig relaxed = resume_config(config.out, requested, {"on_nonfinite", "on_bad_image"});
  EXPECT_EQ(relaxed.on_nonfinite, "skip");
  EXPECT_EQ(relaxed.on_bad_image, "skip");
  requested.epochs = 0;
  EXPECT_ERROR_CONTAINS(resume_config(config.out, requested, {"epochs"}), "--epochs may only be raised");

  // A corrupt config.json names itself.
  io::write_file_atomic(config.out + "/config.json", std::string("{\"epochs\": "));
  EXPECT_ERROR_CONTAINS(evaluate_run(config.out, "test"), "config.json: not valid JSON");
}

TEST(TrainingTest, DataSetClassCountMustMatchTheDataSetName) {
  TrainConfig config = toy_config(fresh_dir("classes"));
  config.dataset = "voc";
  EXPECT_ERROR_CONTAINS(load_training_data(config, [](const std::string&) {}),
                        "holds 4 classes but --dataset voc has 20");
  config.dataset = "cub";
  config.data = fresh_dir("no_such_folder");
  EXPECT_ERROR_CONTAINS(load_training_data(config, [](const std::string&) {}), "is not a folder");
}

TEST(TrainingTest, MaxTrainKeepsTheFirstRows) {
  TrainConfig config = toy_config("unused");
  const data::MultiLabelDataset all = load_training_data(config, [](const std::string&) {});
  config.max_train = 40;
  const data::MultiLabelDataset cut = load_training_data(config, [](const std::string&) {});
  ASSERT_EQ(cut.train.size(), 40);
  EXPECT_EQ(cut.train.labels.size(0), 40);
  EXPECT_EQ(cut.train.image_paths[39], all.train.image_paths[39]);
  EXPECT_EQ(max_abs_diff(cut.train.observed, all.train.observed.slice(0, 40)), 0);
  EXPECT_EQ(cut.val.size(), all.val.size());
}

TEST(TrainConfigTest, ResolveLayersDefaultsThenTheConfigFileThenTheFlags) {
  const std::string dir = fresh_dir("resolve");
  fs::create_directories(dir);
  const std::string file = dir + "/config.json";
  io::write_file_atomic(file, R"({"dataset": "toy-shapes", "lr": 0.5, "epochs": 3})");
  TrainConfig flags;
  flags.lr = 0.25;
  flags.batch_size = 7;  // not given: must not apply
  const TrainConfig c = resolve_train_config(flags, {"lr"}, file);
  EXPECT_EQ(c.dataset, "toy-shapes");  // the file's data set picks the defaults
  EXPECT_EQ(c.epochs, 3);              // the file over the defaults
  EXPECT_EQ(c.lr, 0.25);               // the flag over the file
  EXPECT_EQ(c.batch_size, default_train_config("toy-shapes").batch_size);
  EXPECT_EQ(c.data, "data/toy-shapes");
  // A data set given as a flag picks the defaults even when the file names another.
  flags.dataset = "voc";
  const TrainConfig v = resolve_train_config(flags, {"dataset"}, file);
  EXPECT_EQ(v.dataset, "voc");
  EXPECT_EQ(v.image_size, default_train_config("voc").image_size);
  EXPECT_EQ(v.lr, 0.5);
  EXPECT_EQ(v.data, "");  // no default folder for the real data sets
  // No file: the defaults of fashion-mosaic, then the flags.
  const TrainConfig d = resolve_train_config(TrainConfig{}, {}, "");
  EXPECT_EQ(train_config_differences(d,
                                     [] {
                                       TrainConfig e = default_train_config("fashion-mosaic");
                                       e.data = "data/fashion-mosaic";
                                       return e;
                                     }()),
            std::vector<std::string>{});
  io::write_file_atomic(file, R"({"learning_rate": 0.5})");
  EXPECT_ERROR_CONTAINS(resolve_train_config(flags, {}, file), file.c_str(), "unknown key \"learning_rate\"");
}

TEST(RunFolderTest, AFreshRunRefusesAFolderWithARunAndResumeNeedsACheckpoint) {
  const std::string dir = fresh_dir("folder");
  const std::string checkpoint = dir + "/last.ckpt";
  EXPECT_ERROR_CONTAINS(RunFolder(dir, true), "--resume", checkpoint.c_str(), "does not exist");
  const TrainConfig config = toy_config(dir);
  {
    const RunFolder fresh(dir, /*resume=*/false);
    EXPECT_TRUE(fs::is_directory(dir));
    EXPECT_FALSE(fresh.has_checkpoint());
    // While one is open the folder is locked, against this process too (each opening is its own lock).
    const std::string in_use =
        dir + " is in use by another process (pid " + std::to_string(::getpid()) + " holds " + dir + "/.lock)";
    fresh.write_start(config, RunStartFacts{"cpu", "", "spml-train --out x"}, RunPosition{});
    EXPECT_ERROR_CONTAINS(RunFolder(dir, false), in_use.c_str());
    EXPECT_ERROR_CONTAINS(RunFolder(dir, true), in_use.c_str());
  }
  EXPECT_ERROR_CONTAINS(RunFolder(dir, false), "already holds a run");
  // A run stopped before its first checkpoint (config.json, no last.ckpt) resumes from the start.
  EXPECT_TRUE(RunFolder(dir, true).starts_over());
  const nlohmann::json record = read_json(dir + "/run.json");
  EXPECT_EQ(record["command"], "spml-train --out x");
  EXPECT_EQ(record["random_init"], true);
  EXPECT_EQ(record["resumed"].size(), 0u);
  EXPECT_EQ(record["skipped_images"]["total"], 0);
  EXPECT_EQ(record["skipped_steps"]["per_epoch"], nlohmann::json::array());
  EXPECT_EQ(train_config_from_json(io::read_text_file(dir + "/config.json"), "config.json", TrainConfig{}).out, dir);
}

TEST(RunFolderTest, OpeningAFolderRemovesTheTempFilesOfDeadWriters) {
  const std::string dir = fresh_dir("stale");
  fs::create_directories(dir);
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  const std::string stale = dir + "/last.ckpt.tmp." + std::to_string(child);
  io::write_file_atomic(stale, std::string("half a checkpoint"));
  const RunFolder folder(dir, false);
  EXPECT_EQ(folder.removed_temp_files(), std::vector<std::string>{stale});
  EXPECT_FALSE(fs::exists(stale));
}

TEST(RunFolderTest, RunJsonCountsTheSkipsOfEveryEpoch) {
  const std::string dir = fresh_dir("counts");
  const RunFolder folder(dir, false);
  folder.write_start(toy_config(dir), RunStartFacts{"cpu", "", "x"}, RunPosition{});
  std::vector<EpochRecord> history(3);
  history[0].skipped_images = 2;
  history[1].skipped_steps = 1;
  history[2].skipped_images = 3;
  folder.write_run_counts(history);
  const nlohmann::json record = read_json(dir + "/run.json");
  EXPECT_EQ(record["skipped_images"]["total"], 5);
  EXPECT_EQ(record["skipped_images"]["per_epoch"], nlohmann::json::array({2, 0, 3}));
  EXPECT_EQ(record["skipped_steps"]["total"], 1);
  EXPECT_EQ(record["skipped_steps"]["per_epoch"], nlohmann::json::array({0, 1, 0}));
  EXPECT_EQ(record["command"], "x");  // the rest of the record stays
}

TEST(RunFolderTest, PositionRoundTripsAndCorruptMetadataNamesTheFile) {
  RunPosition p;
  p.next_epoch = 3;
  p.next_step = 5;
  p.loss_sum = 12.5;
  p.loss_images = 80;
  p.train_seconds = 1.25;
  p.phases.forward = 0.5;
  p.skipped_images = 4;
  p.skipped_steps = 1;
  p.best_epoch = 2;
  p.best_val_map = 61.5;
  for (int e = 1; e <= 2; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.train_loss = 0.1 * e;
    r.val_map = 60 + e;
    r.skipped_images = e;
    p.history.push_back(r);
  }
  const TrainConfig config = toy_config("x");
  const RunPosition q = run_position_from_json(run_position_to_json(p, config), "last.ckpt");
  EXPECT_EQ(q.next_epoch, 3);
  EXPECT_EQ(q.next_step, 5);
  EXPECT_EQ(q.loss_sum, 12.5);
  EXPECT_EQ(q.loss_images, 80);
  EXPECT_EQ(q.phases.forward, 0.5);
  EXPECT_EQ(q.best_val_map, 61.5);
  ASSERT_EQ(q.history.size(), 2u);
  EXPECT_EQ(q.history[1].val_map, 62);
  EXPECT_EQ(q.history[1].skipped_images, 2);
  EXPECT_EQ(q.skipped_images, 4);
  EXPECT_EQ(q.skipped_steps, 1);
  EXPECT_EQ(run_position_to_json(q, config), run_position_to_json(p, config));
  EXPECT_ERROR_CONTAINS(run_position_from_json("{\"format\": \"other\"}", "run/last.ckpt"), "run/last.ckpt",
                        "not a spml-train checkpoint");
  p.history.pop_back();  // two epochs done need two records
  EXPECT_ERROR_CONTAINS(run_position_from_json(run_position_to_json(p, config), "run/last.ckpt"),
                        "inconsistent position");
}

TEST(TrainingRunTest, AnEpochStoppedMidwayResumesAtItsStepAndFinishes) {
  TrainConfig config = toy_config(fresh_dir("run_pieces"));
  config.epochs = 1;
  int polls = 0;
  TrainCallbacks cb = quiet();
  cb.stop_requested = [&] { return ++polls == 3; };
  {
    TrainingRun run(config, false, cb);
    EXPECT_ERROR_CONTAINS(run.finish(), "no best checkpoint");
    EXPECT_EQ(run.next_epoch(), 1);
    EXPECT_FALSE(run.train_epoch(1));
    EXPECT_EQ(run.position().next_step, 3);
    EXPECT_EQ(run.position().loss_images, 3 * config.batch_size);
    EXPECT_TRUE(run.folder().has_checkpoint());
    EXPECT_TRUE(run.interrupted("at step 3").interrupted);
  }
  TrainingRun resumed(config, true, quiet());
  EXPECT_EQ(resumed.position().next_step, 3);
  EXPECT_FALSE(resumed.done());
  EXPECT_ERROR_CONTAINS(resumed.train_epoch(2), "epoch 2 asked", "at epoch 1");
  EXPECT_TRUE(resumed.train_epoch(1));
  EXPECT_EQ(resumed.position().loss_images, resumed.dataset().train.size());
  const EpochRecord& record = resumed.end_epoch(1);
  EXPECT_EQ(record.epoch, 1);
  EXPECT_TRUE(std::isfinite(record.train_loss));
  EXPECT_TRUE(resumed.done());
  EXPECT_EQ(resumed.position().best_epoch, 1);
  EXPECT_TRUE(fs::exists(config.out + "/best.safetensors"));
  EXPECT_EQ(read_json(config.out + "/run.json")["resumed"].size(), 1u);
  const TrainOutcome outcome = resumed.finish();
  EXPECT_EQ(read_json(config.out + "/test.json")["test_mAP"].get<double>(), outcome.test_map);
  EXPECT_EQ(outcome.epochs_run, 1);
}

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(io::sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(io::sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string long_text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(io::sha256_hex(long_text.data(), long_text.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// On the CPU the phases are host times and the device clock refuses to start an interval.
TEST(PhaseTimingTest, CpuPhasesAreHostTimes) {
  cuda_runtime::DeviceIntervals clock(Device::cpu());
  EXPECT_FALSE(clock.on_device());
  EXPECT_ERROR_CONTAINS(clock.begin(), "time on the host instead");
  double total = 0;
  {
    PhaseTimer phase("sleep", total, &clock);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(total, 0.019);
  clock.collect(true);  // nothing pending on the CPU
  EXPECT_EQ(clock.pending(), 0u);
}

// On CUDA the step's phases are device times (CUDA events), collected without a sync per step: after
// finish_phase_times every phase has time, and together they fit inside the wall time of the steps.
TEST(PhaseTimingTest, CudaStepPhasesAreDeviceTimesWithinTheWallTime) {
  SPML_SKIP_WITHOUT_CUDA();
  TrainConfig config = toy_config("/tmp/unused");
  config.width = 8;
  auto net = make_model(config, 5);
  net->to(Device::cuda());
  const int64_t batch_size = 4;
  TrainingStep step(config, net, Tensor::zeros({batch_size, 5}), Device::cuda());
  step.begin_epoch(1);
  data::Batch batch;
  batch.images = Tensor::empty({batch_size, 3, 64, 64});
  batch.images.uniform_(-1, 1, 3);
  batch.images = batch.images.to(Device::cuda());
  std::vector<float> observed(std::size_t(batch_size * 5), 0.f);
  for (int64_t i = 0; i < batch_size; ++i) observed[std::size_t(i * 5 + i % 5)] = 1.f;
  batch.observed = Tensor::from_vector(observed, {batch_size, 5}).to(Device::cuda());
  batch.labels = batch.observed;
  batch.indices = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {batch_size});
  PhaseSeconds phases;
  cuda_runtime::synchronize(0);
  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(step.run(batch, phases).finite());
  step.finish_phase_times();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(phases.forward, 0);
  EXPECT_GT(phases.loss, 0);
  EXPECT_GT(phases.backward, 0);
  EXPECT_GT(phases.optimizer, 0);
  EXPECT_LE(phases.forward + phases.loss + phases.backward + phases.optimizer, wall * 1.01 + 1e-4);
}

}  // namespace
}  // namespace spml::training
