// The SPML losses: docs/method.md's values to test against, the GR schedule table, hand-computed values of every
// baseline (scripts/make_loss_golden.py), finite-difference checks with the stop-gradients held constant
// (and, against the composed variant that differentiates them, proof that no gradient flows through GR's K and
// V), the CPU kernel's tiles against the element math and across thread counts, CPU/CUDA parity and extreme
// logits.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "framework/autograd/autograd.h"
#include "framework/core/runtime.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "framework/testing/gradcheck.h"
#include "losses/composed_losses.h"
#include "losses/role.h"
#include "losses/spml_loss.h"
#include "test_util.h"
#include "training/dataset_settings.h"

namespace spml {
namespace {
using losses::GrSchedule;
using losses::GrSettings;
using losses::LossKind;
using V = std::vector<double>;

const LossKind kAllLosses[] = {LossKind::GR,  LossKind::AN,   LossKind::AN_LS, LossKind::WAN,
                               LossKind::EPR, LossKind::ROLE, LossKind::EM,    LossKind::BCE};

kernels::LossParams default_params(int epoch = 1, int epochs = 8, int linear_init = 0) {
  return losses::make_loss_params(GrSchedule(GrSettings{}, epochs, linear_init).at(epoch), 1.5, 0.2, 0);
}

double loss_value(LossKind kind, const V& z, const V& y, const Shape& shape, const kernels::LossParams& params,
                  const V& g = {}) {
  const Tensor gt = g.empty() ? Tensor() : Tensor::from_vector(g, shape);
  return losses::spml_loss(kind, Tensor::from_vector(z, shape), Tensor::from_vector(y, shape), params, gt).item();
}

// One observed positive per row (column 0) at p = 0.5 (logit 0).
double gr_half_batch(int64_t classes) {
  V y(std::size_t(2 * classes), 0.0);
  y[0] = y[std::size_t(classes)] = 1.0;
  return loss_value(LossKind::GR, V(y.size(), 0.0), y, {2, classes}, default_params());
}

TEST(GrSchedule, ValuesOfTheMethodDoc) {
  const auto e1 = GrSchedule(GrSettings{}, 8, 0).at(1);
  EXPECT_DOUBLE_EQ(e1.w, 0.0);
  EXPECT_DOUBLE_EQ(e1.b, -2.0);
  EXPECT_DOUBLE_EQ(e1.mu, 0.5375);
  EXPECT_DOUBLE_EQ(e1.sigma, 1.8125);
  const auto kv1 = kernels::gr_weights(0.5, default_params(1));
  EXPECT_NEAR(kv1.k, 0.1192029, 5e-8);
  EXPECT_NEAR(kv1.v, 0.9997860, 5e-8);
  const auto e8 = GrSchedule(GrSettings{}, 8, 0).at(8);
  EXPECT_DOUBLE_EQ(e8.w, 1.75);
  EXPECT_DOUBLE_EQ(e8.b, -2.0);
  EXPECT_DOUBLE_EQ(e8.mu, 0.8);
  EXPECT_DOUBLE_EQ(e8.sigma, 0.5);
  EXPECT_NEAR(kernels::gr_weights(1.0, default_params(8)).k, 0.4378, 5e-5);
  EXPECT_NEAR(kernels::gr_weights(0.0, default_params(8)).v, 0.2780, 5e-5);
}

TEST(GrSchedule, TableForEpochsOneToEight) {
  struct Row {
    double w, b, mu, sigma, k, v;
  };
  const Row table[8] = {{0.00, -2, 0.5375, 1.8125, 0.1192, 0.9998}, {0.25, -2, 0.5750, 1.6250, 0.1330, 0.9989},
                        {0.50, -2, 0.6125, 1.4375, 0.1480, 0.9969}, {0.75, -2, 0.6500, 1.2500, 0.1645, 0.9928},
                        {1.00, -2, 0.6875, 1.0625, 0.1824, 0.9845}, {1.25, -2, 0.7250, 0.8750, 0.2018, 0.9675},
                        {1.50, -2, 0.7625, 0.6875, 0.2227, 0.9297}, {1.75, -2, 0.8000, 0.5000, 0.2451, 0.8353}};
  const GrSchedule schedule(GrSettings{}, 8, 0);
  for (int e = 1; e <= 8; ++e) {
    const Row& r = table[e - 1];
    const auto v = schedule.at(e);
    EXPECT_NEAR(v.w, r.w, 1e-12) << "epoch " << e;
    EXPECT_NEAR(v.b, r.b, 1e-12) << "epoch " << e;
    EXPECT_NEAR(v.mu, r.mu, 1e-12) << "epoch " << e;
    EXPECT_NEAR(v.sigma, r.sigma, 1e-12) << "epoch " << e;
    const auto kv = kernels::gr_weights(0.5, default_params(e));
    EXPECT_NEAR(kv.k, r.k, 5e-5) << "epoch " << e;
    EXPECT_NEAR(kv.v, r.v, 5e-5) << "epoch " << e;
  }
}

TEST(GrSchedule, LinearInitOffsetsAndValidation) {
  const GrSchedule s(GrSettings{}, 10, 2);
  for (int e : {1, 2}) {  // the linear-init epochs use the initial values of both schedules
    EXPECT_DOUBLE_EQ(s.at(e).w, 0.0);
    EXPECT_DOUBLE_EQ(s.at(e).mu, 0.5);
    EXPECT_DOUBLE_EQ(s.at(e).sigma, 2.0);
  }
  EXPECT_DOUBLE_EQ(s.at(3).w, 0.0);               // f_beta = 0
  EXPECT_DOUBLE_EQ(s.at(3).mu, 0.5 + 0.3 / 8.0);  // f_alpha = 1/8
  EXPECT_DOUBLE_EQ(s.at(3).sigma, 2.0 - 1.5 / 8.0);
  EXPECT_DOUBLE_EQ(s.at(10).w, 2.0 * 7.0 / 8.0);  // beta never reaches its final value
  EXPECT_DOUBLE_EQ(s.at(10).mu, 0.8);             // alpha does
  EXPECT_ERROR_CONTAINS(GrSchedule(GrSettings{}, 8, 8), "epochs (8)", "linear_init (8)");
  EXPECT_ERROR_CONTAINS(GrSchedule(GrSettings{{0, 2, -2}, {0.5, 2, 0.8, 0.5}, {0.01, 1}}, 8, 0), "beta", "4 values");
  EXPECT_ERROR_CONTAINS(GrSchedule(GrSettings{{0, 2, -2, -2}, {0.5, 0, 0.8, 0.5}, {0.01, 1}}, 8, 0), "sigma");
  EXPECT_ERROR_CONTAINS(GrSchedule(GrSettings{{0, 2, -2, -2}, {0.5, 2, 0.8, 0.5}, {0.0, 1}}, 8, 0), "q2");
  EXPECT_ERROR_CONTAINS(GrSchedule(GrSettings{}, 8, 0).at(9), "epoch 9");
}

TEST(GrLoss, ValuesOfTheMethodDoc) {
  const kernels::LossParams a = default_params();
  EXPECT_NEAR(loss_value(LossKind::GR, {0.0}, {0.0}, {1, 1}, a), 0.522626, 5e-7);
  EXPECT_NEAR(loss_value(LossKind::GR, {0.0}, {1.0}, {1, 1}, a), 0.693147, 5e-7);
  EXPECT_NEAR(gr_half_batch(20), 0.531152, 5e-7);
  EXPECT_NEAR(gr_half_batch(80), 0.524758, 5e-7);
  EXPECT_NEAR(gr_half_batch(312), 0.523173, 5e-7);
  for (auto [y, want] : {std::pair{0.0, 0.160975}, std::pair{1.0, -0.4999999}}) {
    Tensor z = test::leaf(Tensor::from_vector<double>({0.0}, {1, 1}));
    losses::spml_loss(LossKind::GR, z, Tensor::from_vector<double>({y}, {1, 1}), a).backward();
    EXPECT_NEAR(z.grad().item(), want, 5e-7) << "y = " << y;
  }
}

// The 2 x 3 batch of scripts/make_loss_golden.py.
const V kZ = {0.5, -1.0, 2.0, -0.3, 1.5, 0.0};
const V kY = {1, 0, 0, 0, 0, 1};
const V kG = {1.0, -0.5, 0.2, 0.3, -1.2, 0.8};

TEST(SpmlLosses, HandComputedValuesOfASmallBatch) {
  const kernels::LossParams a = default_params();
  const std::pair<LossKind, double> golden[] = {
      {LossKind::GR, 0.5904681502334435},  {LossKind::AN, 0.9771627552687904},   {LossKind::AN_LS, 0.9488306736441848},
      {LossKind::WAN, 0.5858470526146033}, {LossKind::EPR, 0.20190814974905708}, {LossKind::EM, 0.12438031601498291},
      {LossKind::ROLE, 0.971964569175453}};
  for (const auto& [kind, want] : golden)
    EXPECT_NEAR(loss_value(kind, kZ, kY, {2, 3}, a, kind == LossKind::ROLE ? kG : V{}), want, 1e-13)
        << losses::loss_name(kind);
  // bce is the same formula as an, on the clean labels.
  const V clean = {1, 1, 0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(loss_value(LossKind::BCE, kZ, clean, {2, 3}, a), loss_value(LossKind::AN, kZ, clean, {2, 3}, a));
}

// A literal double-precision reference of every loss where the stop-gradient inputs (GR's K and V, ROLE's
// sg(p) and sg(Yhat)) come from the frozen logits zf / gf; with zf = z, gf = g it is the loss itself.
double reference(LossKind kind, const V& z, const V& g, const V& zf, const V& gf, const V& y, int64_t rows,
                 int64_t cols, const kernels::LossParams& a) {
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  auto nlog = [](double x, double eps) { return -std::log(x + eps); };
  const double e = 1e-5;
  double total = 0, sum_p = 0, sum_q = 0;
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double p = sig(z[i]), pf = sig(zf[i]);
    const bool pos = y[i] > 0.5;
    sum_p += p;
    switch (kind) {
      case LossKind::GR: {
        const double k = sig(a.w * pf + a.b), v = std::exp(-0.5 * std::pow((pf - a.mu) / a.sigma, 2));
        total += pos ? nlog(p, 1e-7)
                     : v * (k * (1 - std::pow(p, a.q2)) / a.q2 + (1 - k) * (1 - std::pow(1 - p, a.q3)) / a.q3);
        break;
      }
      case LossKind::AN:
      case LossKind::BCE:
        total += pos ? nlog(p, e) : nlog(1 - p, e);
        break;
      case LossKind::AN_LS:
        total += pos ? 0.9 * nlog(p, e) + 0.1 * nlog(1 - p, e) : 0.9 * nlog(1 - p, e) + 0.1 * nlog(p, e);
        break;
      case LossKind::WAN:
        total += pos ? nlog(p, e) : nlog(1 - p, e) / double(cols - 1);
        break;
      case LossKind::EPR:
        total += pos ? nlog(p, e) : 0.0;
        break;
      case LossKind::EM:
        total += pos ? nlog(p, e) : a.em_alpha * (p * std::log(p + e) + (1 - p) * std::log(1 - p + e));
        break;
      case LossKind::ROLE: {
        const double q = sig(g[i]), qf = sig(gf[i]);
        sum_q += q;
        total += 0.5 * (qf * nlog(p, e) + (1 - qf) * nlog(1 - p, e) + pf * nlog(q, e) + (1 - pf) * nlog(1 - q, e));
        if (pos) total += 0.5 * (nlog(p, e) + nlog(q, e));
        break;
      }
      case LossKind::EM_APL:
      case LossKind::LL_R:
      case LossKind::LL_CT:
      case LossKind::LL_CP:  // they take an aux input (targets, a selection): tests/test_label_losses.cpp
        ADD_FAILURE() << "no literal reference here for " << losses::loss_name(kind);
        return std::nan("");
    }
  }
  double loss = total / double(rows * cols);
  auto reg = [&](double s) { return std::pow(s / double(rows) - a.expected_positives, 2) / double(cols * cols); };
  if (kind == LossKind::EPR) loss += reg(sum_p);
  if (kind == LossKind::ROLE) loss += 0.5 * (reg(sum_p) + reg(sum_q));
  return loss;
}

struct Batch {
  V z, y, g;
  int64_t rows, cols;
};

// Random logits in [-4, 4], one observed positive per row except the last row (all unobserved).
Batch random_batch(int64_t rows, int64_t cols, uint64_t seed) {
  Batch b{test::random_tensor({rows, cols}, seed, DType::Float64, -4, 4).to_vector<double>(),
          V(std::size_t(rows * cols), 0.0),
          test::random_tensor({rows, cols}, seed + 1, DType::Float64, -3, 3).to_vector<double>(), rows, cols};
  for (int64_t r = 0; r + 1 < rows; ++r) b.y[std::size_t(r * cols + (r * 7 + 3) % cols)] = 1.0;
  return b;
}

TEST(SpmlLosses, FusedGradientEqualsFiniteDifferencesWithStopGradientsHeld) {
  const Batch b = random_batch(4, 5, 31);
  kernels::LossParams a = default_params(5);
  a.expected_positives = 1.5;
  for (LossKind kind : kAllLosses) {
    const bool role = kind == LossKind::ROLE;
    Tensor z = test::leaf(Tensor::from_vector(b.z, {b.rows, b.cols}));
    Tensor g = role ? test::leaf(Tensor::from_vector(b.g, {b.rows, b.cols})) : Tensor();
    const Tensor loss = losses::spml_loss(kind, z, Tensor::from_vector(b.y, {b.rows, b.cols}), a, g);
    EXPECT_NEAR(loss.item(), reference(kind, b.z, b.g, b.z, b.g, b.y, b.rows, b.cols, a), 1e-13)
        << losses::loss_name(kind);
    loss.backward();
    const V dz = z.grad().to_vector<double>();
    const V dg = role ? g.grad().to_vector<double>() : V{};
    const double h = 1e-6;
    for (std::size_t i = 0; i < b.z.size(); ++i) {
      for (int which = 0; which < (role ? 2 : 1); ++which) {
        V zp = b.z, zm = b.z, gp = b.g, gm = b.g;
        (which ? gp : zp)[i] += h;
        (which ? gm : zm)[i] -= h;
        const double numeric = (reference(kind, zp, gp, b.z, b.g, b.y, b.rows, b.cols, a) -
                                reference(kind, zm, gm, b.z, b.g, b.y, b.rows, b.cols, a)) /
                               (2 * h);
        EXPECT_NEAR((which ? dg : dz)[i], numeric, 1e-8)
            << losses::loss_name(kind) << (which ? " dL/dg " : " dL/dz ") << "element " << i;
      }
    }
  }
}

TEST(SpmlLosses, NoGradientFlowsThroughGrKAndV) {
  const Batch b = random_batch(3, 6, 41);
  const kernels::LossParams a = default_params(8);  // w = 1.75: K depends strongly on p
  const Tensor y = Tensor::from_vector(b.y, {b.rows, b.cols});
  // The composed variant that differentiates K and V is exactly the derivative of the whole function (numeric) ...
  Tensor z_full = test::leaf(Tensor::from_vector(b.z, {b.rows, b.cols}));
  const testing::GradCheckResult full = testing::gradcheck(
      [&](const std::vector<Tensor>& v) { return losses::composed_gr_loss_through_kv(v[0], y, a); }, {z_full});
  EXPECT_TRUE(full.ok) << full.message;
  // ... has the GR op's value (the same function, summed by other ops) ...
  Tensor z1 = test::leaf(Tensor::from_vector(b.z, {b.rows, b.cols}));
  Tensor z2 = test::leaf(Tensor::from_vector(b.z, {b.rows, b.cols}));
  const Tensor fused = losses::spml_loss(LossKind::GR, z1, y, a);
  const Tensor through_kv = losses::composed_gr_loss_through_kv(z2, y, a);
  EXPECT_NEAR(fused.item(), through_kv.item(), 1e-13 * std::max(1.0, std::fabs(fused.item())));
  // ... and a gradient that differs clearly from the GR op's, which holds K and V constant.
  fused.backward();
  through_kv.backward();
  EXPECT_GT(max_abs_diff(z1.grad(), z2.grad()), 1e-3);
}

TEST(SpmlLosses, ExtremeLogitsGiveFiniteValuesAndGradients) {
  for (double m : {30.0, 100.0}) {
    const V z = {m, -m, m, -m, 0.0, m};
    for (LossKind kind : kAllLosses) {
      Tensor zt = test::leaf(Tensor::from_vector(z, {2, 3}).to(DType::Float32));
      Tensor gt = kind == LossKind::ROLE
                      ? test::leaf(Tensor::from_vector(V{-m, m, 0, m, -m, 1}, {2, 3}).to(DType::Float32))
                      : Tensor();
      const Tensor loss =
          losses::spml_loss(kind, zt, Tensor::from_vector(kY, {2, 3}).to(DType::Float32), default_params(), gt);
      loss.backward();
      EXPECT_TRUE(std::isfinite(loss.item())) << losses::loss_name(kind) << " |z| = " << m;
      for (float d : zt.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(d)) << losses::loss_name(kind);
    }
  }
}

TEST(SpmlLosses, BadInputsNameTheProblem) {
  const Tensor z = Tensor::zeros({2, 3}), y = Tensor::zeros({2, 3});
  EXPECT_ERROR_CONTAINS(losses::spml_loss(LossKind::AN, z, Tensor::zeros({2, 4}), default_params()), "loss an",
                        "[2, 4]", "[2, 3]");
  EXPECT_ERROR_CONTAINS(
      losses::spml_loss(LossKind::GR, z, Tensor::from_vector<float>({0, 0, 0, 0, 2, 0}, {2, 3}), default_params()),
      "labels must be 0 or 1", "found 2", "row 1, column 1");
  EXPECT_ERROR_CONTAINS(losses::spml_loss(LossKind::ROLE, z, y, default_params()), "role", "label-estimate");
  EXPECT_ERROR_CONTAINS(losses::spml_loss(LossKind::AN, z, Tensor::zeros({2, 3}, DType::Float64), default_params()),
                        "float64[2, 3]", "float32[2, 3]");
  EXPECT_ERROR_CONTAINS(losses::parse_loss_name("gr2"), "unknown loss 'gr2'", "gr, an, an_ls, wan, epr, role, em, bce");
  EXPECT_ERROR_CONTAINS(training::dataset_settings("imagenet"), "imagenet", "voc, coco");
}

TEST(SpmlLosses, DatasetTable) {
  EXPECT_DOUBLE_EQ(training::dataset_settings("voc").expected_positives, 1.5);
  EXPECT_DOUBLE_EQ(training::dataset_settings("coco").expected_positives, 2.9);
  EXPECT_DOUBLE_EQ(training::dataset_settings("nuswide").em_alpha, 0.1);
  EXPECT_DOUBLE_EQ(training::dataset_settings("cub").gr.q2q3[1], 1.5);
  EXPECT_EQ(training::dataset_settings("coco").gr.beta, (V{0, 10, -2, -8}));
  EXPECT_DOUBLE_EQ(training::dataset_settings("fashion-mosaic").expected_positives, 1.76);
  EXPECT_EQ(training::dataset_settings("fashion-mosaic").gr.beta, (V{0, 2, -2, -2}));
}

// The CPU kernel works on tiles of 256 classes in vectorised passes: at C = 312 (a full and a partial tile), with
// moderate and extreme logits and GR's q3 = 1 and 1.5, the loss equals the literal reference and dL/dz the
// per-element functions the CUDA kernel runs (spml_element, role_element: libm's pow for GR's powers).
TEST(SpmlLosses, CpuTilesAtC312MatchTheReferenceAndTheElementMath) {
  const int64_t rows = 6, cols = 312;
  const double n = double(rows * cols);
  for (double scale : {1.0, 30.0}) {
    Batch b = random_batch(rows, cols, 61);
    for (double& v : b.z) v *= scale / 4.0;
    for (double q3 : {1.0, 1.5}) {
      kernels::LossParams a = default_params(5);
      a.q3 = q3;
      a.num_classes = double(cols);
      for (LossKind kind : kAllLosses) {
        if (q3 != 1.0 && kind != LossKind::GR) continue;
        const bool role = kind == LossKind::ROLE;
        Tensor z = test::leaf(Tensor::from_vector(b.z, {rows, cols}));
        Tensor g = role ? test::leaf(Tensor::from_vector(b.g, {rows, cols})) : Tensor();
        const Tensor loss = losses::spml_loss(kind, z, Tensor::from_vector(b.y, {rows, cols}), a, g);
        loss.backward();
        const double want = reference(kind, b.z, b.g, b.z, b.g, b.y, rows, cols, a);
        const std::string what = std::string(losses::loss_name(kind)) + " scale " + std::to_string(scale);
        EXPECT_NEAR(loss.item(), want, 1e-13 * std::max(1.0, std::fabs(want))) << what;
        // dL/dz (and dL/dg): the element parts plus the regularisers' coef * p (1 - p) (EPR weight 1, ROLE 0.5).
        const auto coef = [&](const V& x, double weight) {
          double sum = 0;
          for (double v : x) sum += 1 / (1 + std::exp(-v));
          return weight * 2 * (sum / double(rows) - a.expected_positives) /
                 (double(cols) * double(cols) * double(rows));
        };
        const double cp = kind == LossKind::EPR ? coef(b.z, 1.0) : role ? coef(b.z, 0.5) : 0.0;
        const double cq = role ? coef(b.g, 0.5) : 0.0;
        const V dz = z.grad().to_vector<double>(), dg = role ? g.grad().to_vector<double>() : V{};
        double worst = 0, largest = 0;
        for (std::size_t i = 0; i < b.z.size(); ++i) {
          const double p = kernels::SigmoidOp::fwd(b.z[i], 0.0), q = kernels::SigmoidOp::fwd(b.g[i], 0.0);
          double want_dz, want_dg = 0;
          if (role) {
            const kernels::RoleElementLoss<double> e = kernels::role_element(b.z[i], b.g[i], b.y[i]);
            want_dz = e.dz / n + cp * p * (1 - p);
            want_dg = e.dg / n + cq * q * (1 - q);
          } else {
            want_dz = kernels::spml_element(kind, b.z[i], b.y[i], a).dz / n + cp * p * (1 - p);
          }
          worst = std::max(worst, std::fabs(dz[i] - want_dz));
          if (role) worst = std::max(worst, std::fabs(dg[i] - want_dg));
          largest = std::max(largest, std::fabs(want_dz));
        }
        EXPECT_LE(worst, 1e-13 * largest) << what << " dL/dz";
      }
    }
  }
}

// Rows are split between threads for large batches; every row sums its losses in a fixed order and the rows add
// up in row order, so the loss and the gradients are the same bits for any thread count.
TEST(SpmlLosses, CpuResultsDoNotDependOnTheThreadCount) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Batch b = random_batch(300, 312, 71);
    const Tensor y = Tensor::from_vector(b.y, {300, 312}).to(dtype);
    for (LossKind kind : kAllLosses) {
      std::vector<Tensor> results;
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        Tensor z = test::leaf(Tensor::from_vector(b.z, {300, 312}).to(dtype));
        Tensor g = kind == LossKind::ROLE ? test::leaf(Tensor::from_vector(b.g, {300, 312}).to(dtype)) : Tensor();
        const Tensor loss = losses::spml_loss(kind, z, y, default_params(3), g);
        loss.backward();
        results.insert(results.end(), {loss, z.grad()});
        if (g.defined()) results.push_back(g.grad());
      }
      set_num_threads(0);
      const std::size_t half = results.size() / 2;
      for (std::size_t i = 0; i < half; ++i)
        EXPECT_EQ(results[i].to(DType::Float64).to_vector<double>(),
                  results[half + i].to(DType::Float64).to_vector<double>())
            << losses::loss_name(kind) << " " << dtype_name(dtype) << " output " << i;
    }
  }
}

