// The training trajectory against PyTorch: tests/data/trajectory (scripts/make_trajectory_golden.py) holds a tiny
// data set, an order file (every epoch's order and flips), a width-8 ResNet-18's initial weights and what PyTorch
// computed running the SPML protocol on them. Each test runs the same configuration through run_training, the code
// path of spml-train (loader, TrainingStep, GR's schedule, both Adam groups, linear_init, best-val selection, early
// stop, test evaluation), and compares every step's loss, each epoch's val mAP, the final parameters, BatchNorm
// statistics and Adam moments (from last.ckpt), the step counts, and the eval-mode probabilities of the final and
// of the best weights. float64 runs agree to ~1e-14 (bounds 1e-11); float32 runs to what float32 rounding allows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/io/file.h"
#include "framework/io/safetensors.h"
#include "training/trainer.h"

namespace spml::training {
namespace {

namespace fs = std::filesystem;

const std::string kGoldenDir = std::string(SPML_TEST_DATA_DIR) + "/trajectory";

struct Tolerances {
  double loss;         // |project - torch| per step loss (absolute; the losses are ~0.4-0.8)
  double state;        // per tensor: max |difference| over the sample / max |torch value| of the sample
  double norm;         // per tensor: relative difference of the L2 norms over all elements
  double probability;  // |difference| per eval-mode probability
  double map;          // |difference| of a val / test mAP (percent)
};

// float64: each op differs from PyTorch only in summation order (unit roundoff 1.1e-16); over these 24 steps the
// measured worst differences are 1.4e-15 (loss), 6e-14 (state, per tensor relative to its largest element), 2e-14
// (norms) and 0 (probabilities). The bounds sit ~100x above that: a difference of formula (a wrong schedule, lr,
// momentum, BN statistic or flip) shows at 1e-4 and up, so any such bug fails by eight orders of magnitude.
constexpr Tolerances kFloat64{1e-12, 1e-11, 1e-11, 1e-12, 1e-9};
// float32: the same amplification applied to float32's unit roundoff 6e-8 (measured: loss 6.6e-7, state 3.3e-5,
// norms 1.3e-5, probabilities 1.3e-6), with ~15-30x margin for other CPUs' kernels (AVX2 vs AVX-512 GEMM and
// convolution blocking round differently). mAP is a rank statistic: a probability difference of 1e-6 can swap two
// nearly tied scores, so float32 mAPs get half a point (a real bug moves them by points).
constexpr Tolerances kFloat32{1e-5, 1e-3, 5e-4, 2e-5, 0.5};
struct Case {
  std::string name;  // gr, an, gr_linear_init
  std::string loss;
  int epochs;
  int linear_init;
};

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/spml_trajectory_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

double scalar(const Tensor& t) {
  return t.to(DType::Float64).to_vector<double>().at(0);
}

std::vector<double> values(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::Float64).reshape({t.numel()}).to_vector<double>();
}

// The golden files' sample of a flattened tensor: 64 elements at a stride of max(1, n / 64).
std::vector<double> strided_sample(const Tensor& t) {
  const std::vector<double> all = values(t);
  const std::size_t n = all.size(), stride = std::max<std::size_t>(1, n / 64);
  std::vector<double> out;
  for (std::size_t i = 0; i < n && out.size() < 64; i += stride) out.push_back(all[i]);
  return out;
}

double l2_norm(const Tensor& t) {
  double s = 0;
  for (double v : values(t)) s += v * v;
  return std::sqrt(s);
}

struct Worst {
  double value = 0;
  std::string where;
  void update(double v, const std::string& w) {
    if (!(v <= value)) {  // NaN counts as the worst
      value = v;
      where = w;
    }
  }
};

void run_case(const Case& c, const std::string& dtype, const Tolerances& tol) {
  const io::SafetensorsFile golden = io::read_safetensors(kGoldenDir + "/" + c.name + "_" + dtype + ".safetensors");
  const auto g = [&](const std::string& key) -> const Tensor& {
    const auto it = golden.tensors.find(key);
    if (it == golden.tensors.end()) throw std::runtime_error("golden file lacks " + key);
    return it->second;
  };

  TrainConfig config = default_train_config("toy-shapes");
  config.data = kGoldenDir + "/data";
  config.weights = kGoldenDir + "/init.safetensors";
  config.order_file = kGoldenDir + "/order.json";
  config.out = fresh_dir(c.name + "_" + dtype);
  config.width = 8;
  config.loss = c.loss;
  config.epochs = c.epochs;
  config.linear_init = c.linear_init;
  config.batch_size = 16;
  config.lr = 3e-4;
  config.lr_mult = 10;
  config.image_size = 32;
  config.dtype = dtype;
  config.workers = 1;

  std::vector<double> step_losses;
  TrainCallbacks callbacks;
  callbacks.log = [](const std::string&) {};
  callbacks.progress_on_tty = false;
  callbacks.on_step = [&](int, int64_t, double loss) { step_losses.push_back(loss); };
  const TrainOutcome outcome = run_training(config, /*resume=*/false, callbacks);

  // Per-step losses.
  const std::vector<double> torch_losses = values(g("step_loss"));
  ASSERT_EQ(step_losses.size(), torch_losses.size()) << "steps run";
  Worst loss;
  for (std::size_t i = 0; i < step_losses.size(); ++i)
    loss.update(std::fabs(step_losses[i] - torch_losses[i]), "step " + std::to_string(i + 1));
  EXPECT_LE(loss.value, tol.loss) << "per-step loss, worst at " << loss.where;

  // Protocol decisions: val mAP per epoch, the best epoch, the test mAP of the best weights.
  const std::vector<double> torch_val = values(g("val_map"));
  ASSERT_EQ(outcome.history.size(), torch_val.size()) << "epochs run";
  Worst val;
  for (std::size_t e = 0; e < torch_val.size(); ++e)
    val.update(std::fabs(outcome.history[e].val_map - torch_val[e]), "epoch " + std::to_string(e + 1));
  EXPECT_LE(val.value, tol.map) << "val mAP, worst at " << val.where;
  EXPECT_EQ(outcome.best_epoch, int(scalar(g("best_epoch"))));
  EXPECT_NEAR(outcome.test_map, scalar(g("test_map")), tol.map);

  // Final state: parameters, BN running statistics, Adam moments and step counts, as last.ckpt holds them.
  const io::SafetensorsFile ckpt = io::read_safetensors(config.out + "/last.ckpt");
  Worst state, norm;
  int compared = 0;
  for (const auto& [key, torch_sample] : golden.tensors) {
    const std::string suffix = ":sample";
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string name = key.substr(0, key.size() - suffix.size());
    const auto it = ckpt.tensors.find(name);
    ASSERT_NE(it, ckpt.tensors.end()) << "last.ckpt lacks " << name;
    const std::vector<double> ours = strided_sample(it->second), theirs = values(torch_sample);
    ASSERT_EQ(ours.size(), theirs.size()) << name;
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      scale = std::max(scale, std::fabs(theirs[i]));
      diff = std::max(diff, std::fabs(ours[i] - theirs[i]));
    }
    state.update(scale > 0 ? diff / scale : diff, name);
    const double torch_norm = scalar(g(name + ":norm"));
    norm.update(std::fabs(l2_norm(it->second) - torch_norm) / std::max(torch_norm, 1e-300), name);
    ++compared;
  }
  EXPECT_GT(compared, 100) << "tensors compared";
  EXPECT_LE(state.value, tol.state) << "final state (max |diff| / max |value| per tensor), worst: " << state.where;
  EXPECT_LE(norm.value, tol.norm) << "final state norms, worst: " << norm.where;
  int steps_compared = 0;
  for (const auto& [key, t] : golden.tensors) {
    if (key.rfind("optim.", 0) != 0 || key.size() < 5 || key.compare(key.size() - 5, 5, ".step") != 0) continue;
    const auto it = ckpt.tensors.find(key);
    ASSERT_NE(it, ckpt.tensors.end()) << "last.ckpt lacks " << key;
    EXPECT_EQ(int64_t(scalar(it->second)), int64_t(scalar(t))) << key;
    ++steps_compared;
  }
  EXPECT_GT(steps_compared, 50);

