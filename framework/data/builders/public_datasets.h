// Builders that turn the original VOC 2012, COCO 2014 and CUB-200-2011 releases into the pre-formatted SPML
// layout (SPML.md section 6) via write_preformatted; image paths are stored relative to `src`, and dataset.json
// records the absolute `src` as the image root. Errors name the file (and line) of malformed input.
#pragma once

#include <cstdint>
#include <string>

namespace spml::data {

struct BuildSummary {
  std::string name;  // voc, coco, cub
  int64_t num_classes = 0;
  int64_t train_rows = 0;  // rows of formatted_train_* (split 80/20 into train/val when loaded)
  int64_t val_rows = 0;    // rows of formatted_val_* (the test split)
};

// src: the VOC2012 folder (ImageSets/Main/{cls}_{train,val}.txt, JPEGImages/). Labels 1 = positive, 0 and -1 =
// negative; an image missing from a class file counts as negative. Keeps images with >= 1 positive, rows sorted
// by image id; paths JPEGImages/<id>.jpg; the 20 classes in the usual alphabetical order.
BuildSummary build_voc2012(const std::string& src, const std::string& out);

// src: the COCO folder (annotations/instances_{train,val}2014.json, train2014/, val2014/). Streams the JSON
// (SAX) keeping only ids, file names and category ids. Classes in the json's category order; images with >= 1
// annotation (crowd ones included), rows ordered by image id compared as strings; paths {train,val}2014/<file>.
BuildSummary build_coco2014(const std::string& src, const std::string& out);

// src: the CUB_200_2011 folder (images.txt, train_test_split.txt with 1 = train,
// attributes/image_attribute_labels.txt "image attribute is_present certainty time [extra...]"). 312 attribute
// classes named from attributes.txt (looked up in src/attributes/, src/ and src/..); every image is kept, rows in
// images.txt order; paths images/<path>.
BuildSummary build_cub(const std::string& src, const std::string& out);

}  // namespace spml::data
