// VOC 2012 / COCO 2014 / CUB-200-2011 originals -> the pre-formatted SPML layout (see builders.h).
#include "framework/data/builders/public_datasets.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/data/builders/public_parsers.h"
#include "framework/data/preformatted.h"
#include "framework/io/file.h"
#include "kernels/common/error.h"

namespace spml::data {
namespace fs = std::filesystem;

namespace {

const std::array<const char*, 20> kVocClasses = {
    "aeroplane",   "bicycle", "bird",  "boat",      "bottle", "bus",         "car",   "cat",  "chair", "cow",
    "diningtable", "dog",     "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

constexpr int64_t kCubAttributes = 312;

std::string require_file(const fs::path& path, const char* builder) {
  SPML_CHECK(fs::is_regular_file(path), builder, ": missing file ", path.string());
  return path.string();
}

// Lines of a text with 1-based numbers; blank lines skipped, CR of CRLF endings dropped.
std::vector<std::pair<int64_t, std::string>> text_lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::pair<int64_t, std::string>> lines;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) lines.emplace_back(number, line);
  }
  return lines;
}

std::vector<std::string> tokens(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

bool parse_int(const std::string& text, int64_t& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

std::string absolute_root(const std::string& src) {
  fs::path p = fs::absolute(src).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();  // drop a trailing separator
  return p.string();
}

// Rows of 0/1 bytes -> [N, C] float32 tensor.
Tensor to_tensor(const std::vector<std::vector<uint8_t>>& rows, int64_t classes) {
  Tensor t = Tensor::zeros({int64_t(rows.size()), classes}, DType::Float32);
  float* out = t.data<float>();
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (int64_t c = 0; c < classes; ++c) out[int64_t(r) * classes + c] = float(rows[r][std::size_t(c)]);
  return t;
}

// Refuses a label matrix beyond kMaxLabelCells before it is allocated.
void check_label_cells(int64_t rows, int64_t classes, const std::string& name) {
  SPML_CHECK(classes == 0 || rows <= kMaxLabelCells / classes, name, ": ", rows, " rows x ", classes,
             " classes exceed the limit of ", kMaxLabelCells, " label cells");
}

struct Part {
  std::vector<std::string> paths;
  std::vector<std::vector<uint8_t>> labels;
};

// ---------------------------------------------------------------- VOC 2012
Part voc_part(const fs::path& src, const std::string& split) {
  std::map<std::string, std::vector<uint8_t>> rows;  // ordered by image id (= file name)
  for (std::size_t c = 0; c < kVocClasses.size(); ++c) {
    const std::string path = require_file(
        src / "ImageSets" / "Main" / (std::string(kVocClasses[c]) + "_" + split + ".txt"), "build_voc2012");
    for (const VocListEntry& entry : parse_voc_class_list(io::read_text_file(path), path)) {
      auto& row = rows[entry.id];
      row.resize(kVocClasses.size(), 0);
      if (entry.value == 1) row[c] = 1;  // 0 (difficult) and -1 are negatives
    }
  }
  Part part;
  for (const auto& [id, row] : rows) {
    if (std::find(row.begin(), row.end(), uint8_t(1)) == row.end()) continue;
    part.paths.push_back("JPEGImages/" + id + ".jpg");
    part.labels.push_back(row);
  }
  return part;
}

// ---------------------------------------------------------------- COCO 2014
// Streams instances_*.json keeping only images[].{id, file_name}, annotations[].{image_id, category_id} and
// categories[].{id, name}; segmentation polygons (the bulk of the ~330 MB) are never materialised.
class CocoSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  struct Item {
    int64_t id = -1, image_id = -1, category_id = -1;
    std::string file_name, name;
  };
  explicit CocoSax(std::string path) : path_(std::move(path)) {}
  std::vector<Item> images, annotations, categories;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return integer(int64_t(v)); }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& v) override {
    if (depth_ == 3 && field_ == "file_name") item_.file_name = v;
    if (depth_ == 3 && field_ == "name") item_.name = v;
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (++depth_ == 3) item_ = Item{};
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) section_ = k;
    if (depth_ == 3) field_ = k;
    return true;
  }
  bool end_object() override {
    if (depth_ == 3) commit();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    SPML_FAIL(path_, ": invalid JSON: ", e.what());
  }

 private:
  bool integer(int64_t v) {
    if (depth_ != 3) return true;
    if (field_ == "id") item_.id = v;
    if (field_ == "image_id") item_.image_id = v;
    if (field_ == "category_id") item_.category_id = v;
    return true;
  }
  void commit() {
    auto need = [&](bool ok, std::size_t index, const char* field) {
      SPML_CHECK(ok, path_, ": ", section_, "[", index, "] lacks an integer \"", field, "\"");
    };
    if (section_ == "images") {
      need(item_.id >= 0, images.size(), "id");
      SPML_CHECK(!item_.file_name.empty(), path_, ": images[", images.size(), "] lacks \"file_name\"");
      images.push_back(std::move(item_));
    } else if (section_ == "annotations") {
      need(item_.image_id >= 0, annotations.size(), "image_id");
      need(item_.category_id >= 0, annotations.size(), "category_id");
      annotations.push_back(std::move(item_));
    } else if (section_ == "categories") {
      need(item_.id >= 0, categories.size(), "id");
      SPML_CHECK(!item_.name.empty(), path_, ": categories[", categories.size(), "] lacks \"name\"");
      categories.push_back(std::move(item_));
    }
  }

  std::string path_, section_, field_;
  int depth_ = 0;
  Item item_;
};

