// Crash consistency of spml-train (docs/reliability.md), on the real binary with the test-only fault hook
// (SPML_FAULT, framework/core/fault_injection.h): SIGKILL mid-epoch, during a checkpoint write, during validation
// and during the final test evaluation, and SIGINT at an exact step, each followed by --resume, must end with the
// uninterrupted run's results bit for bit (times aside); the run folder must be readable right after the kill.
// Also: the folder lock, a full disk (injected ENOSPC / EIO, and a real EFBIG from RLIMIT_FSIZE), bad images
// (--on-bad-image) and NaN batches (--on-nonfinite), and io::write_file_atomic's own failure handling.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "framework/data/builders/toy_shapes.h"
#include "framework/data/loader.h"
#include "framework/data/preformatted.h"
#include "framework/image/image.h"
#include "framework/image/image_write.h"
#include "framework/io/checkpoint.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/safetensors.h"
#include "test_util.h"
#include "training/run_folder.h"
#include "training/train_config.h"
#include "training/train_step.h"
#include "training/trainer.h"

extern char** environ;

namespace spml {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The toy run: 120 rows -> 96 train / 24 val, 40 test; batch 8: 12 steps per epoch, 3 validation batches, 5 test
// batches.
// Seed 1 runs all 3 epochs with its best at epoch 2 (so best.safetensors is not simply the last weights).
constexpr int kStepsPerEpoch = 12, kValBatches = 3, kTestBatches = 5, kEpochs = 3, kSeed = 1;

std::string bin(const char* app) {
  return std::string(SPML_BIN_DIR) + "/" + app;
}

// How a child process ended, and what it wrote (stdout and stderr together).
struct Exit {
  bool signaled = false;
  int signal = 0;
  int code = -1;
  std::string log;
};

// Starts argv with this process's environment minus SPML_FAULT*, plus `env` ("NAME=value"); stdout and stderr go
// to log_path.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& log_path) {
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("SPML_FAULT", 0) != 0 && entry.rfind("OMP_WAIT_POLICY=", 0) != 0) environment.push_back(entry);
  }
  environment.push_back("OMP_WAIT_POLICY=passive");  // spml-train would otherwise re-execute itself to set it
  environment.insert(environment.end(), env.begin(), env.end());
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

