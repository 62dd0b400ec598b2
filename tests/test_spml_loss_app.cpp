// End-to-end tests of the spml-loss app (writes .npy inputs, runs the built binary, checks its JSON line, its
// gradient files and its error messages), and the composed losses against the fused op.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "framework/io/npy_tensor.h"
#include "framework/ops/ops.h"
#include "losses/composed_losses.h"
#include "losses/spml_loss.h"
#include "test_util.h"
#include "training/dataset_settings.h"

namespace spml {
namespace {
using losses::LossKind;

using AppResult = test::CommandResult;
using test::read_text;

// A file in the test temp folder, unique per test (CTest may run tests in parallel).
std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "spml_loss_app_" + info->test_suite_name() + "_" + info->name() + "_" + name;
}

// Runs the binary with `args`; stdout through the pipe, stderr through a file.
AppResult run_app(const std::string& args) {
  return test::run_command(std::string(SPML_BIN_DIR "/spml-loss ") + args, temp_path("stderr.txt"));
}

// Writes `t` as `name`.npy in the temp folder and returns the path.
std::string write_input(const std::string& name, const Tensor& t) {
  const std::string path = temp_path(name + ".npy");
  io::write_npy_tensor(path, t);
  return path;
}

// [B, C] labels with one observed positive per row (column (3 b + 1) mod C).
Tensor one_positive_per_row(int64_t rows, int64_t cols, DType dtype) {
  std::vector<double> y(std::size_t(rows * cols), 0.0);
  for (int64_t b = 0; b < rows; ++b) y[std::size_t(b * cols + (3 * b + 1) % cols)] = 1.0;
  return Tensor::from_vector(y, {rows, cols}).to(dtype);
}

nlohmann::json parse_json_line(const AppResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "expected one line, got: " << r.out;
  return nlohmann::json::parse(r.out);
}

// The library's loss and dL/dz (and dL/dG) for the same inputs, as the app computes them.
struct LibraryResult {
  double loss;
  Tensor dz, dg;
};
LibraryResult library_loss(LossKind kind, const Tensor& logits, const Tensor& labels, const losses::GrSettings& gr,
                           int epoch, const Tensor& estimates = Tensor()) {
  const training::DatasetSettings& voc = training::dataset_settings("voc");
  const losses::LossParams params = losses::make_loss_params(losses::GrSchedule(gr, 8, 0).at(epoch),
                                                             voc.expected_positives, voc.em_alpha, logits.size(1));
  Tensor z = logits.clone().set_requires_grad(true);
  Tensor g = estimates.defined() ? estimates.clone().set_requires_grad(true) : Tensor();
  Tensor loss = losses::spml_loss(kind, z, labels, params, g);
  loss.backward();
  return {loss.item(), z.grad().to(DType::Float32), g.defined() ? g.grad().to(DType::Float32) : Tensor()};
}

class SpmlLossApp : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::ifstream(SPML_BIN_DIR "/spml-loss").good())
      GTEST_SKIP() << "spml-loss not built (SPML_BUILD_APPS=OFF?): " << SPML_BIN_DIR "/spml-loss";
  }
};

