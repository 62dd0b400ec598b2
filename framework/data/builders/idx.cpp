// IDX reading through zlib's gzopen/gzread (which also passes plain files through unchanged).
#include "framework/data/builders/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <limits>

#include "kernels/common/error.h"

namespace spml::data {
namespace {

constexpr uint32_t kImagesMagic = 2051;
constexpr uint32_t kLabelsMagic = 2049;

// Owns a gzFile and reads exact byte counts, failing with the path on a short read or a zlib error.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    struct stat st;
    SPML_CHECK(::stat(path.c_str(), &st) == 0, "IDX file not found: ", path);
    SPML_CHECK(!S_ISDIR(st.st_mode), "IDX file is a directory: ", path);
    file_ = gzopen(path.c_str(), "rb");
    SPML_CHECK(file_ != nullptr, "cannot open IDX file: ", path);
    gzbuffer(file_, 1 << 17);
  }
  ~GzReader() {
    if (file_) gzclose(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  void read(void* out, std::size_t bytes, const char* what) {
    auto* dst = static_cast<uint8_t*>(out);
    std::size_t done = 0;
    while (done < bytes) {
      const unsigned chunk = unsigned(std::min<std::size_t>(bytes - done, 1u << 30));
      const int got = gzread(file_, dst + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        SPML_FAIL("corrupt IDX file ", path_, " while reading ", what, ": ", msg ? msg : "zlib error");
      }
      if (got == 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        SPML_CHECK(code == Z_OK || code == Z_BUF_ERROR, "corrupt IDX file ", path_, " while reading ", what, ": ",
                   msg ? msg : "zlib error");
        SPML_FAIL("truncated IDX file ", path_, ": ", what, " needs ", bytes, " bytes, only ", done, " present");
      }
      done += std::size_t(got);
    }
  }

  uint32_t read_u32(const char* what) {
    uint8_t b[4];
    read(b, 4, what);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

void check_magic(uint32_t magic, uint32_t expected, const char* kind, const std::string& path) {
  SPML_CHECK(magic == expected, "bad IDX magic number in ", path, ": ", magic, " (expected ", expected, " for ", kind,
             "; is this the right file?)");
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzReader in(path);
  check_magic(in.read_u32("the header"), kImagesMagic, "images", path);
  const uint32_t n = in.read_u32("the header");
  const uint32_t rows = in.read_u32("the header");
  const uint32_t cols = in.read_u32("the header");
  SPML_CHECK(rows > 0 && cols > 0 && rows <= 65536 && cols <= 65536, "bad IDX image size in ", path, ": ", rows, "x",
             cols);
  const uint64_t bytes = uint64_t(n) * rows * cols;
  SPML_CHECK(bytes <= (uint64_t(1) << 36), "IDX file ", path, " claims ", n, " images of ", rows, "x", cols,
             ", too large");
  IdxImages out;
  out.count = n;
  out.rows = int(rows);
  out.cols = int(cols);
  out.pixels.resize(std::size_t(bytes));
  in.read(out.pixels.data(), out.pixels.size(), "the pixels");
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  GzReader in(path);
  check_magic(in.read_u32("the header"), kLabelsMagic, "labels", path);
  const uint32_t n = in.read_u32("the header");
  std::vector<uint8_t> labels(n);
  in.read(labels.data(), labels.size(), "the labels");
  return labels;
}

}  // namespace spml::data