  // Eval-mode probabilities on the test split: the final weights (last.ckpt) and the best ones (test_probabilities).
  const data::MultiLabelDataset dataset = load_training_data(config, [](const std::string&) {});
  std::shared_ptr<models::ResNet> net = make_model(config, dataset.num_classes());
  std::map<std::string, Tensor> weights;
  for (const auto& [key, t] : ckpt.tensors)
    if (key.rfind("model.net.", 0) == 0) weights[key.substr(10)] = t;
  net->load_state_dict(weights, /*strict=*/true);
  const SplitEvaluation final_eval = evaluate_split(*net, dataset.test, dataset.image_root, config, Device::cpu());
  const std::vector<double> final_ours = values(final_eval.probabilities),
                            final_torch = values(g("final_probabilities"));
  ASSERT_EQ(final_ours.size(), final_torch.size());
  Worst prob;
  for (std::size_t i = 0; i < final_ours.size(); ++i)
    prob.update(std::fabs(final_ours[i] - final_torch[i]), "final, entry " + std::to_string(i));
  const io::SafetensorsFile best_file = io::read_safetensors(config.out + "/best.safetensors");
  std::shared_ptr<models::ResNet> best_net = make_model(config, dataset.num_classes());
  best_net->load_state_dict(best_file.tensors, /*strict=*/true);
  const SplitEvaluation best_eval = evaluate_split(*best_net, dataset.test, dataset.image_root, config, Device::cpu());
  const std::vector<double> best_ours = values(best_eval.probabilities), best_torch = values(g("best_probabilities"));
  ASSERT_EQ(best_ours.size(), best_torch.size());
  for (std::size_t i = 0; i < best_ours.size(); ++i)
    prob.update(std::fabs(best_ours[i] - best_torch[i]), "best, entry " + std::to_string(i));
  EXPECT_LE(prob.value, tol.probability) << "eval probabilities, worst: " << prob.where;