TEST_F(SpmlLossApp, GrAtHalfMatchesTheMethodDocAndWritesTheGradient) {
  // docs/method.md section 12: one positive per row, p = 0.5 everywhere, C = 20, epoch 1 of the defaults: loss
  // 0.531152.
  const std::string z = write_input("z", Tensor::zeros({4, 20}, DType::Float64));
  const std::string y = write_input("y", one_positive_per_row(4, 20, DType::Float64));
  const std::string grad = temp_path("grad.npy");
  const nlohmann::json j =
      parse_json_line(run_app("--loss gr --logits " + z + " --labels " + y + " --grad-out " + grad));
  EXPECT_NEAR(j["loss"].get<double>(), 0.531152, 1e-6);
  EXPECT_EQ(j["loss_name"], "gr");
  EXPECT_EQ(j["batch"], 4);
  EXPECT_EQ(j["classes"], 20);
  EXPECT_EQ(j["dtype"], "float64");
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["epoch"], 1);
  EXPECT_DOUBLE_EQ(j["gr"]["w"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["gr"]["b"].get<double>(), -2.0);
  EXPECT_DOUBLE_EQ(j["gr"]["mu"].get<double>(), 0.5375);
  EXPECT_DOUBLE_EQ(j["gr"]["sigma"].get<double>(), 1.8125);
  const Tensor written = io::read_npy_tensor(grad);
  EXPECT_EQ(written.dtype(), DType::Float32);
  EXPECT_EQ(written.shape(), (Shape{4, 20}));
  const LibraryResult lib = library_loss(LossKind::GR, Tensor::zeros({4, 20}, DType::Float64),
                                         one_positive_per_row(4, 20, DType::Float64), losses::GrSettings{}, 1);
  EXPECT_EQ(max_abs_diff(written, lib.dz), 0.0);
  EXPECT_DOUBLE_EQ(j["loss"].get<double>(), lib.loss);
}

TEST_F(SpmlLossApp, Float32GradientOfRandomLogitsEqualsTheLibrary) {
  const Tensor logits = test::random_tensor({5, 7}, 11, DType::Float32, -4, 4);
  const Tensor labels = one_positive_per_row(5, 7, DType::Float32);
  const std::string grad = temp_path("grad.npy");
  const nlohmann::json j =
      parse_json_line(run_app("--loss gr --epoch 4 --logits " + write_input("z", logits) + " --labels " +
                              write_input("y", labels.to(DType::UInt8)) + " --grad-out " + grad));
  EXPECT_EQ(j["dtype"], "float32");
  const LibraryResult lib = library_loss(LossKind::GR, logits, labels, losses::GrSettings{}, 4);
  EXPECT_EQ(j["loss"].get<double>(), lib.loss);  // the float32 loss, printed exactly
  EXPECT_EQ(max_abs_diff(io::read_npy_tensor(grad), lib.dz), 0.0);
}

TEST_F(SpmlLossApp, NegativeVectorValuesAreParsed) {
  const Tensor logits = test::random_tensor({6, 20}, 3, DType::Float64, -3, 3);
  const Tensor labels = one_positive_per_row(6, 20, DType::Float64);
  const std::string inputs = " --logits " + write_input("z", logits) + " --labels " + write_input("y", labels);
  const nlohmann::json defaults = parse_json_line(run_app("--loss gr --epoch 3" + inputs));
  const nlohmann::json explicit_defaults =
      parse_json_line(run_app("--loss gr --epoch 3 --beta 0 2 -2 -2 --alpha 0.5 2 0.8 0.5" + inputs));
  EXPECT_EQ(explicit_defaults["loss"].get<double>(), defaults["loss"].get<double>());
  EXPECT_EQ(explicit_defaults["gr"], defaults["gr"]);
  // Values that differ from the defaults must take effect (not be swallowed as flags or dropped).
  const nlohmann::json other =
      parse_json_line(run_app("--loss gr --epoch 3 --beta 0 10 -2 -8 --q2q3 0.01 1.5" + inputs));
  losses::GrSettings settings;
  settings.beta = {0, 10, -2, -8};
  settings.q2q3 = {0.01, 1.5};
  EXPECT_DOUBLE_EQ(other["gr"]["b"].get<double>(), -2.0 - 6.0 * 2.0 / 8.0);
  EXPECT_DOUBLE_EQ(other["loss"].get<double>(), library_loss(LossKind::GR, logits, labels, settings, 3).loss);
  // A vector flag with too few values is CLI11's error.
  EXPECT_NE(run_app("--loss gr --beta 0 2 -2" + inputs).exit_code, 0);
}