// The checks and the label matrix once the SAX pass has collected the items.
CocoInstances coco_instances(const CocoSax& sax, const std::string& path) {
  SPML_CHECK(!sax.categories.empty(), path, ": no \"categories\"");
  SPML_CHECK(int64_t(sax.categories.size()) <= kMaxCocoCategories, path, ": ", sax.categories.size(),
             " categories, more than the limit of ", kMaxCocoCategories);
  CocoInstances out;
  std::vector<std::string>& names = out.class_names;
  std::unordered_map<int64_t, std::size_t> column;
  for (const auto& c : sax.categories) {
    SPML_CHECK(column.emplace(c.id, names.size()).second, path, ": category id ", c.id, " appears twice");
    names.push_back(c.name);
  }

  std::unordered_map<int64_t, std::size_t> image_index;
  for (std::size_t i = 0; i < sax.images.size(); ++i)
    SPML_CHECK(image_index.emplace(sax.images[i].id, i).second, path, ": image id ", sax.images[i].id,
               " appears twice");
  std::vector<std::vector<uint8_t>> labels(sax.images.size());
  int64_t labelled = 0;
  for (std::size_t a = 0; a < sax.annotations.size(); ++a) {
    const auto& ann = sax.annotations[a];
    const auto img = image_index.find(ann.image_id);
    SPML_CHECK(img != image_index.end(), path, ": annotations[", a, "] refers to unknown image id ", ann.image_id);
    const auto col = column.find(ann.category_id);
    SPML_CHECK(col != column.end(), path, ": annotations[", a, "] refers to unknown category id ", ann.category_id);
    auto& row = labels[img->second];
    if (row.empty()) check_label_cells(++labelled, int64_t(names.size()), path);
    row.resize(names.size(), 0);
    row[col->second] = 1;
  }
  // The public formatting code orders images by their id as a string ("10" < "100" < "9").
  std::vector<std::pair<std::string, std::size_t>> order;
  for (std::size_t i = 0; i < sax.images.size(); ++i)
    if (!labels[i].empty()) order.emplace_back(std::to_string(sax.images[i].id), i);
  std::sort(order.begin(), order.end());
  for (const auto& [id, i] : order) {
    out.file_names.push_back(sax.images[i].file_name);
    out.labels.push_back(std::move(labels[i]));
  }
  return out;
}

Part coco_part(const fs::path& src, const std::string& split, std::vector<std::string>& class_names) {
  const std::string path = require_file(src / "annotations" / ("instances_" + split + "2014.json"), "build_coco2014");
  CocoSax sax(path);
  {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    SPML_CHECK(file, "build_coco2014: cannot open ", path);
    nlohmann::json::sax_parse(file.get(), &sax);
  }
  CocoInstances instances = coco_instances(sax, path);
  if (class_names.empty()) class_names = instances.class_names;
  SPML_CHECK(instances.class_names == class_names, path, ": categories differ from those of instances_train2014.json");
  Part part;
  for (std::size_t i = 0; i < instances.file_names.size(); ++i) {
    part.paths.push_back(split + "2014/" + instances.file_names[i]);
    part.labels.push_back(std::move(instances.labels[i]));
  }
  return part;
}