  std::printf(
      "[trajectory] %s %s: %zu steps; worst loss diff %.3g (%s), state %.3g (%s), norm %.3g (%s), "
      "probability %.3g (%s), val mAP %.3g\n",
      c.name.c_str(), dtype.c_str(), step_losses.size(), loss.value, loss.where.c_str(), state.value,
      state.where.c_str(), norm.value, norm.where.c_str(), prob.value, prob.where.c_str(), val.value);
  fs::remove_all(config.out);
}

const Case kGr{"gr", "gr", 6, 0};
const Case kAn{"an", "an", 3, 0};
const Case kGrLinearInit{"gr_linear_init", "gr", 3, 1};

TEST(TrajectoryTest, GrFloat64MatchesPyTorch) {
  run_case(kGr, "float64", kFloat64);
}
TEST(TrajectoryTest, GrFloat32MatchesPyTorch) {
  run_case(kGr, "float32", kFloat32);
}
TEST(TrajectoryTest, AnFloat64MatchesPyTorch) {
  run_case(kAn, "float64", kFloat64);
}
TEST(TrajectoryTest, AnFloat32MatchesPyTorch) {
  run_case(kAn, "float32", kFloat32);
}
TEST(TrajectoryTest, LinearInitFloat64MatchesPyTorch) {
  run_case(kGrLinearInit, "float64", kFloat64);
}
TEST(TrajectoryTest, LinearInitFloat32MatchesPyTorch) {
  run_case(kGrLinearInit, "float32", kFloat32);
}

}  // namespace
}  // namespace spml::training