TEST_F(SpmlLossApp, RoleWritesBothGradients) {
  const Tensor logits = test::random_tensor({4, 9}, 5, DType::Float32, -3, 3);
  const Tensor estimates = test::random_tensor({4, 9}, 6, DType::Float32, -3, 3);
  const Tensor labels = one_positive_per_row(4, 9, DType::Float32);
  const std::string dz = temp_path("dz.npy"), dg = temp_path("dg.npy");
  const std::string inputs = " --logits " + write_input("z", logits) + " --labels " + write_input("y", labels);
  const nlohmann::json j =
      parse_json_line(run_app("--loss role" + inputs + " --label-estimates " + write_input("g", estimates) +
                              " --grad-out " + dz + " --grad-g-out " + dg));
  const LibraryResult lib = library_loss(LossKind::ROLE, logits, labels, losses::GrSettings{}, 1, estimates);
  EXPECT_EQ(j["loss"].get<double>(), lib.loss);
  EXPECT_EQ(j["expected_positives"].get<double>(), 1.5);
  EXPECT_EQ(max_abs_diff(io::read_npy_tensor(dz), lib.dz), 0.0);
  EXPECT_EQ(max_abs_diff(io::read_npy_tensor(dg), lib.dg), 0.0);
  const AppResult missing = run_app("--loss role" + inputs);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("--label-estimates"), std::string::npos) << missing.err;
}

// Exit code 1 and a message "spml-loss: error: ..." that contains every fragment.
void expect_app_error(const std::string& args, const std::vector<std::string>& fragments) {
  const AppResult r = run_app(args);
  EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("spml-loss: error: ", 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  for (const std::string& f : fragments)
    EXPECT_NE(r.err.find(f), std::string::npos) << "\"" << r.err << "\" lacks " << f;
}

TEST_F(SpmlLossApp, BadInputsNameTheInput) {
  const std::string z = write_input("z", Tensor::zeros({4, 20}));
  const std::string y = write_input("y", one_positive_per_row(4, 20, DType::Float32));
  const std::string y_wide = write_input("y_wide", Tensor::zeros({4, 21}));
  expect_app_error("--loss gr --logits " + z + " --labels " + y_wide, {y_wide, z, "[4, 21]", "[4, 20]"});
  std::vector<double> v = one_positive_per_row(4, 20, DType::Float64).to_vector<double>();
  v[2 * 20 + 7] = 2.0;  // row 2, column 7
  const std::string y_two = write_input("y_two", Tensor::from_vector(v, {4, 20}));
  expect_app_error("--loss an --logits " + z + " --labels " + y_two, {y_two, "0 or 1", "row 2", "column 7"});
  expect_app_error("--loss gr2 --logits " + z + " --labels " + y, {"gr2", "an_ls", "role"});
  const std::string missing = temp_path("does_not_exist.npy");
  expect_app_error("--loss gr --logits " + missing + " --labels " + y, {"--logits", missing});
  const std::string flat = write_input("flat", Tensor::zeros({20}));
  expect_app_error("--loss gr --logits " + z + " --labels " + flat, {"--labels", flat, "2-D"});
  expect_app_error("--loss gr --epoch 9 --logits " + z + " --labels " + y, {"epoch 9"});
  expect_app_error("--loss gr --dataset imagenet --logits " + z + " --labels " + y, {"imagenet", "cub"});
  if (!cuda_runtime::is_available())
    expect_app_error("--loss gr --device cuda --logits " + z + " --labels " + y, {"--device"});
  const AppResult unknown = run_app("--loss gr --logits " + z + " --labels " + y + " --no-such-flag");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("--no-such-flag"), std::string::npos) << unknown.err;
}