// ---------------------------------------------------------------- CUB-200-2011
std::vector<std::string> cub_attribute_names(const fs::path& src) {
  const std::vector<fs::path> candidates = {src / "attributes" / "attributes.txt", src / "attributes.txt",
                                            src.parent_path() / "attributes.txt"};
  std::string path;
  for (const auto& c : candidates)
    if (fs::is_regular_file(c)) {
      path = c.string();
      break;
    }
  SPML_CHECK(!path.empty(), "build_cub: missing attributes.txt (looked for ", candidates[0].string(), ", ",
             candidates[1].string(), " and ", candidates[2].string(), ")");
  return parse_cub_attribute_names(io::read_text_file(path), path);
}

}  // namespace

BuildSummary build_voc2012(const std::string& src, const std::string& out) {
  const Part train = voc_part(src, "train"), val = voc_part(src, "val");
  const int64_t classes = int64_t(kVocClasses.size());
  write_preformatted(out, train.paths, to_tensor(train.labels, classes), val.paths, to_tensor(val.labels, classes),
                     std::vector<std::string>(kVocClasses.begin(), kVocClasses.end()), "voc", absolute_root(src));
  return {"voc", classes, int64_t(train.paths.size()), int64_t(val.paths.size())};
}

BuildSummary build_coco2014(const std::string& src, const std::string& out) {
  std::vector<std::string> class_names;
  const Part train = coco_part(src, "train", class_names);
  const Part val = coco_part(src, "val", class_names);
  const int64_t classes = int64_t(class_names.size());
  write_preformatted(out, train.paths, to_tensor(train.labels, classes), val.paths, to_tensor(val.labels, classes),
                     class_names, "coco", absolute_root(src));
  return {"coco", classes, int64_t(train.paths.size()), int64_t(val.paths.size())};
}

BuildSummary build_cub(const std::string& src_text, const std::string& out) {
  const fs::path src = fs::absolute(src_text).lexically_normal();
  const std::string images_path = require_file(src / "images.txt", "build_cub");
  const std::string split_path = require_file(src / "train_test_split.txt", "build_cub");
  const std::string attr_path = require_file(src / "attributes" / "image_attribute_labels.txt", "build_cub");
  const std::vector<std::string> names = cub_attribute_names(src);

  const CubImageList images = parse_cub_images(io::read_text_file(images_path), images_path);
  const std::vector<std::string>& paths = images.paths;
  const std::vector<int> is_train = parse_cub_split(io::read_text_file(split_path), split_path, images, images_path);
  const std::vector<std::vector<uint8_t>> labels =
      parse_cub_attribute_labels(io::read_text_file(attr_path), attr_path, images, images_path);

  Part train, val;
  for (std::size_t r = 0; r < paths.size(); ++r) {
    Part& part = is_train[r] ? train : val;
    part.paths.push_back(paths[r]);
    part.labels.push_back(labels[r]);
  }
  write_preformatted(out, train.paths, to_tensor(train.labels, kCubAttributes), val.paths,
                     to_tensor(val.labels, kCubAttributes), names, "cub", absolute_root(src.string()));
  return {"cub", kCubAttributes, int64_t(train.paths.size()), int64_t(val.paths.size())};
}

// ---------------------------------------------------------------- parse steps (public_parsers.h)
std::vector<VocListEntry> parse_voc_class_list(const std::string& text, const std::string& path) {
  std::vector<VocListEntry> entries;
  for (const auto& [number, line] : text_lines(text)) {
    const std::vector<std::string> t = tokens(line);
    int64_t value = 0;
    SPML_CHECK(t.size() == 2 && parse_int(t[1], value) && value >= -1 && value <= 1, path, ":", number,
               ": expected \"<image id> <1|0|-1>\", got \"", line, "\"");
    entries.push_back({t[0], int(value)});
  }
  return entries;
}

