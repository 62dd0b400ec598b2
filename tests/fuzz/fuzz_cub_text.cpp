// Fuzz target: CUB-200-2011's text files (framework/data/builders/public_parsers.h). The whole input is tried as
// attributes.txt (parse_cub_attribute_names); it is also split at NUL bytes into images.txt, train_test_split.txt and
// attributes/image_attribute_labels.txt, read in that order as build_cub does (parse_cub_images, parse_cub_split,
// parse_cub_attribute_labels against the images read first).
#include "framework/data/builders/public_parsers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  const std::string text = fuzz::as_text(data, size);
  fuzz::accepts([&] { data::parse_cub_attribute_names(text, "attributes.txt"); });
  const std::vector<std::string> parts = fuzz::split_sections(text, 3);
  data::CubImageList images;
  if (!fuzz::accepts([&] { images = data::parse_cub_images(parts[0], "images.txt"); })) return 0;
  fuzz::require(images.paths.size() == images.row_of.size(), "one row per image id");
  if (parts.size() > 1) {
    fuzz::accepts([&] {
      const std::vector<int> is_train = data::parse_cub_split(parts[1], "train_test_split.txt", images, "images.txt");
      fuzz::require(is_train.size() == images.paths.size(), "a split flag per image");
    });
  }
  if (parts.size() > 2) {
    fuzz::accepts([&] {
      const auto labels =
          data::parse_cub_attribute_labels(parts[2], "image_attribute_labels.txt", images, "images.txt");
      fuzz::require(labels.size() == images.paths.size(), "a label row per image");
    });
  }
  return 0;
}
