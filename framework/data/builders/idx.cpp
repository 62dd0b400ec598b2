// IDX reading: from a file through zlib's gzopen/gzread (which also passes plain files through unchanged), or from
// bytes in memory through inflate; one parser over both sources.
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
// The pixel / label buffer grows geometrically from kFirstStep (doubling, at most kMaxStep at a time) as data
// arrives, so a header promising more than the file holds allocates at most about twice what is actually there.
constexpr std::size_t kFirstStep = std::size_t(1) << 16;
constexpr std::size_t kMaxStep = std::size_t(1) << 26;

// A file through gzread: read_some returns the bytes read (0 at the end), failing with the path on a zlib error.
class GzFileSource {
 public:
  explicit GzFileSource(const std::string& path) : path_(path) {
    struct stat st;
    SPML_CHECK(::stat(path.c_str(), &st) == 0, "IDX file not found: ", path);
    SPML_CHECK(!S_ISDIR(st.st_mode), "IDX file is a directory: ", path);
    file_ = gzopen(path.c_str(), "rb");
    SPML_CHECK(file_ != nullptr, "cannot open IDX file: ", path);
    gzbuffer(file_, 1 << 17);
  }
  ~GzFileSource() {
    if (file_) gzclose(file_);
  }
  GzFileSource(const GzFileSource&) = delete;
  GzFileSource& operator=(const GzFileSource&) = delete;

  std::size_t read_some(uint8_t* dst, std::size_t bytes, const char* what) {
    const unsigned chunk = unsigned(std::min<std::size_t>(bytes, 1u << 30));
    const int got = gzread(file_, dst, chunk);
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
    }
    return std::size_t(got);
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

// Bytes in memory: gzip members (magic 1f 8b) are inflated one after the other, as gzread does; anything else is
// passed through unchanged. Bytes after a gzip member that do not start another member are ignored (gzread too).
class MemorySource {
 public:
  MemorySource(const uint8_t* data, std::size_t size, const std::string& name)
      : data_(data), size_(size), name_(name), gzip_(size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    if (gzip_) {
      SPML_CHECK(inflateInit2(&stream_, 16 + MAX_WBITS) == Z_OK, "cannot start zlib for ", name);
      inflating_ = true;
      stream_.next_in = const_cast<Bytef*>(data_);
      stream_.avail_in = uInt(std::min<std::size_t>(size_, std::numeric_limits<uInt>::max()));
      fed_ = stream_.avail_in;
    }
  }
  ~MemorySource() {
    if (inflating_) inflateEnd(&stream_);
  }
  MemorySource(const MemorySource&) = delete;
  MemorySource& operator=(const MemorySource&) = delete;

  std::size_t read_some(uint8_t* dst, std::size_t bytes, const char* what) {
    if (!gzip_) {
      const std::size_t n = std::min(bytes, size_ - pos_);
      std::copy(data_ + pos_, data_ + pos_ + n, dst);
      pos_ += n;
      return n;
    }
    if (done_) return 0;
    stream_.next_out = dst;
    stream_.avail_out = uInt(std::min<std::size_t>(bytes, 1u << 30));
    const uInt asked = stream_.avail_out;
    while (stream_.avail_out == asked) {
      if (stream_.avail_in == 0 && fed_ < size_) {  // inputs above 4 GiB are fed in pieces
        stream_.avail_in = uInt(std::min<std::size_t>(size_ - fed_, std::numeric_limits<uInt>::max()));
        fed_ += stream_.avail_in;
      }
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        // Another member may follow; anything else after a member is ignored.
        const std::size_t consumed = fed_ - stream_.avail_in;
        if (size_ - consumed >= 2 && data_[consumed] == 0x1f && data_[consumed + 1] == 0x8b) {
          SPML_CHECK(inflateReset(&stream_) == Z_OK, "corrupt IDX file ", name_, " while reading ", what,
                     ": zlib cannot restart");
          continue;
        }
        done_ = true;
        break;
      }
      if (rc == Z_BUF_ERROR && stream_.avail_in == 0 && fed_ == size_) {  // cut off inside a member
        done_ = true;
        break;
      }
      if (rc != Z_OK) {
        const std::string msg = stream_.msg ? stream_.msg : "zlib error " + std::to_string(rc);
        SPML_FAIL("corrupt IDX file ", name_, " while reading ", what, ": ", msg);
      }
    }
    return std::size_t(asked - stream_.avail_out);
  }