Exit wait_for(pid_t pid, const std::string& log_path) {
  Exit e;
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid) {
    e.signaled = WIFSIGNALED(status);
    e.signal = e.signaled ? WTERMSIG(status) : 0;
    e.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  e.log = test::read_text(log_path);
  return e;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The keys that hold wall-clock time: left out of the comparisons.
const std::set<std::string>& time_keys() {
  static const std::set<std::string> keys = {"seconds",      "images_per_s",  "phase_seconds", "train_seconds",
                                             "test_seconds", "seconds_total", "started",       "resumed"};
  return keys;
}

json without_times(const json& j) {
  if (j.is_object()) {
    json out = json::object();
    for (const auto& item : j.items())
      if (!time_keys().count(item.key())) out[item.key()] = without_times(item.value());
    return out;
  }
  if (j.is_array()) {
    json out = json::array();
    for (const json& v : j) out.push_back(without_times(v));
    return out;
  }
  return j;
}

json read_json(const std::string& path) {
  return json::parse(io::read_text_file(path));
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::istringstream in(io::read_text_file(path));
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

// metrics.csv without its two time columns (seconds, images_per_s).
std::string csv_without_times(const std::string& path) {
  std::istringstream in(io::read_text_file(path));
  std::string out;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    if (cells.size() != 5) return "bad row: " + line;
    out += cells[0] + "," + cells[1] + "," + cells[2] + "\n";
  }
  return out;
}

void expect_same_bytes(const std::string& a, const std::string& b) {
  const std::vector<uint8_t> x = io::read_file(a), y = io::read_file(b);
  ASSERT_EQ(x.size(), y.size()) << a << " vs " << b;
  const auto diff = std::mismatch(x.begin(), x.end(), y.begin());
  EXPECT_TRUE(diff.first == x.end()) << a << " and " << b << " differ first at byte " << (diff.first - x.begin());
}

bool is_temp_file(const std::string& name) {
  const std::size_t at = name.rfind(".tmp.");
  return at != std::string::npos && at > 0 && name.size() > at + 5 &&
         name.find_first_not_of("0123456789", at + 5) == std::string::npos;
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (is_temp_file(entry.path().filename().string())) names.push_back(entry.path().filename().string());
  return names;
}

// Loads RUNDIR/last.ckpt strictly into the run's model and optimizer, as --resume does; returns its position.
training::RunPosition load_last_checkpoint(const std::string& run) {
  const training::TrainConfig config = training::train_config_from_json(io::read_text_file(run + "/config.json"),
                                                                        run + "/config.json", training::TrainConfig{});
  auto net = training::make_model(config, 4);
  training::TrainingStep step(config, net, Tensor::zeros({96, 4}), Device::cpu());
  return training::run_position_from_json(io::load_checkpoint(run + "/last.ckpt", step.state(), step.optimizer()),
                                          run + "/last.ckpt");
}

// Every file of the folder is whole: each one under a final name parses (config.json, run.json, the metrics,
// last.ckpt loads, ...); the only other files are .lock and temp files "<name>.tmp.<pid>", which are returned.
std::vector<std::string> expect_folder_readable(const std::string& run) {
  std::vector<std::string> temps;
  for (const auto& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string(), path = entry.path().string();
    if (is_temp_file(name)) {
      temps.push_back(name);
      continue;
    }
    try {
      if (name == "config.json") {
        training::train_config_from_json(io::read_text_file(path), path, training::TrainConfig{});
      } else if (name == "run.json" || name == "test.json") {
        EXPECT_TRUE(read_json(path).is_object()) << path;
      } else if (name == "metrics.jsonl") {
        read_jsonl(path);  // every line parses (metrics.csv is its own file: after a failed write it may be ahead)
      } else if (name == "metrics.csv") {
        EXPECT_EQ(csv_without_times(path).rfind("epoch,train_loss,val_mAP\n", 0), 0u) << path;
      } else if (name == "best.safetensors") {
        EXPECT_TRUE(io::read_safetensors(path).tensors.count("fc.weight")) << path;
      } else if (name == "last.ckpt") {
        load_last_checkpoint(run);
      } else if (name == "test_probabilities.npy") {
        EXPECT_EQ(io::read_npy_tensor(path).size(1), 4) << path;
      } else if (name == "plot.svg") {
        const std::string svg = io::read_text_file(path);
        EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n") << path;
      } else if (name != ".lock") {
        ADD_FAILURE() << "unexpected file " << path;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << " is not readable: " << e.what();
    }
  }
  return temps;
}

class CrashResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = ::testing::TempDir() + "/spml_crash_resume_" + std::to_string(::getpid());
    fs::remove_all(root_);
    data::build_toy_shapes(root_ + "/toy", 120, 40, 32, 1);
    const Exit e = run_train(train_args(reference()), {}, "reference");
    reference_ok_ = e.code == 0 && fs::exists(reference() + "/test.json") &&
                    read_json(reference() + "/test.json").at("epochs_run") == kEpochs;
    if (!reference_ok_) std::fprintf(stderr, "the reference run failed:\n%s\n", e.log.c_str());
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  void SetUp() override { ASSERT_TRUE(reference_ok_) << "the uninterrupted reference run failed"; }

  static std::string reference() { return root_ + "/reference"; }
  static std::string dir(const std::string& name) { return root_ + "/" + name; }

  static std::vector<std::string> train_args(const std::string& run, const std::vector<std::string>& extra = {},
                                             const std::string& data = "", int epochs = kEpochs) {
    std::vector<std::string> args = {bin("spml-train"),
                                     "--dataset",
                                     "toy-shapes",
                                     "--data",
                                     data.empty() ? root_ + "/toy" : data,
                                     "--width",
                                     "8",
                                     "--image-size",
                                     "16",
                                     "--epochs",
                                     std::to_string(epochs),
                                     "--seed",
                                     std::to_string(kSeed),
                                     "--batch-size",
                                     "8",
                                     "--deterministic",
                                     "--threads",
                                     "1",
                                     "--workers",
                                     "1",
                                     "--out",
                                     run};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static std::vector<std::string> resume_args(const std::string& run, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {bin("spml-train"), "--out", run, "--resume"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  // Runs argv to its end; the log lands in RUN_ROOT/<log_name>.log.
  static Exit run_train(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                        const std::string& log_name) {
    const std::string log = root_ + "/" + log_name + ".log";
    return wait_for(spawn(argv, env, log), log);
  }

  // --resume until the run reports its result (one call without faults suffices; a few are allowed).
  static void resume_to_the_end(const std::string& run) {
    for (int attempt = 1; attempt <= 3; ++attempt) {
      const Exit e = run_train(resume_args(run), {}, fs::path(run).filename().string() + "_resume");
      ASSERT_FALSE(e.signaled) << e.log;
      if (e.code == 0) {
        ASSERT_TRUE(fs::exists(run + "/test.json")) << e.log;
        return;
      }
      ASSERT_EQ(e.code, 130) << e.log;  // only an interruption may ask for another resume
    }
    FAIL() << run << " did not finish in 3 resumes";
  }

  // The results of `run` equal the uninterrupted run's: bytes of best.safetensors and test_probabilities.npy,
  // exact JSON values (doubles with ==) of test.json, metrics.jsonl and last.ckpt's position without their time
  // keys, metrics.csv without its time columns, last.ckpt's tensors; no temp file is left.
  static void expect_reference_results(const std::string& run, const std::string& ref = reference()) {
    expect_same_bytes(ref + "/best.safetensors", run + "/best.safetensors");
    expect_same_bytes(ref + "/test_probabilities.npy", run + "/test_probabilities.npy");
    EXPECT_EQ(without_times(read_json(ref + "/test.json")), without_times(read_json(run + "/test.json")));
    const std::vector<json> a = read_jsonl(ref + "/metrics.jsonl"), b = read_jsonl(run + "/metrics.jsonl");
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(without_times(a[i]), without_times(b[i])) << "epoch " << i + 1;
    EXPECT_EQ(csv_without_times(ref + "/metrics.csv"), csv_without_times(run + "/metrics.csv"));
    const io::SafetensorsFile x = io::read_safetensors(ref + "/last.ckpt"),
                              y = io::read_safetensors(run + "/last.ckpt");
    ASSERT_EQ(x.tensors.size(), y.tensors.size());
    for (const auto& [key, value] : x.tensors) {
      ASSERT_TRUE(y.tensors.count(key)) << key;
      const Tensor& other = y.tensors.at(key);
      ASSERT_EQ(value.nbytes(), other.nbytes()) << key;
      EXPECT_EQ(std::memcmp(value.data_ptr(), other.data_ptr(), value.nbytes()), 0) << "last.ckpt " << key;
    }
    json meta_a = without_times(json::parse(x.metadata.at("meta"))),
         meta_b = without_times(json::parse(y.metadata.at("meta")));
    for (const char* key : {"out", "checkpoint_minutes"}) {  // the folders' own names; when checkpoints are written
      meta_a["config"].erase(key);
      meta_b["config"].erase(key);
    }
    EXPECT_EQ(meta_a, meta_b);
    EXPECT_TRUE(temp_files(run).empty());
    EXPECT_TRUE(expect_folder_readable(run).empty());
  }

  // SIGKILL at `fault`, the folder checked at once, then --resume to the end and the reference's results.
  // Returns the temp files found right after the kill.
  static std::vector<std::string> kill_check_and_resume(const std::string& name, const std::string& fault,
                                                        std::string* resume_log) {
    const std::string run = dir(name), log = root_ + "/" + name + ".log";
    const pid_t pid = spawn(train_args(run), {"SPML_FAULT=" + fault}, log);
    const Exit e = wait_for(pid, log);
    EXPECT_TRUE(e.signaled && e.signal == SIGKILL) << "expected death by SIGKILL at " << fault << ":\n" << e.log;
    EXPECT_TRUE(contains(e.log, "SPML_FAULT: SIGKILL at ")) << e.log;
    const std::vector<std::string> temps = expect_folder_readable(run);
    EXPECT_TRUE(fs::exists(run + "/config.json") && fs::exists(run + "/run.json"));
    EXPECT_FALSE(fs::exists(run + "/test.json"));
    resume_to_the_end(run);
    if (resume_log) *resume_log = test::read_text(root_ + "/" + name + "_resume.log");
    expect_reference_results(run);
    return temps;
  }

  static std::string root_;
  static bool reference_ok_;
};
std::string CrashResume::root_;
bool CrashResume::reference_ok_ = false;

// ---- kill / resume matrix ----

TEST_F(CrashResume, KillMidEpochBeforeTheFirstCheckpointResumesFromTheStart) {
  std::string log;
  const std::string run = dir("kill_epoch1");
  // train-step@5: epoch 1, step 5; no last.ckpt yet, so --resume starts over.
  const std::vector<std::string> temps = kill_check_and_resume("kill_epoch1", "train-step@5:kill", &log);
  EXPECT_TRUE(temps.empty());
  EXPECT_TRUE(contains(log, "resuming " + run + " from the start")) << log;
}

TEST_F(CrashResume, KillMidEpochResumesFromTheLastEpochsCheckpoint) {
  std::string log;
  const std::string run = dir("kill_epoch2");
  const int step = kStepsPerEpoch + 4;  // epoch 2, step 4
  kill_check_and_resume("kill_epoch2", "train-step@" + std::to_string(step) + ":kill", &log);
  EXPECT_TRUE(contains(log, "resuming " + run + " at epoch 2, step 0")) << log;
}

TEST_F(CrashResume, PeriodicCheckpointsBoundWhatAKillLoses) {
  // --checkpoint-minutes 1e-9: a mid-epoch checkpoint after every step. Killed after epoch 2's step 5 (before its
  // checkpoint), the run resumes at step 4, not at the epoch's start, and ends as the uninterrupted reference.
  const std::string name = "kill_periodic", run = dir(name), log = root_ + "/" + name + ".log";
  const Exit e = wait_for(spawn(train_args(run, {"--checkpoint-minutes", "1e-9"}),
                                {"SPML_FAULT=train-step@" + std::to_string(kStepsPerEpoch + 5) + ":kill"}, log),
                          log);
  ASSERT_TRUE(e.signaled && e.signal == SIGKILL) << e.log;
  EXPECT_TRUE(expect_folder_readable(run).empty());
  resume_to_the_end(run);
  const std::string resume_log = test::read_text(root_ + "/" + name + "_resume.log");
  EXPECT_TRUE(contains(resume_log, "resuming " + run + " at epoch 2, step 4")) << resume_log;
  expect_reference_results(run);
}

TEST_F(CrashResume, KillDuringTheCheckpointWriteLeavesThePreviousOne) {
  // The second write of last.ckpt (end of epoch 2), killed after half of its bytes reached the temp file.
  const std::string run = dir("kill_write");
  const std::string log_path = root_ + "/kill_write.log";
  const pid_t pid = spawn(train_args(run), {"SPML_FAULT=write:last.ckpt@2:kill"}, log_path);
  const Exit e = wait_for(pid, log_path);
  ASSERT_TRUE(e.signaled && e.signal == SIGKILL) << e.log;
  const std::vector<std::string> temps = expect_folder_readable(run);
  ASSERT_EQ(temps, std::vector<std::string>{"last.ckpt.tmp." + std::to_string(pid)});
  const auto half = fs::file_size(run + "/" + temps[0]);
  EXPECT_GT(half, 0u);
  EXPECT_LT(half, fs::file_size(reference() + "/last.ckpt"));
  const training::RunPosition kept = load_last_checkpoint(run);  // epoch 1's, intact
  EXPECT_EQ(kept.next_epoch, 2);
  EXPECT_EQ(kept.next_step, 0);
  EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), 2u);  // epoch 2's files come before its checkpoint
  resume_to_the_end(run);
  const std::string log = test::read_text(root_ + "/kill_write_resume.log");
  EXPECT_TRUE(contains(log, "removed " + run + "/" + temps[0])) << log;
  EXPECT_TRUE(contains(log, "resuming " + run + " at epoch 2, step 0")) << log;
  expect_reference_results(run);
}

TEST_F(CrashResume, KillDuringValidationRepeatsTheEpoch) {
  std::string log;
  const std::string run = dir("kill_val");
  // Epoch 2's validation, after its second batch.
  kill_check_and_resume("kill_val", "eval-batch@" + std::to_string(kValBatches + 2) + ":kill", &log);
  EXPECT_TRUE(contains(log, "resuming " + run + " at epoch 2, step 0")) << log;
}

TEST_F(CrashResume, KillDuringTheTestEvaluationOnlyRedoesTheTest) {
  std::string log;
  const std::string run = dir("kill_test");
  const int epochs_run = read_json(reference() + "/test.json").at("epochs_run").get<int>();
  const int hit = kValBatches * epochs_run + 2;  // the final test pass, after its second batch
  ASSERT_LT(2, kTestBatches);
  kill_check_and_resume("kill_test", "eval-batch@" + std::to_string(hit) + ":kill", &log);
  EXPECT_TRUE(contains(log, "resuming " + run + " at epoch " + std::to_string(epochs_run + 1) + ", step 0")) << log;
  EXPECT_FALSE(contains(log, "epoch 1/")) << "nothing is to be trained again:\n" << log;
}

TEST_F(CrashResume, SigintAtAnExactStepResumesMidEpoch) {
  // Paused after epoch 2's step 5, then SIGINT: the step's stop request writes a mid-epoch last.ckpt (exit 130).
  const std::string run = dir("sigint"), pause_file = root_ + "/sigint.paused", log = root_ + "/sigint.log";
  const pid_t pid = spawn(
      train_args(run),
      {"SPML_FAULT=train-step@" + std::to_string(kStepsPerEpoch + 5) + ":pause", "SPML_FAULT_PAUSE_FILE=" + pause_file},
      log);
  for (int i = 0; i < 6000 && !fs::exists(pause_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(pause_file)) << test::read_text(log);
  ::kill(pid, SIGINT);
  const Exit e = wait_for(pid, log);
  ASSERT_EQ(e.code, 130) << e.log;
  EXPECT_TRUE(contains(e.log, "interrupted at epoch 2, step 5")) << e.log;
  EXPECT_TRUE(expect_folder_readable(run).empty());
  const training::RunPosition at = load_last_checkpoint(run);
  EXPECT_EQ(at.next_epoch, 2);
  EXPECT_EQ(at.next_step, 5);
  resume_to_the_end(run);
  expect_reference_results(run);
}

// ---- the label state of LL-Cp and EM+APL ----

// The sum of the checkpoint tensor whose key ends with `suffix` (the label state's buffers).
double checkpoint_tensor_sum(const std::string& run, const std::string& suffix, double* count = nullptr) {
  const io::SafetensorsFile f = io::read_safetensors(run + "/last.ckpt");
  for (const auto& [key, value] : f.tensors)
    if (key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::vector<double> v = value.to(DType::Float64).to_vector<double>();
      double sum = 0, non_negative = 0;
      for (double x : v) {
        sum += x;
        non_negative += x >= 0;
      }
      if (count) *count = non_negative;
      return sum;
    }
  ADD_FAILURE() << run << "/last.ckpt has no tensor *" << suffix;
  return 0;
}

TEST_F(CrashResume, LlCpFlipsSurviveAMidEpochStopBitIdentically) {
  const std::vector<std::string> ll_cp = {"--loss", "ll_cp"};
  const std::string ref = dir("ll_cp_reference"), run = dir("ll_cp_sigint");
  ASSERT_EQ(run_train(train_args(ref, ll_cp), {}, "ll_cp_reference").code, 0);
  // toy-shapes' 96 train rows hold 96 observed positives; LL-Cp flips ceil(8 x 4 x 5 %) = 2 per step from epoch 2.
  EXPECT_GT(checkpoint_tensor_sum(ref, "train_labels"), 96.0 + 2 * kStepsPerEpoch);
  const std::string pause_file = root_ + "/ll_cp.paused", log = root_ + "/ll_cp_sigint.log";
  const pid_t pid = spawn(
      train_args(run, ll_cp),
      {"SPML_FAULT=train-step@" + std::to_string(kStepsPerEpoch + 5) + ":pause", "SPML_FAULT_PAUSE_FILE=" + pause_file},
      log);
  for (int i = 0; i < 6000 && !fs::exists(pause_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(pause_file)) << test::read_text(log);
  ::kill(pid, SIGINT);
  ASSERT_EQ(wait_for(pid, log).code, 130);
  // The mid-epoch checkpoint holds the flips of epoch 2's first 5 steps.
  EXPECT_DOUBLE_EQ(checkpoint_tensor_sum(run, "train_labels"), 96.0 + 2 * 5);
  resume_to_the_end(run);
  expect_reference_results(run, ref);
}

TEST_F(CrashResume, EmAplPseudoLabelsSurviveAKillBitIdentically) {
  // No early stop: all three epochs run (the pass after epochs 1 and 2 is in epoch 2's checkpoint).
  const std::vector<std::string> em_apl = {"--loss", "em_apl", "--early-stop-drop", "100"};
  const std::string ref = dir("em_apl_reference"), name = "em_apl_kill", run = dir(name);
  const Exit r = run_train(train_args(ref, em_apl), {}, "em_apl_reference");
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_TRUE(contains(r.log, "entries pseudo-labelled")) << r.log;
  double labelled = 0;
  checkpoint_tensor_sum(ref, "apl_targets", &labelled);
  EXPECT_GT(labelled, 0.0);
  // Killed in epoch 3: the resume starts from epoch 2's checkpoint, which holds two passes' pseudo-labels.
  const std::string log = root_ + "/" + name + ".log";
  const Exit e = wait_for(spawn(train_args(run, em_apl),
                                {"SPML_FAULT=train-step@" + std::to_string(2 * kStepsPerEpoch + 4) + ":kill"}, log),
                          log);
  ASSERT_TRUE(e.signaled && e.signal == SIGKILL) << e.log;
  resume_to_the_end(run);
  expect_reference_results(run, ref);
}

// ---- the folder lock ----

TEST_F(CrashResume, ASecondProcessIsRefusedUntilTheHolderDies) {
  const std::string run = dir("locked"), pause_file = root_ + "/locked.paused", log_a = root_ + "/locked_a.log";
  const pid_t a =
      spawn(train_args(run), {"SPML_FAULT=train-step@2:pause", "SPML_FAULT_PAUSE_FILE=" + pause_file}, log_a);
  for (int i = 0; i < 6000 && !fs::exists(pause_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(pause_file)) << test::read_text(log_a);
  const std::string refusal =
      run + " is in use by another process (pid " + std::to_string(a) + " holds " + run + "/.lock)";
  Exit b = run_train(train_args(run), {}, "locked_b_fresh");
  EXPECT_EQ(b.code, 1) << b.log;
  EXPECT_TRUE(contains(b.log, refusal)) << b.log;
  b = run_train(resume_args(run), {}, "locked_b_resume");
  EXPECT_EQ(b.code, 1) << b.log;
  EXPECT_TRUE(contains(b.log, refusal)) << b.log;
  ASSERT_EQ(::kill(a, SIGKILL), 0);
  const Exit killed = wait_for(a, log_a);
  EXPECT_TRUE(killed.signaled && killed.signal == SIGKILL);
  resume_to_the_end(run);  // the kernel dropped A's lock with A; its .lock file may stay
  expect_reference_results(run);
}

// ---- a full disk and other failed writes ----

TEST_F(CrashResume, DiskFullDuringTheCheckpointKeepsThePreviousOne) {
  const std::string run = dir("enospc");
  const Exit e = run_train(train_args(run), {"SPML_FAULT=write:last.ckpt@2:enospc"}, "enospc");
  EXPECT_FALSE(e.signaled);
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, "spml-train: error: " + run + "/last.ckpt: write failed after ")) << e.log;
  EXPECT_TRUE(contains(e.log, "(No space left on device); the file keeps its previous contents")) << e.log;
  EXPECT_TRUE(expect_folder_readable(run).empty());  // no temp file left
  const training::RunPosition kept = load_last_checkpoint(run);
  EXPECT_EQ(kept.next_epoch, 2);
  resume_to_the_end(run);
  expect_reference_results(run);
}

TEST_F(CrashResume, FailedResultWritesNameTheFileAndResumeRedoesThem) {
  // test.json: an I/O error on the run's last write; the test pass is repeated by --resume.
  std::string run = dir("eio_test");
  Exit e = run_train(train_args(run), {"SPML_FAULT=write:test.json@1:eio"}, "eio_test");
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, run + "/test.json: write failed after ")) << e.log;
  EXPECT_TRUE(contains(e.log, "(Input/output error); the file was not written")) << e.log;
  EXPECT_FALSE(fs::exists(run + "/test.json"));
  EXPECT_TRUE(expect_folder_readable(run).empty());
  resume_to_the_end(run);
  expect_reference_results(run);

  // metrics.jsonl: full disk at epoch 2's rewrite; epoch 1's file stays.
  run = dir("enospc_metrics");
  e = run_train(train_args(run), {"SPML_FAULT=write:metrics.jsonl@2:enospc"}, "enospc_metrics");
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, run + "/metrics.jsonl: write failed after ")) << e.log;
  EXPECT_TRUE(contains(e.log, "(No space left on device); the file keeps its previous contents")) << e.log;
  EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), 1u);
  EXPECT_TRUE(expect_folder_readable(run).empty());
  resume_to_the_end(run);
  expect_reference_results(run);
}

