// The parse steps of the VOC 2012, COCO 2014 and CUB-200-2011 builders (public_datasets.h), from text in memory:
// the builders read the files and call these; the fuzz targets (tests/fuzz) call them directly. Every error names
// `name` (the file) and, for the line-based formats, the 1-based line.
//
// Caps: a label matrix (rows x classes) may hold at most kMaxLabelCells cells (2^28; COCO's training set has 6.6 M,
// CUB's 3.7 M), and COCO may list at most kMaxCocoCategories categories, so that a file of a few MB cannot ask for a
// matrix of many GB; everything else is bounded by the size of the text itself.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace spml::data {

inline constexpr int64_t kMaxLabelCells = int64_t(1) << 28;
inline constexpr int64_t kMaxCocoCategories = 65536;

// ---------------------------------------------------------------- VOC 2012
// One ImageSets/Main/<class>_<split>.txt: a line "<image id> <1|0|-1>" per image (blank lines skipped, CRLF ok).
struct VocListEntry {
  std::string id;
  int value = 0;  // 1 positive, 0 difficult, -1 negative
};
std::vector<VocListEntry> parse_voc_class_list(const std::string& text, const std::string& name);

// ---------------------------------------------------------------- COCO 2014
// instances_<split>2014.json, keeping images[].{id, file_name}, annotations[].{image_id, category_id} and
// categories[].{id, name} (streamed through a SAX parser: segmentations are never materialised).
struct CocoInstances {
  std::vector<std::string> class_names;      // the categories in file order
  std::vector<std::string> file_names;       // images with >= 1 annotation, ordered by their id as a string
  std::vector<std::vector<uint8_t>> labels;  // one row of class_names.size() 0/1 bytes per file name
};
CocoInstances parse_coco_instances(const std::string& json_text, const std::string& name);

// ---------------------------------------------------------------- CUB-200-2011
// attributes.txt: "<1-based id> <name>" lines numbered 1..312 in order; exactly 312 of them.
std::vector<std::string> parse_cub_attribute_names(const std::string& text, const std::string& name);

// images.txt: "<image id> <relative path>" lines; ids unique. Paths come back as "images/<path>".
struct CubImageList {
  std::vector<std::string> paths;
  std::unordered_map<int64_t, std::size_t> row_of;  // image id -> row
};
CubImageList parse_cub_images(const std::string& text, const std::string& name);

// train_test_split.txt: "<image id> <1|0>" (1 = train) for every image of `images` (images_name: its file, for
// messages). Returns the flag per row.
std::vector<int> parse_cub_split(const std::string& text, const std::string& name, const CubImageList& images,
                                 const std::string& images_name);

// attributes/image_attribute_labels.txt: "<image id> <attribute 1..312> <is_present 0|1> [more fields]". Returns
// one row of 312 0/1 bytes per image (attributes not listed stay 0).
std::vector<std::vector<uint8_t>> parse_cub_attribute_labels(const std::string& text, const std::string& name,
                                                             const CubImageList& images,
                                                             const std::string& images_name);

}  // namespace spml::data
