// Fuzz target: IDX files (framework/data/builders/idx.h parse_idx_images and parse_idx_labels from bytes), gzip
// (inflate, several members, trailing bytes) and plain, with the header's claimed counts and sizes checked against
// what the data actually holds. Each input goes to both readers.
#include "framework/data/builders/idx.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  data::IdxImages images;
  if (fuzz::accepts([&] { images = data::parse_idx_images(data, size, "fuzz-images-idx3-ubyte.gz"); }))
    fuzz::require(images.pixels.size() == std::size_t(images.count) * images.rows * images.cols, "pixel count");
  fuzz::accepts([&] { data::parse_idx_labels(data, size, "fuzz-labels-idx1-ubyte.gz"); });
  return 0;
}