TEST_F(CrashResume, FileSizeLimitFailsTheWriteWithEfbigNotASignal) {
  // RLIMIT_FSIZE between best.safetensors' size and last.ckpt's: the first last.ckpt write gets EFBIG (spml-train
  // ignores SIGXFSZ) and the run stops naming it; everything smaller was written whole.
  const auto best = fs::file_size(reference() + "/best.safetensors"), last = fs::file_size(reference() + "/last.ckpt");
  const auto limit_kib = (best + last) / 2 / 1024;
  ASSERT_LT(best, limit_kib * 1024);
  ASSERT_GT(last, limit_kib * 1024);
  ASSERT_LT(fs::file_size(reference() + "/config.json"), limit_kib * 1024);
  const std::string run = dir("fsize");
  std::string command = "ulimit -f " + std::to_string(limit_kib) + "; exec";
  for (const std::string& a : train_args(run)) command += " '" + a + "'";
  const Exit e = run_train({"/bin/bash", "-c", command}, {}, "fsize");
  EXPECT_FALSE(e.signaled) << "killed by signal " << e.signal << " (SIGXFSZ is " << SIGXFSZ << "):\n" << e.log;
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, run + "/last.ckpt: write failed after ")) << e.log;
  EXPECT_TRUE(contains(e.log, "(File too large); the file was not written")) << e.log;
  EXPECT_TRUE(expect_folder_readable(run).empty());
  EXPECT_FALSE(fs::exists(run + "/last.ckpt"));
  EXPECT_TRUE(fs::exists(run + "/best.safetensors"));
  resume_to_the_end(run);  // no checkpoint yet: starts over, without the limit
  expect_reference_results(run);
}

