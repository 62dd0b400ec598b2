// mAP against scikit-learn 1.2's average_precision_score (values computed offline and written here), ties
// included, and the SPML convention that a class without positives counts as AP 0. Cole et al.'s ranking metrics
// (recall@k, precision@k, top-k) by hand and against numpy on a 40 x 7 golden (scripts/make_ranking_metrics_golden.py,
// tests/data/golden/ranking_metrics_*.npy), and the JSON of one split's metrics (training/split_metrics.h).
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

#include "framework/io/npy_tensor.h"
#include "framework/metrics/average_precision.h"
#include "framework/metrics/ranking_metrics.h"
#include "test_util.h"
#include "training/split_metrics.h"

namespace spml {
namespace {
TEST(Metrics, AveragePrecisionMatchesScikitLearn) {
  EXPECT_NEAR(metrics::average_precision({0.9, 0.8, 0.7, 0.6, 0.5}, {1, 0, 1, 0, 1}), 0.7555555555555555, 1e-15);
  EXPECT_NEAR(metrics::average_precision({0.5, 0.5, 0.5, 0.2, 0.9, 0.2}, {1, 0, 0, 1, 0, 1}), 0.4166666666666667,
              1e-15);  // ties form one threshold
  EXPECT_NEAR(metrics::average_precision({0.3, 0.3, 0.3, 0.3}, {0, 1, 0, 1}), 0.5, 1e-15);
  EXPECT_DOUBLE_EQ(metrics::average_precision({0.1, 0.9, 0.8, 0.2}, {0, 1, 1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(metrics::average_precision({0.1, 0.9}, {0, 0}), 0.0);
}

TEST(Metrics, MeanAveragePrecisionWithTiesAndAnEmptyClass) {
  // sklearn on np.round(RandomState(0).rand(30, 4), 1) and (rand(30, 4) < 0.3), last column without positives.
  const std::vector<double> s = {
      0.5, 0.7, 0.6, 0.5, 0.4, 0.6, 0.4, 0.9, 1.0, 0.4, 0.8, 0.5, 0.6, 0.9, 0.1, 0.1, 0.0, 0.8, 0.8, 0.9,
      1.0, 0.8, 0.5, 0.8, 0.1, 0.6, 0.1, 0.9, 0.5, 0.4, 0.3, 0.8, 0.5, 0.6, 0.0, 0.6, 0.6, 0.6, 0.9, 0.7,
      0.4, 0.4, 0.7, 0.1, 0.7, 0.7, 0.2, 0.1, 0.3, 0.4, 0.6, 0.4, 1.0, 0.1, 0.2, 0.2, 0.7, 0.3, 0.5, 0.2,
      0.2, 0.1, 0.7, 0.1, 0.2, 0.4, 0.8, 0.1, 0.8, 0.1, 1.0, 0.5, 1.0, 0.6, 0.7, 0.0, 0.3, 0.1, 0.3, 0.1,
      0.3, 0.4, 0.1, 0.7, 0.6, 0.3, 0.5, 0.1, 0.6, 0.9, 0.3, 0.7, 0.1, 0.7, 0.3, 0.2, 0.6, 0.0, 0.8, 0.0,
      0.7, 0.3, 0.7, 1.0, 0.2, 0.6, 0.6, 0.6, 0.2, 1.0, 0.4, 0.8, 0.7, 0.3, 0.8, 0.4, 0.9, 0.6, 0.9, 0.7};
  const std::vector<double> y = {0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                                 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0,
                                 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0};
  const metrics::MapResult r =
      metrics::mean_average_precision(Tensor::from_vector(s, {30, 4}), Tensor::from_vector(y, {30, 4}));
  const std::vector<double> want = {0.3330716586151369, 0.24950123152709358, 0.308271039305522, 0.0};
  ASSERT_EQ(r.per_class_ap.size(), 4u);
  for (std::size_t j = 0; j < 4; ++j) EXPECT_NEAR(r.per_class_ap[j], want[j], 1e-14) << "class " << j;
  EXPECT_NEAR(r.map_percent, 22.27109823619381, 1e-12);
  EXPECT_ERROR_CONTAINS(metrics::mean_average_precision(Tensor::zeros({2, 3}), Tensor::full({2, 3}, 2.0)), "label 2",
                        "row 0, column 0");
  EXPECT_ERROR_CONTAINS(metrics::mean_average_precision(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})), "[N, C]");
}

// Four rows of three classes, computed by hand. Row 0: scores tied at 0.5 for classes 0 and 1, the higher index (1, a
// negative) ranks first. Row 1: a tie of two positives above a negative. Row 2: no positive. Row 3: distinct scores.
// Rankings: row 0 -> 1, 0, 2; row 1 -> 2, 1, 0; row 3 -> 1, 2, 0. k = 5 > C ranks all three classes and divides
// precision by 5.
const std::vector<double> kHandScores = {0.5, 0.5, 0.2, 0.1, 0.9, 0.9, 0.3, 0.2, 0.1, 0.2, 0.7, 0.4};
const std::vector<double> kHandLabels = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0};

void expect_ranking(const metrics::RankingMetrics& r, const std::vector<double>& recall,
                    const std::vector<double>& precision, const std::vector<double>& top) {
  ASSERT_EQ(r.recall_percent.size(), recall.size());
  ASSERT_EQ(r.precision_percent.size(), precision.size());
  ASSERT_EQ(r.top_percent.size(), top.size());
  for (std::size_t q = 0; q < recall.size(); ++q) {
    EXPECT_NEAR(r.recall_percent[q], recall[q], 1e-12) << "recall, k = " << r.ks[q];
    EXPECT_NEAR(r.precision_percent[q], precision[q], 1e-12) << "precision, k = " << r.ks[q];
    EXPECT_NEAR(r.top_percent[q], top[q], 1e-12) << "top, k = " << r.ks[q];
  }
}

TEST(Metrics, RankingMetricsByHandWithTiesEmptyRowsAndKAboveC) {
  const Tensor s = Tensor::from_vector(kHandScores, {4, 3}), y = Tensor::from_vector(kHandLabels, {4, 3});
  const metrics::RankingMetrics r = metrics::ranking_metrics(s, y);
  EXPECT_EQ(r.ks, (std::vector<int>{1, 3, 5}));
  // k = 1: only row 1 hits (class 2; recall 1/2). k = 3: rows 0, 1, 3 hit 1, 2, 1 of their 1, 2, 1 positives.
  // k = 5: the same hits over 5.
  expect_ranking(r, {12.5, 75.0, 75.0}, {25.0, 100.0 / 3.0, 20.0}, {25.0, 75.0, 75.0});
  // float32 inputs give the same (the ties stay ties).
  expect_ranking(metrics::ranking_metrics(s.to(DType::Float32), y.to(DType::Float32)), {12.5, 75.0, 75.0},
                 {25.0, 100.0 / 3.0, 20.0}, {25.0, 75.0, 75.0});
  // k = 2: row 0 -> {1, 0} (1 hit), row 1 -> {2, 1} (2 hits), row 3 -> {1, 2} (none).
  const metrics::RankingMetrics two = metrics::ranking_metrics(s, y, {2});
  EXPECT_EQ(two.ks, std::vector<int>{2});
  expect_ranking(two, {50.0}, {37.5}, {50.0});
}

TEST(Metrics, RankingMetricsTieRuleHigherIndexFirst) {
  // Every score tied: the ranking is 3, 2, 1, 0. Row 0's positive (class 3) is top-1; row 1's (class 2) is second.
  // Lower index first would give 0 at k = 1 and miss row 0 at k = 3.
  const Tensor s = Tensor::full({2, 4}, 0.25);
  const Tensor y = Tensor::from_vector(std::vector<double>{0, 0, 0, 1, 0, 0, 1, 0}, {2, 4});
  expect_ranking(metrics::ranking_metrics(s, y, {1, 3, 4}), {50.0, 100.0, 100.0}, {50.0, 100.0 / 3.0, 25.0},
                 {50.0, 100.0, 100.0});
  // NaN ranks above every number (numpy sorts NaN last; reversed, first).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const metrics::RankingMetrics r =
      metrics::ranking_metrics(Tensor::from_vector(std::vector<double>{nan, 0.9, 0.1}, {1, 3}),
                               Tensor::from_vector(std::vector<double>{1, 0, 0}, {1, 3}), {1});
  expect_ranking(r, {100.0}, {100.0}, {100.0});
  // No rows: 0 everywhere.
  expect_ranking(metrics::ranking_metrics(Tensor::zeros({0, 3}), Tensor::zeros({0, 3})), {0, 0, 0}, {0, 0, 0},
                 {0, 0, 0});
}

// The 40 x 7 golden: rows 0-19 rounded to one decimal (ties within and across rows), row 20 tied throughout, row 21
// with a four-way tie at the top, five rows without positives, class 3 without positives.
struct RankingGolden {
  Tensor scores, labels, observed;
};
RankingGolden ranking_golden() {
  const std::string dir = std::string(SPML_TEST_DATA_DIR) + "/golden/ranking_metrics_";
  return {io::read_npy_tensor(dir + "scores.npy"), io::read_npy_tensor(dir + "labels.npy"),
          io::read_npy_tensor(dir + "observed.npy")};
}
// scripts/make_ranking_metrics_golden.py (numpy 1.24.2, scikit-learn 1.2.1)
const std::map<std::string, double> kGolden = {
    {"mAP", 41.052054405033026},
    {"mAP_observed", 19.7600886371021},
    {"precision_at_1", 37.5},
    {"precision_at_3", 36.666666666666664},
    {"precision_at_5", 33.5},
    {"recall_at_1", 14.166666666666666},
    {"recall_at_3", 45.20833333333333},
    {"recall_at_5", 70.20833333333333},
    {"top_1", 37.5},
    {"top_3", 67.5},
    {"top_5", 85.0},
};

TEST(Metrics, RankingMetricsMatchNumpyGolden) {
  const RankingGolden g = ranking_golden();
  ASSERT_EQ(g.scores.shape(), (Shape{40, 7}));
  // With the lower index first at ties, precision@1 would be 35.0 and precision@3 38.33: the tie rule matters here.
  const metrics::RankingMetrics r = metrics::ranking_metrics(g.scores, g.labels);
  expect_ranking(r, {kGolden.at("recall_at_1"), kGolden.at("recall_at_3"), kGolden.at("recall_at_5")},
                 {kGolden.at("precision_at_1"), kGolden.at("precision_at_3"), kGolden.at("precision_at_5")},
                 {kGolden.at("top_1"), kGolden.at("top_3"), kGolden.at("top_5")});
}

TEST(Metrics, SplitMetricsJsonMatchesGolden) {
  const RankingGolden g = ranking_golden();
  const nlohmann::json j = training::split_metrics_json(g.scores, g.labels, g.observed);
  EXPECT_EQ(j.size(), kGolden.size()) << j.dump();
  for (const auto& [key, value] : kGolden) {
    ASSERT_TRUE(j.contains(key)) << key << " missing from " << j.dump();
    EXPECT_NEAR(j[key].get<double>(), value, 1e-12) << key;
  }
  // mAP is exactly mean_average_precision's; without observed labels there is no mAP_observed.
  EXPECT_EQ(j["mAP"].get<double>(), metrics::mean_average_precision(g.scores, g.labels).map_percent);
  const nlohmann::json clean_only = training::split_metrics_json(g.scores, g.labels);
  EXPECT_FALSE(clean_only.contains("mAP_observed"));
  EXPECT_EQ(clean_only.size(), kGolden.size() - 1);
}

TEST(Metrics, RankingMetricsErrorsNameTheProblem) {
  const Tensor s = Tensor::from_vector(kHandScores, {4, 3});
  std::vector<double> bad = kHandLabels;
  bad[5] = 0.5;  // row 1, column 2
  EXPECT_ERROR_CONTAINS(metrics::ranking_metrics(s, Tensor::from_vector(bad, {4, 3})), "label 0.5", "row 1, column 2",
                        "not 0 or 1");
  EXPECT_ERROR_CONTAINS(metrics::ranking_metrics(s, Tensor::zeros({3, 4})), "ranking_metrics", "[4, 3]", "[3, 4]",
                        "[N, C]");
  EXPECT_ERROR_CONTAINS(metrics::ranking_metrics(Tensor::zeros({12}), Tensor::zeros({12})), "[N, C]");
  EXPECT_ERROR_CONTAINS(metrics::ranking_metrics(s, Tensor::zeros({4, 3}), {1, 0}), "k = 0", "at least 1");
  EXPECT_ERROR_CONTAINS(metrics::ranking_metrics(s, Tensor::zeros({4, 3}), {-2}), "k = -2");
  // split_metrics_json says which labels are at fault.
  EXPECT_ERROR_CONTAINS(training::split_metrics_json(s, Tensor::zeros({4, 3}), Tensor::from_vector(bad, {4, 3})),
                        "observed labels", "label 0.5", "row 1, column 2");
  EXPECT_ERROR_CONTAINS(training::split_metrics_json(s, Tensor::from_vector(bad, {4, 3})), "clean labels", "label 0.5");
  EXPECT_ERROR_CONTAINS(training::split_metrics_json(s, Tensor::zeros({4, 3}), Tensor::zeros({4, 2})),
                        "observed labels", "[N, C]");
}
}  // namespace
}  // namespace spml
