// Summary statistics of a multi-label data set (spml-data inspect): counts, label cardinality, positives per
// class, and a check that the observed labels are single positives drawn from the clean labels.
#pragma once

#include <string>
#include <vector>

#include "framework/data/dataset.h"

namespace spml::apps {

struct SplitSummary {
  int64_t images = 0;
  double label_cardinality = 0;            // mean positives per image (clean labels)
  int64_t images_without_positive = 0;     // rows whose clean labels are all zero
  int64_t observed_positives = 0;          // total observed positives
  int64_t observed_not_in_labels = 0;      // observed positives that are negatives in the clean labels
  int64_t rows_with_several_observed = 0;  // rows with more than one observed positive (must be 0)
  std::vector<int64_t> positives_per_class;
};

SplitSummary summarize_split(const data::MultiLabelSplit& split, int64_t num_classes);
// A JSON document with the data set's name, classes and the three splits' summaries.
std::string inspect_json(const data::MultiLabelDataset& dataset);

}  // namespace spml::apps