TEST_F(CrashResume, MalformedFaultSpecificationNamesTheVariable) {
  const Exit e = run_train(train_args(dir("bad_spec")), {"SPML_FAULT=train-step@x:kill"}, "bad_spec");
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, "SPML_FAULT=train-step@x:kill: the hit count \"x\" is not a positive integer")) << e.log;
  const Exit f = run_train(train_args(dir("bad_spec")), {"SPML_FAULT=eval-batch:nan"}, "bad_spec2");
  EXPECT_EQ(f.code, 1) << f.log;
  EXPECT_TRUE(contains(f.log, "point eval-batch does not support the action nan")) << f.log;
  EXPECT_FALSE(fs::exists(dir("bad_spec")));  // refused before any work
}

// ---- bad images ----

TEST_F(CrashResume, BadTrainingImagesFailOrAreSkippedAndCounted) {
  const std::string data = dir("bad_data");
  data::build_toy_shapes(data, 120, 40, 32, 1);
  const data::MultiLabelDataset dataset = data::load_preformatted(data);
  const std::vector<std::string> bad = {dataset.train.image_paths[0], dataset.train.image_paths[1],
                                        dataset.train.image_paths[2]};
  const auto full_path = [&](const std::string& p) { return (fs::path(dataset.image_root) / p).string(); };
  {  // a truncated PNG, a truncated JPEG (under the same name: the decoder goes by content), a missing file
    const std::vector<uint8_t> png = io::read_file(full_path(bad[0]));
    io::write_file_atomic(full_path(bad[0]), png.data(), png.size() / 3);
    const std::vector<uint8_t> jpeg = image::encode_jpeg(image::decode_image(full_path(bad[1])));
    io::write_file_atomic(full_path(bad[1]), jpeg.data(), jpeg.size() / 3);
    fs::remove(full_path(bad[2]));
  }
  Exit e = run_train(train_args(dir("bad_fail"), {}, data, 1), {}, "bad_fail");
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, "spml-train: error: ")) << e.log;
  EXPECT_TRUE(contains(e.log, bad[0]) || contains(e.log, bad[1]) || contains(e.log, bad[2])) << e.log;

  const std::string run = dir("bad_skip");
  e = run_train(train_args(run, {"--on-bad-image", "skip"}, data, 2), {}, "bad_skip");
  ASSERT_EQ(e.code, 0) << e.log;
  EXPECT_TRUE(contains(e.log, "3 bad images skipped")) << e.log;
  const json record = read_json(run + "/run.json");
  EXPECT_EQ(record["skipped_images"]["total"], 6);
  EXPECT_EQ(record["skipped_images"]["per_epoch"], json::array({3, 3}));
  EXPECT_EQ(record["skipped_steps"]["total"], 0);
  EXPECT_EQ(record["config"]["on_bad_image"], "skip");
  for (const json& row : read_jsonl(run + "/metrics.jsonl")) EXPECT_EQ(row["skipped_images"], 3);
  EXPECT_EQ(read_json(run + "/test.json")["skipped_images"], 6);

  // A bad validation image is never skipped: it would change the mAP.
  const std::string val_image = dataset.val.image_paths[0];
  fs::remove(full_path(val_image));
  e = run_train(train_args(dir("bad_val"), {"--on-bad-image", "skip"}, data, 1), {}, "bad_val");
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(contains(e.log, val_image)) << e.log;
  EXPECT_TRUE(contains(e.log, "an evaluation image is never skipped")) << e.log;
}