// Every loss at a training shape with extreme logits, tighter than the op table's generic loss rows.
class LossCudaParity : public test::CudaDTypeTest {};

TEST_P(LossCudaParity, EveryLossAtB8C312AndExtremeLogits) {
  const DType dt = GetParam();
  const double tol = dt == DType::Float64 ? 1e-12 : 1e-5;
  for (double scale : {1.0, 30.0, 100.0}) {
    Batch b = random_batch(8, 312, 51);
    for (double& v : b.z) v *= scale / 4.0;
    for (LossKind kind : kAllLosses) {
      const bool role = kind == LossKind::ROLE;
      const Tensor zc = Tensor::from_vector(b.z, {8, 312}).to(dt), yc = Tensor::from_vector(b.y, {8, 312}).to(dt);
      const Tensor gc = Tensor::from_vector(b.g, {8, 312}).to(dt);
      Tensor z1 = test::leaf(zc.clone()), z2 = test::leaf(zc.to(Device::cuda()));
      Tensor g1 = role ? test::leaf(gc.clone()) : Tensor(), g2 = role ? test::leaf(gc.to(Device::cuda())) : Tensor();
      const Tensor l1 = losses::spml_loss(kind, z1, yc, default_params(3), g1);
      const Tensor l2 = losses::spml_loss(kind, z2, yc.to(Device::cuda()), default_params(3), g2);
      l1.backward();
      l2.backward();
      const std::string what = std::string(losses::loss_name(kind)) + " scale " + std::to_string(scale);
      EXPECT_TRUE(std::isfinite(l2.item())) << what;
      EXPECT_NEAR(l1.item(), l2.item(), tol * std::max(1.0, std::fabs(l1.item()))) << what;
      EXPECT_LE(max_abs_diff(z1.grad(), z2.grad()), tol) << what;
      if (role) {
        EXPECT_LE(max_abs_diff(g1.grad(), g2.grad()), tol) << what;
      }
    }
  }
}

