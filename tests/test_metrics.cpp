// mAP against scikit-learn 1.2's average_precision_score (values computed offline and written here), ties
// included, and the SPML convention that a class without positives counts as AP 0.
#include <gtest/gtest.h>

#include "framework/metrics/average_precision.h"
#include "test_util.h"

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
}  // namespace
}  // namespace spml
