// Image decoding to 8-bit RGB: JPEG through libjpeg-turbo's TurboJPEG API (bit-exact with PIL built on the same
// libjpeg-turbo), every other format through stb_image (its implementation is compiled here, file-local).
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "framework/image/image.h"
#include "framework/io/file.h"
#include "kernels/common/error.h"

#define STB_IMAGE_STATIC  // file-local symbols: no clash with another copy of stb_image in the program
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // bytes come from io::read_file
#define STBI_NO_HDR    // PIL does not read Radiance HDR either
#define STBI_NO_LINEAR
#include "stb_image.h"

namespace spml::image {
namespace {

// PIL's DecompressionBombError limit (2 * Image.MAX_IMAGE_PIXELS): larger images are refused before allocating.
constexpr int64_t kMaxPixels = 178956970;

void check_size(int width, int height, const std::string& name) {
  SPML_CHECK(width > 0 && height > 0, name, ": image with an empty size ", width, "x", height);
  SPML_CHECK(int64_t(width) * height <= kMaxPixels, name, ": image too large (", width, "x", height, " pixels, limit ",
             kMaxPixels, " like PIL's decompression-bomb check)");
}

bool is_jpeg(const uint8_t* data, std::size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

bool contains_nocase(std::string text, std::string what) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
  };
  return lower(std::move(text)).find(lower(std::move(what))) != std::string::npos;
}

// One TurboJPEG decompressor per thread (a handle must not be used by two threads at once). After a failed call
// the handle is dropped: TurboJPEG 2.x leaves its libjpeg state mid-header then, and the next file would fail with
// "Bogus DQT index" and the like.
class TurboJpegHandle {
 public:
  ~TurboJpegHandle() { reset(); }
  void reset() {
    if (handle_) tjDestroy(handle_);
    handle_ = nullptr;
  }
  tjhandle get() {
    if (!handle_) {
      handle_ = tjInitDecompress();
      SPML_CHECK(handle_ != nullptr, "decode_image: cannot create a TurboJPEG decompressor (", tjGetErrorStr2(nullptr),
                 ")");
    }
    return handle_;
  }

 private:
  tjhandle handle_ = nullptr;
};

TurboJpegHandle& thread_decompressor() {
  thread_local TurboJpegHandle handle;
  return handle;
}

// Width, height and component count from the JPEG's SOF marker: for images whose chroma sampling TurboJPEG 2.x's
// header call does not name (it refuses them, but decompresses them fine). Returns false when there is no SOF.
bool parse_jpeg_sof(const uint8_t* data, std::size_t size, int* width, int* height, int* components) {
  std::size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return false;
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return false;  // scan or end before any frame header
    const std::size_t length = (std::size_t(data[pos + 2]) << 8) | data[pos + 3];
    if (length < 2 || pos + 2 + length > size) return false;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (length < 8) return false;
      *height = (int(data[pos + 5]) << 8) | data[pos + 6];
      *width = (int(data[pos + 7]) << 8) | data[pos + 8];
      *components = data[pos + 9];
      return true;
    }
    pos += 2 + length;
  }
  return false;
}

// libjpeg's warning texts (jerror.h, JWRN_*): TurboJPEG 2.x reports TJERR_WARNING whenever a warning came up, even
// when a fatal error followed, so the last message tells a warnings-only decode from a failed one.
bool is_libjpeg_warning(const std::string& msg) {
  for (const char* prefix : {"Corrupt JPEG data", "Premature end of JPEG file", "Inconsistent progression sequence",
                             "Invalid SOS parameters for sequential JPEG", "Warning: unknown JFIF revision",
                             "Unknown Adobe color transform code", "Application transferred too many scanlines"})
    if (msg.rfind(prefix, 0) == 0) return true;
  return false;
}