// ---- NaN / Inf ----

TEST_F(CrashResume, NonFiniteStepStopsNamingTheBatchAndKeepsTheCheckpoint) {
  const std::string run = dir("nan_stop");
  // A last.ckpt of epoch 1 first (killed in epoch 2), then a resumed process whose third batch (epoch 2, step 3) is
  // NaN.
  Exit e = run_train(train_args(run), {"SPML_FAULT=train-step@" + std::to_string(kStepsPerEpoch + 1) + ":kill"},
                     "nan_stop_kill");
  ASSERT_TRUE(e.signaled) << e.log;
  const std::vector<uint8_t> before = io::read_file(run + "/last.ckpt");
  e = run_train(resume_args(run), {"SPML_FAULT=train-batch@3:nan"}, "nan_stop");
  EXPECT_EQ(e.code, 1) << e.log;
  // The batch: rows 16..23 of epoch 2's order.
  const data::MultiLabelDataset dataset = data::load_preformatted(root_ + "/toy");
  const std::vector<int64_t> order = data::shuffle_order(dataset.train.size(), kSeed, 2, true);
  std::string indices;
  for (int i = 16; i < 21; ++i) indices += (i > 16 ? ", " : "") + std::to_string(order[std::size_t(i)]);
  EXPECT_TRUE(contains(e.log, "spml-train: error: training stopped: the gr loss (value nan) at epoch 2, step 3 of " +
                                  std::to_string(kStepsPerEpoch) + " (batch of 8 images, dataset indices " + indices +
                                  " and 3 more, first image " + dataset.train.image_paths[std::size_t(order[16])] +
                                  "); " + run + "/last.ckpt keeps the last good state"))
      << e.log;
  EXPECT_TRUE(io::read_file(run + "/last.ckpt") == before) << "last.ckpt changed";
  EXPECT_EQ(load_last_checkpoint(run).next_epoch, 2);
  EXPECT_TRUE(expect_folder_readable(run).empty());
}