CocoInstances parse_coco_instances(const std::string& json_text, const std::string& name) {
  CocoSax sax(name);
  nlohmann::json::sax_parse(json_text, &sax);
  return coco_instances(sax, name);
}

std::vector<std::string> parse_cub_attribute_names(const std::string& text, const std::string& path) {
  std::vector<std::string> names;
  for (const auto& [number, line] : text_lines(text)) {
    const std::vector<std::string> t = tokens(line);
    int64_t id = 0;
    SPML_CHECK(t.size() == 2 && parse_int(t[0], id) && id == int64_t(names.size()) + 1, path, ":", number,
               ": expected \"", names.size() + 1, " <attribute name>\", got \"", line, "\"");
    names.push_back(t[1]);
  }
  SPML_CHECK(int64_t(names.size()) == kCubAttributes, path, ": ", names.size(), " attributes, expected ",
             kCubAttributes);
  return names;
}

CubImageList parse_cub_images(const std::string& text, const std::string& images_path) {
  CubImageList images;
  for (const auto& [number, line] : text_lines(text)) {
    const std::vector<std::string> t = tokens(line);
    int64_t id = 0;
    SPML_CHECK(t.size() == 2 && parse_int(t[0], id), images_path, ":", number,
               ": expected \"<image id> <relative path>\", got \"", line, "\"");
    SPML_CHECK(images.row_of.emplace(id, images.paths.size()).second, images_path, ":", number, ": image id ", id,
               " appears twice");
    check_label_cells(int64_t(images.paths.size()) + 1, kCubAttributes, images_path);
    images.paths.push_back("images/" + t[1]);
  }
  return images;
}

std::vector<int> parse_cub_split(const std::string& text, const std::string& split_path, const CubImageList& images,
                                 const std::string& images_path) {
  std::vector<int> is_train(images.paths.size(), -1);
  for (const auto& [number, line] : text_lines(text)) {
    const std::vector<std::string> t = tokens(line);
    int64_t id = 0, flag = 0;
    SPML_CHECK(t.size() == 2 && parse_int(t[0], id) && parse_int(t[1], flag) && (flag == 0 || flag == 1), split_path,
               ":", number, ": expected \"<image id> <1|0>\", got \"", line, "\"");
    const auto row = images.row_of.find(id);
    SPML_CHECK(row != images.row_of.end(), split_path, ":", number, ": image id ", id, " is not in ", images_path);
    is_train[row->second] = int(flag);
  }
  for (std::size_t r = 0; r < images.paths.size(); ++r)
    SPML_CHECK(is_train[r] >= 0, split_path, ": no entry for ", images.paths[r], " (listed in ", images_path, ")");
  return is_train;
}

std::vector<std::vector<uint8_t>> parse_cub_attribute_labels(const std::string& text, const std::string& attr_path,
                                                             const CubImageList& images,
                                                             const std::string& images_path) {
  check_label_cells(int64_t(images.paths.size()), kCubAttributes, images_path);
  std::vector<std::vector<uint8_t>> labels(images.paths.size(), std::vector<uint8_t>(std::size_t(kCubAttributes), 0));
  for (const auto& [number, line] : text_lines(text)) {
    // "image attribute is_present certainty time"; some lines of the release carry extra fields: only the first
    // three are used.
    const std::vector<std::string> t = tokens(line);
    int64_t id = 0, attribute = 0, present = 0;
    SPML_CHECK(t.size() >= 3 && parse_int(t[0], id) && parse_int(t[1], attribute) && parse_int(t[2], present) &&
                   attribute >= 1 && attribute <= kCubAttributes && (present == 0 || present == 1),
               attr_path, ":", number, ": expected \"<image id> <attribute 1..", kCubAttributes,
               "> <is_present 0|1> ...\", got \"", line, "\"");
    const auto row = images.row_of.find(id);
    SPML_CHECK(row != images.row_of.end(), attr_path, ":", number, ": image id ", id, " is not in ", images_path);
    labels[row->second][std::size_t(attribute - 1)] = uint8_t(present);
  }
  return labels;
}

}  // namespace spml::data
