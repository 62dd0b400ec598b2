// Multi-label data sets in the pre-formatted SPML layout (docs/method.md sections 8 and 10): a folder with
// formatted_{train,val}_{images,labels,labels_obs}.npy plus an image root. The official train rows are split
// 80/20 into train/val (seed 1200); the official val rows are the test split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::data {

struct MultiLabelSplit {
  std::vector<std::string> image_paths;  // relative to the data set's image root
  Tensor labels;                         // [N, C] float32 in {0, 1}: the clean labels
  Tensor observed;                       // [N, C] float32 in {0, 1}: one observed positive per row (or none)
  std::vector<int64_t> source_rows;      // row of each sample in its formatted_*.npy file
  int64_t size() const { return int64_t(image_paths.size()); }
};

struct MultiLabelDataset {
  std::string name;        // voc, coco, nuswide, cub, fashion-mosaic, or the folder's dataset.json name
  std::string image_root;  // absolute or relative to the working directory
  std::vector<std::string> class_names;
  MultiLabelSplit train, val, test;
  int64_t num_classes() const { return labels_columns; }
  int64_t labels_columns = 0;
};

}  // namespace spml::data