TEST_F(SpmlLossApp, CudaMatchesCpu) {
  SPML_SKIP_WITHOUT_CUDA();
  const std::string inputs = " --logits " + write_input("z", test::random_tensor({8, 20}, 9, DType::Float64, -3, 3)) +
                             " --labels " + write_input("y", one_positive_per_row(8, 20, DType::Float64));
  for (const char* loss : {"gr", "epr", "em"}) {
    const nlohmann::json cpu = parse_json_line(run_app(std::string("--loss ") + loss + inputs));
    const nlohmann::json gpu = parse_json_line(run_app(std::string("--loss ") + loss + " --device cuda" + inputs));
    EXPECT_EQ(gpu["device"], "cuda:0");
    EXPECT_NEAR(gpu["loss"].get<double>(), cpu["loss"].get<double>(), 1e-12) << loss;
  }
}

TEST_F(SpmlLossApp, BenchRunsAndReportsAgreement) {
  const AppResult r = run_app("--bench --loss gr --repeats 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gr      256   80"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gr      256  312"), std::string::npos) << r.out;
}

// --- composed losses (separate ops) against the fused op, float64 ---
class ComposedLoss : public ::testing::TestWithParam<LossKind> {};

TEST_P(ComposedLoss, MatchesFusedValueAndGradients) {
  const LossKind kind = GetParam();
  const int64_t rows = 6, cols = 11;
  std::vector<double> y(std::size_t(rows * cols), 0.0);
  for (int64_t b = 0; b + 1 < rows; ++b) y[std::size_t(b * cols + (5 * b + 2) % cols)] = 1.0;  // last row: none
  if (kind == LossKind::BCE) y[3] = y[cols + 7] = 1.0;                                         // clean: several
  const Tensor labels = Tensor::from_vector(y, {rows, cols});
  const Tensor logits = test::random_tensor({rows, cols}, 21, DType::Float64, -5, 5);
  const Tensor estimates = test::random_tensor({rows, cols}, 22, DType::Float64, -4, 4);
  const bool role = kind == LossKind::ROLE;
  for (int epoch : {1, 6}) {
    losses::GrSettings settings = training::dataset_settings("cub").gr;  // q3 = 1.5, a steeper beta
    const losses::LossParams params =
        losses::make_loss_params(losses::GrSchedule(settings, 8, 0).at(epoch), 2.5, 0.15, cols);
    Tensor zf = logits.clone().set_requires_grad(true), zc = logits.clone().set_requires_grad(true);
    Tensor gf = role ? estimates.clone().set_requires_grad(true) : Tensor();
    Tensor gc = role ? estimates.clone().set_requires_grad(true) : Tensor();
    Tensor fused = losses::spml_loss(kind, zf, labels, params, gf);
    Tensor composed = losses::composed_spml_loss(kind, zc, labels, params, gc);
    fused.backward();
    composed.backward();
    EXPECT_NEAR(composed.item(), fused.item(), 1e-13 * std::max(1.0, std::abs(fused.item()))) << epoch;
    EXPECT_LT(max_abs_diff(zc.grad(), zf.grad()), 1e-15) << epoch;
    if (role) {
      EXPECT_LT(max_abs_diff(gc.grad(), gf.grad()), 1e-15) << epoch;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllLosses, ComposedLoss,
                         ::testing::Values(LossKind::GR, LossKind::AN, LossKind::AN_LS, LossKind::WAN, LossKind::EPR,
                                           LossKind::ROLE, LossKind::EM, LossKind::BCE),
                         [](const ::testing::TestParamInfo<LossKind>& info) {
                           return std::string(losses::loss_name(info.param));
                         });

TEST(ComposedLossChecks, RejectsBadShapesAndMissingEstimates) {
  const Tensor z = Tensor::zeros({2, 3}, DType::Float64);
  EXPECT_ERROR_CONTAINS(losses::composed_spml_loss(LossKind::AN, z, Tensor::zeros({2, 4}, DType::Float64), {}),
                        "[2, 4]", "[2, 3]");
  EXPECT_ERROR_CONTAINS(losses::composed_spml_loss(LossKind::ROLE, z, Tensor::zeros({2, 3}, DType::Float64), {}),
                        "role");
}

}  // namespace
}  // namespace spml
