// The losses that change the training labels as they train (docs/method.md section 5.2): LL-R / LL-Ct / LL-Cp and
// EM+APL. Values and dL/dz against Debian's PyTorch (scripts/make_large_loss_apl_golden.py), the large-loss selection's
// tie rule and k per epoch, EM+APL's after-epoch pass, LL-Cp's flips, and the label state in a checkpoint.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/ops/ops.h"
#include "losses/spml_loss.h"
#include "test_util.h"
#include "training/label_state.h"

namespace spml {
namespace {
using losses::LossKind;
using V = std::vector<double>;

// The golden script's batch: 3 rows x 4 classes, one observed positive per row.
const V kZ = {0.5, -1.0, 2.0, 0.3, -0.3, 1.5, 0.0, -2.2, 1.1, -0.7, 0.9, 2.5};
const V kY = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
const Shape kShape{3, 4};

struct LossAndGrad {
  double loss;
  V dz;
};

LossAndGrad run_loss(LossKind kind, const V& z, const V& y, const Tensor& aux, kernels::LossParams params = {}) {
  Tensor logits = Tensor::from_vector(z, kShape);
  logits.set_requires_grad(true);
  const Tensor loss = losses::spml_loss(kind, logits, Tensor::from_vector(y, kShape), params, aux);
  loss.backward();
  return {loss.item(), logits.grad().to_vector<double>()};
}

void expect_near_all(const V& got, const V& want, double tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tolerance) << what << " element " << i;
}

TEST(LargeLoss, SelectionPicksTheLargestUnobservedLogits) {
  const Tensor z = Tensor::from_vector(kZ, kShape), y = Tensor::from_vector(kY, kShape);
  // Unobserved logits, largest first: 2.0 (0, 2), 1.5 (1, 1), 1.1 (2, 0), 0.9 (2, 2), ...; 2.5 and 0.5 are observed.
  EXPECT_EQ(losses::large_loss_selection(z, y, 3).to_vector<double>(), (V{0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(losses::large_loss_selection(z, y, 0).to_vector<double>(), V(12, 0.0));
  // More than there are: every unobserved entry, never an observed one.
  V all_unobserved(12);
  for (std::size_t i = 0; i < 12; ++i) all_unobserved[i] = 1.0 - kY[i];
  EXPECT_EQ(losses::large_loss_selection(z, y, 100).to_vector<double>(), all_unobserved);
  EXPECT_ERROR_CONTAINS(losses::large_loss_selection(z, y, -1), "k must be >= 0");
}

TEST(LargeLoss, TiesGoToTheLowerIndex) {
  const V z = {1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
  const V y = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};  // index 3 observed, index 4 lower
  const V mask = losses::large_loss_selection(Tensor::from_vector(z, kShape), Tensor::from_vector(y, kShape), 4)
                     .to_vector<double>();
  EXPECT_EQ(mask, (V{1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  // float32 keys order the same way (the CUDA kernel sorts the same keys).
  const V mask32 = losses::large_loss_selection(Tensor::from_vector(z, kShape).to(DType::Float32),
                                                Tensor::from_vector(y, kShape).to(DType::Float32), 4)
                       .to(DType::Float64)
                       .to_vector<double>();
  EXPECT_EQ(mask32, mask);
}

TEST(LargeLoss, ValuesAndGradientsMatchPyTorch) {
  const Tensor y = Tensor::from_vector(kY, kShape);
  const Tensor none = Tensor::zeros(kShape, DType::Float64);
  const Tensor picked = losses::large_loss_selection(Tensor::from_vector(kZ, kShape), y, 3);
  // scripts/make_large_loss_apl_golden.py (torch.nn.functional.binary_cross_entropy_with_logits, float64).
  const V an_dz = {-0.031461722399845446, 0.022411785114166256, 0.07339975649815686,   0.04787020973430492,
                   0.035463123599028416,  0.0681312063494703,   -0.041666666666666664, 0.008312540759973761,
                   0.06252167546625981,   0.027651018985986157, 0.05924579188541699,   -0.006321515001770287};
  for (LossKind kind : {LossKind::LL_R, LossKind::LL_CT, LossKind::LL_CP}) {
    const LossAndGrad epoch_one = run_loss(kind, kZ, kY, none);
    EXPECT_NEAR(epoch_one.loss, 0.8277654944179398, 1e-14) << losses::loss_name(kind);
    expect_near_all(epoch_one.dz, an_dz, 1e-15, losses::loss_name(kind));
  }
  const LossAndGrad rejected = run_loss(LossKind::LL_R, kZ, kY, picked);
  EXPECT_NEAR(rejected.loss, 0.3931257765728433, 1e-14);
  expect_near_all(rejected.dz,
                  {-0.031461722399845446, 0.022411785114166256, 0.0, 0.04787020973430492, 0.035463123599028416, 0.0,
                   -0.041666666666666664, 0.008312540759973761, 0.0, 0.027651018985986157, 0.05924579188541699,
                   -0.006321515001770287},
                  1e-15, "ll_r");
  const V corrected_dz = {-0.031461722399845446, 0.022411785114166256,  -0.009933576835176473, 0.04787020973430492,
                          0.035463123599028416,  -0.015202126983863029, -0.041666666666666664, 0.008312540759973761,
                          -0.020811657867073525, 0.027651018985986157,  0.05924579188541699,   -0.006321515001770287};
  for (LossKind kind : {LossKind::LL_CT, LossKind::LL_CP}) {
    const LossAndGrad corrected = run_loss(kind, kZ, kY, picked);
    EXPECT_NEAR(corrected.loss, 0.4444321610846063, 1e-14) << losses::loss_name(kind);
    expect_near_all(corrected.dz, corrected_dz, 1e-15, losses::loss_name(kind));
  }
}

TEST(LargeLoss, SoftplusStaysExactAtLargeLogits) {
  // Every entry costs log(1 + e^-30) = 9.36e-14, far below float64's rounding of 1 + e^-30: a plain log(1 + e) would
  // give 0. Positives at z = 30 and unobserved entries at z = -30.
  const V z = {30, -30, -30, -30, -30, 30, -30, -30, -30, -30, -30, 30};
  const V y = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  const LossAndGrad r = run_loss(LossKind::LL_R, z, y, Tensor::zeros(kShape, DType::Float64));
  EXPECT_NEAR(r.loss / std::log1p(std::exp(-30.0)), 1.0, 1e-12);
  const LossAndGrad r32 = [&] {
    Tensor logits = Tensor::from_vector(z, kShape).to(DType::Float32);
    const Tensor loss = losses::spml_loss(LossKind::LL_R, logits, Tensor::from_vector(y, kShape).to(DType::Float32), {},
                                          Tensor::zeros(kShape, DType::Float32));
    return LossAndGrad{loss.to(DType::Float64).item(), {}};
  }();
  EXPECT_NEAR(r32.loss / std::log1p(std::exp(-30.0)), 1.0, 1e-6);
}

TEST(LargeLoss, CountPerEpochFollowsTheCleanRate) {
  // scripts/make_large_loss_apl_golden.py: the clean rate lowered by delta once per epoch, k = ceil(n (1 - rate)).
  const std::vector<int64_t> r_1_320 = {0, 4, 7, 10, 13, 17};
  const std::vector<int64_t> ct_02_1280 = {0, 3, 6, 8, 11, 13, 16, 18, 21, 24};
  const std::vector<int64_t> r_03_100 = {0, 1, 1, 1, 2, 2, 2, 3, 3, 3};
  for (int e = 1; e <= 6; ++e) EXPECT_EQ(losses::large_loss_count(LossKind::LL_R, e, 1.0, 320), r_1_320[e - 1]) << e;
  for (int e = 1; e <= 10; ++e)
    EXPECT_EQ(losses::large_loss_count(LossKind::LL_CT, e, 0.2, 1280), ct_02_1280[e - 1]) << e;
  for (int e = 1; e <= 10; ++e) EXPECT_EQ(losses::large_loss_count(LossKind::LL_R, e, 0.3, 100), r_03_100[e - 1]) << e;
  // LL-Cp: a fixed share from epoch 2 on.
  EXPECT_EQ(losses::large_loss_count(LossKind::LL_CP, 1, 0.2, 1280), 0);
  EXPECT_EQ(losses::large_loss_count(LossKind::LL_CP, 2, 0.2, 1280), 3);
  EXPECT_EQ(losses::large_loss_count(LossKind::LL_CP, 9, 0.2, 1280), 3);
  // The clean rate below 0 caps k at the batch's entries.
  EXPECT_EQ(losses::large_loss_count(LossKind::LL_R, 200, 1.0, 50), 50);
  EXPECT_ERROR_CONTAINS(losses::large_loss_count(LossKind::AN, 2, 1.0, 50), "not ll_r, ll_ct or ll_cp");
}

TEST(EmApl, ValuesAndGradientsMatchPyTorch) {
  const V targets = {-1, 0.3, -1, -1, -1, -1, -1, 0.05, 0.6, -1, -1, -1};
  kernels::LossParams params;
  params.em_alpha = 0.2;
  params.apl_beta = 0.5;
  const LossAndGrad r = run_loss(LossKind::EM_APL, kZ, kY, Tensor::from_vector(targets, kShape), params);
  EXPECT_NEAR(r.loss, 0.11130534661811785, 1e-14);
  expect_near_all(r.dz,
                  {-0.03146121696574898, -0.0012938749670246674, 0.0034997861740728047, 0.0012222915579462178,
                   -0.0012222915579462165, 0.0037286612982097922, -0.04166583334999967, 0.002073081189824536,
                   0.006260420275502164, -0.0025866501871553583, 0.003082504608423178, -0.0063214465983449505},
                  1e-15, "em_apl");
  // With no entry pseudo-labelled it is EM.
  const LossAndGrad plain = run_loss(LossKind::EM_APL, kZ, kY, Tensor::full(kShape, -1.0, DType::Float64), params);
  Tensor logits = Tensor::from_vector(kZ, kShape);
  EXPECT_DOUBLE_EQ(plain.loss, losses::spml_loss(LossKind::EM, logits, Tensor::from_vector(kY, kShape), params).item());
}

TEST(EmApl, MissingOrMismatchedSecondInputIsAClearError) {
  const Tensor z = Tensor::from_vector(kZ, kShape), y = Tensor::from_vector(kY, kShape);
  EXPECT_ERROR_CONTAINS(losses::spml_loss(LossKind::EM_APL, z, y, {}), "needs the soft targets");
  EXPECT_ERROR_CONTAINS(losses::spml_loss(LossKind::LL_CT, z, y, {}), "needs the large-loss selection mask");
  EXPECT_ERROR_CONTAINS(losses::spml_loss(LossKind::LL_R, z, y, {}, Tensor::zeros({3, 5}, DType::Float64)),
                        "do not match logits");
}

TEST(EmApl, PseudoLabellingPassMatchesTheReference) {
  // scripts/make_large_loss_apl_golden.py: 6 rows x 3 classes, T = 4, warm-up 2 (quota int(0.9 U_c / 2)).
  const V observed = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
  const V p1 = {0.9,   0.25,    0.125, 0.5, 0.75, 0.0625, 0.0625, 0.25,  0.5,
                0.125, 0.03125, 0.875, 0.8, 0.5,  0.25,   0.0625, 0.375, 0.3125};
  const V p2 = {0.9, 0.125, 0.5,   0.0078125, 0.75,   0.25,  0.25,  0.0625, 0.015625,
                0.5, 0.5,   0.875, 0.8,       0.0625, 0.125, 0.375, 0.25,   0.0625};
  training::TrainLabelState state(Tensor::from_vector(observed, {6, 3}).to(DType::Float32));
  EXPECT_EQ(state.pseudo_label(Tensor::from_vector(p1, {6, 3}).to(DType::Float32), 4, 2), 5);
  EXPECT_EQ(state.apl_targets().to(DType::Float64).to_vector<double>(),
            (V{-1, 0.25, 0.125, -1, -1, 0.0625, 0.0625, -1, -1, -1, 0.03125, -1, -1, -1, -1, -1, -1, -1}));
  EXPECT_EQ(state.pseudo_label(Tensor::from_vector(p2, {6, 3}).to(DType::Float32), 4, 2), 5);
  EXPECT_EQ(state.apl_targets().to(DType::Float64).to_vector<double>(),
            (V{-1, 0.25, 0.125, 0.0078125, -1, 0.0625, 0.0625, 0.0625, 0.015625, -1, 0.03125, -1, -1, 0.0625, -1, -1,
               -1, 0.0625}));
  EXPECT_EQ(state.pseudo_labelled_count(), 10);
  // The rows of a batch, in its order.
  const Tensor rows = state.apl_target_rows(Tensor::from_vector(std::vector<int64_t>{3, 0}, {2}));
  EXPECT_EQ(rows.to(DType::Float64).to_vector<double>(), (V{-1, 0.03125, -1, -1, 0.25, 0.125}));
}

TEST(LargeLoss, LlCpFlipsOnlyUnobservedEntriesOfTheBatchRows) {
  const V observed = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
  training::TrainLabelState state(Tensor::from_vector(observed, {4, 3}).to(DType::Float32));
  const Tensor indices = Tensor::from_vector(std::vector<int64_t>{2, 0}, {2});
  const Tensor mask = Tensor::from_vector(V{0, 1, 1, 1, 0, 0}, {2, 3}).to(DType::Float32);
  EXPECT_EQ(state.flip_to_positive(indices, mask), 2);  // row 2: two flips; row 0: column 0 is positive already
  EXPECT_EQ(state.labels().to(DType::Float64).to_vector<double>(), (V{1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1}));
  EXPECT_EQ(state.flipped_count(), 2);
  EXPECT_EQ(state.label_rows(indices).to(DType::Float64).to_vector<double>(), (V{0, 1, 1, 1, 0, 0}));
  EXPECT_EQ(state.flip_to_positive(indices, mask), 0);  // flips are permanent and counted once
  EXPECT_ERROR_CONTAINS(state.label_rows(Tensor::from_vector(std::vector<int64_t>{4}, {1})), "outside [0, 4)");
}

}  // namespace
}  // namespace spml