// JWRN_JPEG_EOF ("Premature end of JPEG file": the file is cut short) and JWRN_HIT_MARKER ("premature end of data
// segment"): image data is missing and libjpeg pads it with gray.
bool is_premature_end(const std::string& msg) {
  return contains_nocase(msg, "premature end");
}

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name) {
  TurboJpegHandle& handle = thread_decompressor();
  tjhandle tj = handle.get();
  unsigned char* data = const_cast<unsigned char*>(bytes.data());  // TurboJPEG 2.x takes non-const pointers
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, size, &width, &height, &subsamp, &colorspace) != 0) {
    const std::string what = tjGetErrorStr2(tj);
    const bool warning = tjGetErrorCode(tj) == TJERR_WARNING && is_libjpeg_warning(what);
    handle.reset();
    tj = handle.get();
    int components = 0;
    if (warning && !is_premature_end(what)) {
      // A warning in the header (e.g. extraneous bytes before a marker): the header was read; PIL goes on too.
    } else if (contains_nocase(what, "subsampling") &&
               parse_jpeg_sof(data, bytes.size(), &width, &height, &components)) {
      colorspace = components == 4 ? TJCS_CMYK : components == 1 ? TJCS_GRAY : TJCS_YCbCr;
    } else {
      SPML_FAIL(name, ": corrupt or truncated JPEG header (libjpeg-turbo: ", what, ")");
    }
  }
  if (width <= 0 || height <= 0) {  // a file cut inside its header reads as a header without a frame
    handle.reset();
    SPML_FAIL(name, ": corrupt or truncated JPEG (no frame header with the image size)");
  }
  SPML_CHECK(colorspace != TJCS_CMYK && colorspace != TJCS_YCCK, name,
             ": CMYK JPEG not supported (convert it to RGB first)");
  check_size(width, height, name);
  Image img;
  img.width = width;
  img.height = height;
  img.rgb.resize(std::size_t(width) * std::size_t(height) * 3);
  // Default decompression = PIL's: accurate integer IDCT (JDCT_ISLOW) and fancy upsampling; gray is replicated.
  const int flags = TJFLAG_ACCURATEDCT;
  if (tjDecompress2(tj, data, size, img.rgb.data(), width, 0, height, TJPF_RGB, flags) == 0) return img;
  const std::string last = tjGetErrorStr2(tj);
  const bool warnings_only = tjGetErrorCode(tj) == TJERR_WARNING && is_libjpeg_warning(last);
  handle.reset();
  if (!warnings_only) SPML_FAIL(name, ": corrupt JPEG (libjpeg-turbo: ", last, ")");
  // libjpeg only warns on a truncated file (it pads the image with gray); PIL refuses such files, and so do we.
  // Other warnings (e.g. extraneous bytes before a marker) leave a complete image, which PIL accepts too. The last
  // warning is not necessarily the first: stop at the first one in a second, rare, pass to see it as well.
  if (is_premature_end(last)) SPML_FAIL(name, ": corrupt or truncated JPEG (libjpeg-turbo: ", last, ")");
  std::vector<uint8_t> scratch(img.rgb.size());
  tj = handle.get();
  tjDecompress2(tj, data, size, scratch.data(), width, 0, height, TJPF_RGB, flags | TJFLAG_STOPONWARNING);
  const std::string first = tjGetErrorStr2(tj);
  handle.reset();
  if (is_premature_end(first)) SPML_FAIL(name, ": corrupt or truncated JPEG (libjpeg-turbo: ", first, ")");
  return img;
}

Image decode_stb(const std::vector<uint8_t>& bytes, const std::string& name) {
  SPML_CHECK(bytes.size() <= std::size_t(std::numeric_limits<int>::max()), name, ": file too large for stb_image (",
             bytes.size(), " bytes)");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = int(bytes.size());
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, size, &width, &height, &channels))
    SPML_FAIL(name, ": not a supported image (stb_image: ", stbi_failure_reason(), ")");
  check_size(width, height, name);
  Image img;
  if (channels == 1 && stbi_is_16_bit_from_memory(data, size)) {
    // 16-bit gray PNG: PIL opens it as mode I and convert('RGB') clips each value to 0..255.
    stbi_us* grey = stbi_load_16_from_memory(data, size, &width, &height, &channels, 1);
    if (!grey) SPML_FAIL(name, ": corrupt or truncated image (stb_image: ", stbi_failure_reason(), ")");
    img.width = width;
    img.height = height;
    img.rgb.resize(std::size_t(width) * std::size_t(height) * 3);
    for (std::size_t i = 0; i < std::size_t(width) * std::size_t(height); ++i)
      img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = uint8_t(std::min<int>(grey[i], 255));
    stbi_image_free(grey);
    return img;
  }
  // stb_image drops alpha (no premultiplication), replicates gray and expands palettes; 16 bits keep the high byte.
  stbi_uc* pixels = stbi_load_from_memory(data, size, &width, &height, &channels, 3);
  if (!pixels) SPML_FAIL(name, ": corrupt or truncated image (stb_image: ", stbi_failure_reason(), ")");
  img.width = width;
  img.height = height;
  img.rgb.assign(pixels, pixels + std::size_t(width) * std::size_t(height) * 3);
  stbi_image_free(pixels);
  return img;
}

}  // namespace

Image decode_image_bytes_with(const std::vector<uint8_t>& bytes, const std::string& name, bool use_stb) {
  SPML_CHECK(!bytes.empty(), name, ": empty file, not an image");
  if (!use_stb && is_jpeg(bytes.data(), bytes.size())) return decode_jpeg(bytes, name);
  return decode_stb(bytes, name);
}

Image decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  return decode_image_bytes_with(bytes, name, false);
}

Image decode_image(const std::string& path) {
  return decode_image_bytes(io::read_file(path), path);
}

}  // namespace spml::image