TEST_F(CrashResume, NonFiniteStepIsSkippedAndCountedWithSkip) {
  const std::string run = dir("nan_skip");
  const Exit e = run_train(train_args(run, {"--on-nonfinite", "skip"}),
                           {"SPML_FAULT=train-batch@" + std::to_string(kStepsPerEpoch + 3) + ":nan"}, "nan_skip");
  ASSERT_EQ(e.code, 0) << e.log;
  EXPECT_TRUE(contains(e.log, "WARNING: the gr loss (value nan) at epoch 2, step 3 of " +
                                  std::to_string(kStepsPerEpoch) + " (batch of 8 images"))
      << e.log;
  EXPECT_TRUE(contains(e.log, "step skipped (--on-nonfinite skip")) << e.log;
  const json record = read_json(run + "/run.json");
  EXPECT_EQ(record["skipped_steps"]["total"], 1);
  const std::vector<json> rows = read_jsonl(run + "/metrics.jsonl"), ref = read_jsonl(reference() + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), std::size_t(kEpochs));
  EXPECT_EQ(record["skipped_steps"]["per_epoch"], json::array({0, 1, 0}));
  EXPECT_EQ(rows[1]["skipped_steps"], 1);
  EXPECT_EQ(without_times(rows[0]), without_times(ref[0]));                            // epoch 1 untouched
  for (const json& row : rows) EXPECT_TRUE(row["val_mAP"].is_number()) << row.dump();  // NaN would be null
  // The skipped forward's BatchNorm statistics were put back: nothing in the weights is NaN.
  for (const auto& [key, value] : io::read_safetensors(run + "/best.safetensors").tensors) {
    if (!is_floating(value.dtype())) continue;
    for (double v : value.to(DType::Float64).to_vector<double>()) ASSERT_TRUE(std::isfinite(v)) << key;
  }
  EXPECT_TRUE(std::isfinite(read_json(run + "/test.json")["test_mAP"].get<double>()));
}

