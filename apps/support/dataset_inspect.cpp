// Data-set summaries for spml-data inspect.
#include "apps/support/dataset_inspect.h"

#include <nlohmann/json.hpp>

namespace spml::apps {

SplitSummary summarize_split(const data::MultiLabelSplit& split, int64_t num_classes) {
  SplitSummary s;
  s.images = split.size();
  s.positives_per_class.assign(std::size_t(num_classes), 0);
  if (s.images == 0) return s;
  const std::vector<float> y = split.labels.to_vector<float>(), o = split.observed.to_vector<float>();
  int64_t positives = 0;
  for (int64_t r = 0; r < s.images; ++r) {
    int64_t row_pos = 0, row_obs = 0;
    for (int64_t c = 0; c < num_classes; ++c) {
      const std::size_t i = std::size_t(r * num_classes + c);
      if (y[i] > 0.5f) ++row_pos, ++s.positives_per_class[std::size_t(c)];
      if (o[i] > 0.5f) {
        ++row_obs;
        if (y[i] < 0.5f) ++s.observed_not_in_labels;
      }
    }
    positives += row_pos;
    s.observed_positives += row_obs;
    if (row_pos == 0) ++s.images_without_positive;
    if (row_obs > 1) ++s.rows_with_several_observed;
  }
  s.label_cardinality = double(positives) / double(s.images);
  return s;
}

std::string inspect_json(const data::MultiLabelDataset& dataset) {
  nlohmann::json doc;
  doc["name"] = dataset.name;
  doc["image_root"] = dataset.image_root;
  doc["classes"] = dataset.num_classes();
  doc["class_names"] = dataset.class_names;
  for (const auto& [name, split] : {std::pair<const char*, const data::MultiLabelSplit*>{"train", &dataset.train},
                                    {"val", &dataset.val},
                                    {"test", &dataset.test}}) {
    const SplitSummary s = summarize_split(*split, dataset.num_classes());
    doc[name] = {{"images", s.images},
                 {"label_cardinality", s.label_cardinality},
                 {"images_without_positive", s.images_without_positive},
                 {"observed_positives", s.observed_positives},
                 {"observed_not_in_labels", s.observed_not_in_labels},
                 {"rows_with_several_observed", s.rows_with_several_observed},
                 {"positives_per_class", s.positives_per_class}};
  }
  return doc.dump(2);
}

}  // namespace spml::apps