SPML_INSTANTIATE_FLOAT_DTYPES(LossCudaParity);

}  // namespace
}  // namespace spml

namespace spml {
namespace {
TEST(Role, LabelEstimatesInitGatherAndDenseAdam) {
  const Tensor observed = Tensor::from_vector<float>({1, 0, 0, 0, 0, 1, 0, 1, 0}, {3, 3});
  losses::RoleLabelEstimates estimates(observed, 5, DType::Float64);
  const std::vector<double> g = estimates.logits().to_vector<double>();
  EXPECT_NEAR(g[0], std::log(0.995 / 0.005), 1e-12);
  for (std::size_t i : {1u, 2u, 3u, 4u, 6u, 8u}) EXPECT_LT(std::fabs(g[i]), std::log(1.5)) << i;
  // Rows of a batch (dataset indices 2 and 0) feed the ROLE loss; only those rows get gradient ...
  const Tensor idx = Tensor::from_vector<int64_t>({2, 0}, {2});
  Tensor z = test::leaf(Tensor::from_vector<double>({0.3, -0.2, 0.1, 0.5, 0.4, -0.6}, {2, 3}));
  const Tensor y = Tensor::from_vector<double>({0, 1, 0, 1, 0, 0}, {2, 3});
  losses::spml_loss(LossKind::ROLE, z, y, default_params(), estimates.rows(idx)).backward();
  const std::vector<double> grad = estimates.logits().grad().to_vector<double>();
  for (int c = 0; c < 3; ++c) EXPECT_EQ(grad[std::size_t(3 + c)], 0.0);  // row 1 is not in the batch
  EXPECT_NE(grad[0], 0.0);
  EXPECT_NE(grad[6], 0.0);
  // ... but a dense Adam (the trainer's group at lr x 10) still moves every row with a gradient entry: the batch
  // rows now, and later all rows whose moments are non-zero.
  optim::Adam adam({{{estimates.logits()}, 1e-3 * losses::RoleLabelEstimates::kLrMultiplier, "label_estimates"}});
  adam.step();
  const std::vector<double> after = estimates.logits().to_vector<double>();
  EXPECT_NEAR(after[0], g[0] - 1e-2 * (grad[0] > 0 ? 1 : -1), 1e-6);  // a first Adam step moves by ~lr
  EXPECT_EQ(after[3], g[3]);
  EXPECT_ERROR_CONTAINS(estimates.rows(Tensor::from_vector<int64_t>({3}, {1})), "index 3", "[3, 3]");
}
}  // namespace
}  // namespace spml
