// spml-train, spml-eval --run and spml-report end to end on toy shapes: the JSON result line, --config and
// --resume rules, flag errors, and Ctrl-C (SIGINT, at a step fixed by the SPML_FAULT pause hook) writing a
// checkpoint that --resume finishes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/data/builders/toy_shapes.h"
#include "framework/io/file.h"
#include "test_util.h"

namespace spml {
namespace {

namespace fs = std::filesystem;

// Runs a shell command line; returns its exit status and stdout + stderr.
int run_shell(const std::string& command, std::string* output) {
  const test::CommandResult r = test::run_command(command);
  *output = r.out;
  return r.exit_code;
}

std::string bin(const char* app) {
  return std::string(SPML_BIN_DIR) + "/" + app;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

class SpmlTrainApp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = ::testing::TempDir() + "/spml_train_app_" + std::to_string(::getpid());
    fs::remove_all(root_);
    data::build_toy_shapes(root_ + "/toy", 160, 48, 32, 1);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::string data_flags() { return " --dataset toy-shapes --data " + root_ + "/toy"; }
  static std::string root_;
};
std::string SpmlTrainApp::root_;

TEST_F(SpmlTrainApp, TrainsThenEvaluatesAndReports) {
  const std::string run = root_ + "/run";
  std::string out;
  ASSERT_EQ(run_shell(bin("spml-train") + data_flags() + " --width 16 --epochs 2 --out " + run, &out), 0) << out;
  EXPECT_NE(out.find("WARNING: no --weights given"), std::string::npos) << out;
  const nlohmann::json result = nlohmann::json::parse(last_line(out));
  const nlohmann::json test = nlohmann::json::parse(io::read_text_file(run + "/test.json"));
  EXPECT_EQ(result["test_mAP"], test["test_mAP"]);
  EXPECT_EQ(result["loss"], "gr");

  ASSERT_EQ(run_shell(bin("spml-eval") + " --run " + run + " --split test --per-class", &out), 0) << out;
  const nlohmann::json eval = nlohmann::json::parse(last_line(out));
  EXPECT_EQ(eval["mAP"], test["test_mAP"]);  // the same float32 probabilities, the same mAP
  EXPECT_EQ(eval["per_class_AP"], test["per_class_AP"]);
  EXPECT_EQ(eval["images"], 48);
  ASSERT_EQ(run_shell(bin("spml-eval") + " --run " + run + " --split val", &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(last_line(out))["mAP"], test["best_val_mAP"]);
  // The saved predictions give the same number through the .npy path.
  ASSERT_EQ(run_shell(bin("spml-eval") + " --predictions " + run + "/test_probabilities.npy --labels " + root_ +
                          "/toy/formatted_val_labels.npy",
                      &out),
            0)
      << out;
  EXPECT_EQ(nlohmann::json::parse(last_line(out))["mAP"], test["test_mAP"]);

  // --config reads config.json back; flags override it.
  const std::string again = root_ + "/again";
  ASSERT_EQ(run_shell(bin("spml-train") + " --config " + run + "/config.json --epochs 1 --out " + again, &out), 0)
      << out;
  nlohmann::json a = nlohmann::json::parse(io::read_text_file(run + "/config.json"));
  nlohmann::json b = nlohmann::json::parse(io::read_text_file(again + "/config.json"));
  EXPECT_EQ(b["epochs"], 1);
  EXPECT_EQ(b["width"], 16);
  a.erase("epochs");
  a.erase("out");
  b.erase("epochs");
  b.erase("out");
  EXPECT_EQ(a, b);

  ASSERT_EQ(run_shell(bin("spml-report") + " " + run + " " + again + " --plot " + root_ + "/report.svg", &out), 0)
      << out;
  EXPECT_NE(out.find("| run "), std::string::npos) << out;
  EXPECT_NE(out.find("| again "), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(root_ + "/report.svg"));
}

TEST_F(SpmlTrainApp, FlagErrorsAreClear) {
  std::string out;
  EXPECT_NE(run_shell(bin("spml-train") + data_flags() + " --out " + root_ + "/x --learning-rate 3", &out), 0);
  EXPECT_NE(out.find("--learning-rate"), std::string::npos) << out;
  EXPECT_NE(run_shell(bin("spml-train") + data_flags() + " --out " + root_ + "/x --loss focal", &out), 0);
  EXPECT_NE(out.find("spml-train: error: "), std::string::npos) << out;
  EXPECT_NE(out.find("focal"), std::string::npos) << out;
  EXPECT_NE(run_shell(bin("spml-train") + data_flags() + " --out " + root_ + "/x --beta 0 1 2", &out), 0);
  EXPECT_NE(out.find("--beta"), std::string::npos) << out;
  EXPECT_NE(run_shell(bin("spml-train") + data_flags() + " --out " + root_ + "/x --cpu-kernels mkl", &out), 0);
  EXPECT_NE(out.find("--cpu-kernels: unknown CPU kernels 'mkl' (expected onednn or reference)"), std::string::npos)
      << out;
  EXPECT_NE(run_shell(bin("spml-train") + data_flags() + " --out " + root_ + "/x --no-flip --order-file o.json", &out),
            0);
  EXPECT_NE(out.find("--order-file fixes the order and the flips"), std::string::npos) << out;
  EXPECT_NE(
      run_shell(bin("spml-train") + data_flags() + " --out " + root_ + "/x --order-file " + root_ + "/no.json", &out),
      0);
  EXPECT_NE(out.find(root_ + "/no.json"), std::string::npos) << out;
  EXPECT_NE(run_shell(bin("spml-train") + " --dataset voc --data " + root_ + "/none --out " + root_ + "/x", &out), 0);
  EXPECT_NE(out.find("is not a folder"), std::string::npos) << out;
  EXPECT_NE(run_shell(bin("spml-eval") + " --run " + root_ + "/none", &out), 0);
  EXPECT_NE(out.find("config.json does not exist"), std::string::npos) << out;
  EXPECT_NE(run_shell(bin("spml-train") + " --out " + root_ + "/none --resume", &out), 0);
  EXPECT_NE(out.find("--resume: "), std::string::npos) << out;
}

TEST_F(SpmlTrainApp, SigintWritesACheckpointThatResumeFinishes) {
  const std::string run = root_ + "/interrupted", paused = root_ + "/interrupted.paused";
  // The fault hook pauses the run after its third step (framework/core/fault_injection.h), so SIGINT lands at a
  // known step whatever the machine's speed.
  const std::string command = "SPML_FAULT=train-step@3:pause SPML_FAULT_PAUSE_FILE=" + paused + " " +
                              bin("spml-train") + data_flags() + " --width 16 --epochs 3 --batch-size 8 --out " + run;
  std::string out;
  // Waits for the pause (or the process's end, should it fail first), then interrupts it.
  const std::string wait_for_pause = "while [ ! -e " + paused + " ] && kill -0 $pid; do sleep 0.05; done";
  run_shell(command + " 2>&1 & pid=$!; " + wait_for_pause + "; kill -INT $pid; wait $pid; echo \"exit=$?\"", &out);
  ASSERT_NE(out.find("exit=130"), std::string::npos) << "expected the interrupted exit status 130:\n" << out;
  EXPECT_NE(out.find("interrupted at epoch 1, step 3: " + run + "/last.ckpt written"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(run + "/last.ckpt"));
  EXPECT_FALSE(fs::exists(run + "/test.json"));
  // Only --epochs may change on resume.
  EXPECT_NE(run_shell(bin("spml-train") + " --out " + run + " --resume --lr 0.1", &out), 0);
  EXPECT_NE(out.find("--lr differ from the run's"), std::string::npos) << out;
  ASSERT_EQ(run_shell(bin("spml-train") + " --out " + run + " --resume", &out), 0) << out;
  EXPECT_NE(out.find("resuming " + run + " at epoch "), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(run + "/test.json"));
}

}  // namespace
}  // namespace spml