// ---- io::write_file_atomic and stale temp files, in process ----

TEST(AtomicWrite, FailuresNameTheFileAndTheCauseAndLeaveNoTempFile) {
  const std::string dir = ::testing::TempDir() + "/spml_atomic_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir + "/a_folder");
  const std::string missing = dir + "/missing/x.json", folder = dir + "/a_folder";
  EXPECT_ERROR_CONTAINS(io::write_file_atomic(missing, std::string("{}")), missing.c_str(),
                        "cannot create the temporary file", "No such file or directory", "the file was not written");
  // Renaming over a folder fails after the data was written: the temp file goes, the folder stays.
  EXPECT_ERROR_CONTAINS(io::write_file_atomic(folder, std::string("data")), folder.c_str(), "cannot rename",
                        "Is a directory", "keeps its previous contents");
  EXPECT_TRUE(fs::is_directory(dir + "/a_folder"));
  io::write_file_atomic(dir + "/ok.txt", std::string("contents"));
  EXPECT_EQ(io::read_text_file(dir + "/ok.txt"), "contents");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a_folder", "ok.txt"}));
  fs::remove_all(dir);
}

TEST(AtomicWrite, StaleTempFilesOfDeadProcessesAreRemoved) {
  const std::string dir = ::testing::TempDir() + "/spml_stale_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);  // a pid that no longer runs
  const std::string dead = dir + "/last.ckpt.tmp." + std::to_string(child);
  const std::string alive = dir + "/run.json.tmp." + std::to_string(::getppid());
  for (const std::string& p : {dead, alive, dir + "/notes.tmp.x", dir + "/last.ckpt"})
    io::write_file_atomic(p, std::string("x"));
  EXPECT_EQ(io::remove_stale_temp_files(dir), std::vector<std::string>{dead});
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
  EXPECT_TRUE(fs::exists(dir + "/notes.tmp.x"));
  EXPECT_TRUE(fs::exists(dir + "/last.ckpt"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spml
