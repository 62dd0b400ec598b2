// Cole et al.'s training modes (docs/method.md section 7.2): linear-fixed-features (the head alone on cached pooled
// features: the cache's key and reuse, the backbone left as loaded, the same mAP from the images as from the
// features, every loss, resume) and the two-stage linear-init (stage folders, stage 2 from stage 1's best weights and
// ROLE estimates, the combined test.json, a finished run resumed does nothing).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/data/builders/toy_shapes.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/safetensors.h"
#include "test_util.h"
#include "training/feature_cache.h"
#include "training/trainer.h"

namespace spml {
namespace {
namespace fs = std::filesystem;
using training::TrainConfig;
using json = nlohmann::json;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/spml_linear_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

const std::string& toy_data() {
  static const std::string dir = [] {
    const std::string d = fresh_dir("toy_data");
    data::build_toy_shapes(d, 160, 64, 32, 3);
    return d;
  }();
  return dir;
}

TrainConfig linear_config(const std::string& out, const std::string& loss = "gr") {
  TrainConfig c = training::default_train_config("toy-shapes", loss, "linear-fixed-features");
  c.data = toy_data();
  c.out = out;
  c.width = 8;
  c.image_size = 16;
  c.epochs = 6;
  c.batch_size = 16;
  c.lr = 1e-2;
  c.threads = 0;
  return c;
}

training::TrainCallbacks logging_into(std::vector<std::string>* lines) {
  training::TrainCallbacks cb;
  cb.log = [lines](const std::string& line) {
    if (lines) lines->push_back(line);
  };
  cb.progress_on_tty = false;
  return cb;
}

bool any_line_contains(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& l : lines)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

json read_json(const std::string& path) {
  return json::parse(io::read_text_file(path));
}

TEST(LinearFixedFeatures, DefaultsTo25EpochsAndValidatesTheMode) {
  EXPECT_EQ(training::default_train_config("voc", "gr", "linear-fixed-features").epochs, 25);
  EXPECT_EQ(training::default_train_config("voc").epochs, 8);
  TrainConfig c = linear_config("/tmp/unused");
  c.mode = "linear";
  EXPECT_ERROR_CONTAINS(training::validate_train_config(c), "--mode must be end-to-end, linear-fixed-features");
  c.mode = "linear-fixed-features";
  c.linear_init = 1;
  EXPECT_ERROR_CONTAINS(training::validate_train_config(c), "--linear-init (GR's frozen-backbone epochs) applies");
}

TEST(LinearFixedFeatures, TrainsTheHeadOnCachedFeaturesAndLeavesTheBackbone) {
  const std::string run = fresh_dir("lff"), again = fresh_dir("lff_again");
  std::vector<std::string> log;
  const training::TrainOutcome first = training::run_training(linear_config(run), false, logging_into(&log));
  EXPECT_TRUE(any_line_contains(log, "features: train extracted")) << "the first run extracts";
  EXPECT_GT(first.test_map, 35.0);  // above what an untrained head scores on 4 classes

  // The cache: one .npy and one key file per split, named by the backbone's key.
  const TrainConfig c = linear_config(run);
  const std::string train_cache = training::feature_cache_path(c, training::backbone_key(c, ""), "train");
  ASSERT_TRUE(fs::exists(train_cache)) << train_cache;
  EXPECT_EQ(read_json(train_cache + ".json").at("backbone"), "random-init:0");
  EXPECT_EQ(io::read_npy_tensor(train_cache).shape(), (Shape{128, 64}));  // 160 rows -> 128 train; ResNet-18 w8: 64

  // A second run reads the cache and gives the same result bit for bit.
  log.clear();
  const training::TrainOutcome second = training::run_training(linear_config(again), false, logging_into(&log));
  EXPECT_TRUE(any_line_contains(log, "features: train from the cache")) << "the second run reuses";
  EXPECT_EQ(second.test_map, first.test_map);
  EXPECT_EQ(second.best_val_map, first.best_val_map);

  // Only the head moved: the backbone in best.safetensors is the random init of the seed.
  const auto init = training::make_model(c, 4)->state_dict();
  const io::SafetensorsFile best = io::read_safetensors(run + "/best.safetensors");
  int compared = 0;
  for (const auto& [key, value] : init) {
    if (key.rfind("fc.", 0) == 0) continue;
    ASSERT_TRUE(best.tensors.count(key)) << key;
    EXPECT_EQ(max_abs_diff(best.tensors.at(key), value), 0.0) << key;
    ++compared;
  }
  EXPECT_GT(compared, 50);
  EXPECT_GT(max_abs_diff(best.tensors.at("fc.weight"), init.at("fc.weight")), 0.0);

  // The best weights evaluated from the images give the mAP the features gave.
  const training::SplitEvaluation from_images = training::evaluate_run(run, "test");
  EXPECT_NEAR(from_images.map.map_percent, first.test_map, 1e-9);
}

TEST(LinearFixedFeatures, AMismatchedCacheKeyIsAClearError) {
  const std::string cache = fresh_dir("bad_cache");
  TrainConfig c = linear_config(fresh_dir("bad_cache_run"));
  c.feature_cache = cache;
  c.epochs = 1;
  training::run_training(c, false, logging_into(nullptr));
  const std::string sidecar = training::feature_cache_path(c, training::backbone_key(c, ""), "val") + ".json";
  json key = read_json(sidecar);
  key["rows"] = 7;
  io::write_file_atomic(sidecar, key.dump());
  c.out = fresh_dir("bad_cache_run2");
  EXPECT_ERROR_CONTAINS(training::run_training(c, false, logging_into(nullptr)), "was made for");
}

TEST(LinearFixedFeatures, EveryKindOfLossTrainsInThisMode) {
  for (const std::string loss : {"role", "em_apl", "ll_cp", "an"}) {
    TrainConfig c = linear_config(fresh_dir("loss_" + loss), loss);
    c.epochs = 3;
    c.early_stop_drop = 100;
    const training::TrainOutcome o = training::run_training(c, false, logging_into(nullptr));
    EXPECT_EQ(o.epochs_run, 3) << loss;
    EXPECT_GT(o.test_map, 25.0) << loss;
    if (loss == "role") {
      EXPECT_TRUE(fs::exists(c.out + "/best_label_estimates.npy"));
    }
  }
}

TEST(LinearFixedFeatures, AStoppedRunResumesToTheSameResult) {
  const TrainConfig whole = linear_config(fresh_dir("resume_whole"));
  const training::TrainOutcome reference = training::run_training(whole, false, logging_into(nullptr));
  TrainConfig c = linear_config(fresh_dir("resume_parts"));
  training::TrainCallbacks stop = logging_into(nullptr);
  int steps = 0;
  stop.stop_requested = [&steps] { return ++steps == 13; };  // mid-epoch 2 (8 steps per epoch)
  ASSERT_TRUE(training::run_training(c, false, stop).interrupted);
  const training::TrainOutcome resumed = training::run_training(c, true, logging_into(nullptr));
  EXPECT_EQ(resumed.test_map, reference.test_map);
  EXPECT_EQ(resumed.best_epoch, reference.best_epoch);
  EXPECT_EQ(test::read_text(c.out + "/test_probabilities.npy"), test::read_text(whole.out + "/test_probabilities.npy"));
}

TEST(LinearInit, TwoStagesWithTheBestHeadAndRoleEstimatesCarriedOver) {
  TrainConfig c = linear_config(fresh_dir("two_stage"), "role");
  c.mode = "linear-init";
  c.stage1_epochs = 3;
  c.epochs = 2;
  std::vector<std::string> log;
  const training::TrainOutcome o = training::run_training(c, false, logging_into(&log));
  ASSERT_FALSE(o.interrupted);
  const json stage1 = read_json(c.out + "/stage1/config.json"), stage2 = read_json(c.out + "/stage2/config.json");
  EXPECT_EQ(stage1.at("mode"), "linear-fixed-features");
  EXPECT_EQ(stage1.at("epochs"), 3);
  EXPECT_EQ(stage2.at("mode"), "end-to-end");
  EXPECT_EQ(stage2.at("epochs"), 2);
  EXPECT_EQ(stage2.at("weights"), c.out + "/stage1/best.safetensors");
  EXPECT_EQ(stage2.at("role_init"), c.out + "/stage1/best_label_estimates.npy");
  const json top = read_json(c.out + "/test.json");
  EXPECT_EQ(top.at("mode"), "linear-init");
  EXPECT_EQ(top.at("test_mAP"), read_json(c.out + "/stage2/test.json").at("test_mAP"));
  EXPECT_EQ(top.at("stage1").at("test_mAP"), read_json(c.out + "/stage1/test.json").at("test_mAP"));
  EXPECT_EQ(o.test_map, top.at("test_mAP").get<double>());
  // Stage 2 starts from stage 1's best weights, head included.
  EXPECT_TRUE(any_line_contains(log, "best.safetensors (sha256 "));
  EXPECT_TRUE(any_line_contains(log, "head loaded too"));
  // The run's weights are stage 2's; a finished run resumed trains nothing.
  EXPECT_NEAR(training::evaluate_run(c.out, "test").map.map_percent, o.test_map, 1e-9);
  log.clear();
  const training::TrainOutcome again = training::run_training(c, true, logging_into(&log));
  EXPECT_TRUE(any_line_contains(log, "stage 1 (linear-fixed-features) finished already"));
  EXPECT_TRUE(any_line_contains(log, "stage 2 (end to end) finished already"));
  EXPECT_EQ(again.test_map, o.test_map);
  EXPECT_ERROR_CONTAINS(training::run_training(c, false, logging_into(nullptr)), "already holds a run");
}

}  // namespace
}  // namespace spml