 private:
  const uint8_t* data_;
  std::size_t size_, pos_ = 0, fed_ = 0;
  std::string name_;
  bool gzip_, inflating_ = false, done_ = false;
  z_stream stream_{};
};

// Reads exactly `bytes` bytes into `out` (resized to that), growing it step by step as the data arrives.
template <class Source>
void read_exact(Source& in, std::vector<uint8_t>& out, uint64_t bytes, const char* what, const std::string& name) {
  out.clear();
  std::size_t done = 0;
  while (done < bytes) {
    const std::size_t step =
        std::size_t(std::min<uint64_t>(bytes - done, std::min(kMaxStep, std::max(kFirstStep, done))));
    out.resize(done + step);
    std::size_t filled = 0;
    while (filled < step) {
      const std::size_t got = in.read_some(out.data() + done + filled, step - filled, what);
      if (got == 0)
        SPML_FAIL("truncated IDX file ", name, ": ", what, " needs ", bytes, " bytes, only ", done + filled,
                  " present");
      filled += got;
    }
    done += step;
  }
}

template <class Source>
uint32_t read_u32(Source& in, const char* what, const std::string& name) {
  std::vector<uint8_t> b;
  read_exact(in, b, 4, what, name);
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

void check_magic(uint32_t magic, uint32_t expected, const char* kind, const std::string& path) {
  SPML_CHECK(magic == expected, "bad IDX magic number in ", path, ": ", magic, " (expected ", expected, " for ", kind,
             "; is this the right file?)");
}

template <class Source>
IdxImages images_from(Source& in, const std::string& path) {
  check_magic(read_u32(in, "the header", path), kImagesMagic, "images", path);
  const uint32_t n = read_u32(in, "the header", path);
  const uint32_t rows = read_u32(in, "the header", path);
  const uint32_t cols = read_u32(in, "the header", path);
  SPML_CHECK(rows > 0 && cols > 0 && rows <= 65536 && cols <= 65536, "bad IDX image size in ", path, ": ", rows, "x",
             cols);
  const uint64_t bytes = uint64_t(n) * rows * cols;
  SPML_CHECK(bytes <= kMaxIdxBytes, "IDX file ", path, " claims ", n, " images of ", rows, "x", cols, " (", bytes,
             " bytes), more than the limit of ", kMaxIdxBytes, " bytes");
  IdxImages out;
  out.count = n;
  out.rows = int(rows);
  out.cols = int(cols);
  read_exact(in, out.pixels, bytes, "the pixels", path);
  return out;
}

template <class Source>
std::vector<uint8_t> labels_from(Source& in, const std::string& path) {
  check_magic(read_u32(in, "the header", path), kLabelsMagic, "labels", path);
  const uint32_t n = read_u32(in, "the header", path);
  std::vector<uint8_t> labels;
  read_exact(in, labels, n, "the labels", path);
  return labels;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzFileSource in(path);
  return images_from(in, path);
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  GzFileSource in(path);
  return labels_from(in, path);
}

IdxImages parse_idx_images(const uint8_t* data, std::size_t size, const std::string& name) {
  MemorySource in(data, size, name);
  return images_from(in, name);
}

std::vector<uint8_t> parse_idx_labels(const uint8_t* data, std::size_t size, const std::string& name) {
  MemorySource in(data, size, name);
  return labels_from(in, name);
}

}  // namespace spml::data
