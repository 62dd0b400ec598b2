// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain, read through zlib: big-endian magic
// 2051 for images ([N, rows, cols] uint8) and 2049 for labels ([N] uint8).
//
// Caps (a hostile header gets a clear spml::Error, never a large allocation): rows and cols in 1..65536, an image
// file's pixel bytes at most kMaxIdxBytes (4 GiB; Fashion-MNIST's training set is 47 MB), and the pixel or label
// buffer grows geometrically (from 64 KiB, doubling, at most 64 MiB per step) as data actually arrives, so a header
// claiming more than the file holds fails with "truncated" after allocating about twice the data present at most.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace spml::data {

inline constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 32;

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

// The same for a whole file in memory, gzip (one or more members, detected by the magic bytes 1f 8b) or plain;
// `name` stands in for the path in error messages.
IdxImages parse_idx_images(const uint8_t* data, std::size_t size, const std::string& name);
std::vector<uint8_t> parse_idx_labels(const uint8_t* data, std::size_t size, const std::string& name);

}  // namespace spml::data
