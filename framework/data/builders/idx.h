// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain, read through zlib: big-endian magic
// 2051 for images ([N, rows, cols] uint8) and 2049 for labels ([N] uint8).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spml::data {

// N grey images of rows x cols bytes each, row-major: pixel (x, y) of image i is pixels[(i * rows + y) * cols + x].
struct IdxImages {
  int64_t count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> pixels;
  const uint8_t* image(int64_t i) const { return pixels.data() + i * rows * cols; }
};

// Read an IDX image file (magic 2051). gzip is detected by zlib, so a plain file works as well. Throws spml::Error
// naming the path for a missing file, a bad magic number, a truncated or corrupt file, or absurd dimensions.
IdxImages read_idx_images(const std::string& path);

// Read an IDX label file (magic 2049): one byte per item. Same errors as read_idx_images.
std::vector<uint8_t> read_idx_labels(const std::string& path);

}  // namespace spml::data
