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
#define STBI_NO_PIC  // nor Softimage PIC (PIL has no reader for it; its run-length counts defeat the size check below)
#include "stb_image.h"

namespace spml::image {
namespace {

// Larger images are refused before allocating (kMaxImagePixels in image.h: below PIL's DecompressionBombError
// limit of 178956970 pixels, so that stb_image's GIF decoder, which keeps 9 bytes per pixel, stays under 1 GB).
void check_size(int width, int height, const std::string& name) {
  SPML_CHECK(width > 0 && height > 0, name, ": image with an empty size ", width, "x", height);
  SPML_CHECK(int64_t(width) * height <= kMaxImagePixels, name, ": image too large (", width, "x", height,
             " pixels, limit ", kMaxImagePixels, ", a decompression-bomb check like PIL's)");
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

// True when stb_image takes the bytes for a JPEG: its marker reader accepts 0xFF, any number of 0xFF fill bytes,
// then SOI (0xD8).
bool stb_sees_jpeg(const uint8_t* d, std::size_t n) {
  if (n < 2 || d[0] != 0xFF) return false;
  std::size_t i = 1;
  while (i < n && d[i] == 0xFF) ++i;
  return i < n && d[i] == 0xD8;
}

// stb_image's JPEG decoder in Debian's release (2022-09, before stb_image 2.28) writes past its Huffman tables
// (size[257], values[256]) when a DHT segment declares more than 256 codes. Such data is refused before stb_image
// sees it: every FF C4 in the file is read the way stb_image reads a DHT segment (bytes past the end read as 0), so
// a table it could reach anywhere is checked. Returns true when some table declares more than 256 codes.
bool jpeg_has_oversized_huffman_table(const uint8_t* d, std::size_t n) {
  for (std::size_t p = 0; p + 1 < n; ++p) {
    if (d[p] != 0xFF || d[p + 1] != 0xC4) continue;
    std::size_t q = p + 2;
    auto get8 = [&]() -> int { return q < n ? d[q++] : 0; };
    int length = get8() << 8;
    length |= get8();
    length -= 2;
    while (length > 0 && q < n) {
      const int head = get8();
      if ((head >> 4) > 1 || (head & 15) > 3) break;  // stb_image stops there ("bad DHT header")
      int codes = 0;
      for (int i = 0; i < 16; ++i) codes += get8();
      if (codes > 256) return true;
      q += std::size_t(codes);
      length -= 17 + codes;
    }
  }
  return false;
}

// The format stb_image's loader picks, in the order it tries them (stbi__load_main).
enum class StbFormat { Png, Bmp, Gif, Psd, Jpeg, Pnm, Tga };

StbFormat stb_format(const uint8_t* d, std::size_t n) {
  auto starts = [&](const char* magic, std::size_t len) { return n >= len && std::memcmp(d, magic, len) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return StbFormat::Png;
  if (starts("BM", 2)) return StbFormat::Bmp;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return StbFormat::Gif;
  if (starts("8BPS", 4)) return StbFormat::Psd;
  if (stb_sees_jpeg(d, n)) return StbFormat::Jpeg;
  if (starts("P5", 2) || starts("P6", 2)) return StbFormat::Pnm;
  return StbFormat::Tga;  // stb_image's last, weakest test
}

// A decompression-bomb check by format: the most pixels one byte of the file can produce with the format's best
// compression, generously rounded up. stb_image decodes a truncated file by reading zeros past its end, so without
// this a file of a few hundred bytes claiming 7000 x 5000 pixels is decoded pixel by pixel in full.
// PNG: deflate expands at most 1032:1, at 1 bit per pixel; GIF: LZW codes of at least 3 bits, each at most 4096
// pixels; JPEG: at least 1 bit per 8x8 block (a progressive DC scan); PSD and RLE TGA: a 2-byte packet repeats at most
// 128 pixels; BMP (stb_image reads no RLE BMP): 1 bit per pixel; PNM: 1 byte per sample.
int64_t max_pixels_per_byte(StbFormat format) {
  switch (format) {
    case StbFormat::Png:
      return 8 * 1032;
    case StbFormat::Gif:
      return 4096 * 8 / 3 + 1;
    case StbFormat::Jpeg:
      return 512;
    case StbFormat::Psd:
    case StbFormat::Tga:
      return 128;
    case StbFormat::Bmp:
      return 8;
    case StbFormat::Pnm:
      return 1;
  }
  return 1;
}

const char* stb_format_name(StbFormat format) {
  switch (format) {
    case StbFormat::Png:
      return "PNG";
    case StbFormat::Bmp:
      return "BMP";
    case StbFormat::Gif:
      return "GIF";
    case StbFormat::Psd:
      return "PSD";
    case StbFormat::Jpeg:
      return "JPEG";
    case StbFormat::Pnm:
      return "PNM";
    case StbFormat::Tga:
      return "TGA";
  }
  return "image";
}

// Two stb_image PNG bugs are kept away by walking the chunks first (up to IEND, where stb_image stops):
// - an IDAT chunk whose length exceeds the bytes left: stb_image grows its buffer to that length (up to 2 GiB) before
//   it finds the data missing. Refused here as a truncated PNG.
// - a first IDAT chunk that is empty: stb_image memcpys 0 bytes to a null buffer (undefined behaviour; UBSan: "null
//   pointer passed as argument 1"). Empty IDAT chunks carry nothing (and stb_image checks no CRC), so a copy
//   without them decodes to the same image.
// Returns true and fills `out` when chunks were dropped.
bool prepare_png(const std::vector<uint8_t>& bytes, std::vector<uint8_t>& out, const std::string& name) {
  auto u32 = [&](std::size_t at) {
    return (uint32_t(bytes[at]) << 24) | (uint32_t(bytes[at + 1]) << 16) | (uint32_t(bytes[at + 2]) << 8) |
           bytes[at + 3];
  };
  std::vector<std::pair<std::size_t, std::size_t>> keep;  // [begin, end) byte ranges
  std::size_t pos = 8, kept_from = 0;
  while (pos + 8 <= bytes.size()) {
    const uint64_t length = u32(pos);
    const bool idat = std::memcmp(&bytes[pos + 4], "IDAT", 4) == 0;
    if (std::memcmp(&bytes[pos + 4], "IEND", 4) == 0) break;
    const uint64_t left = bytes.size() - pos - 8;
    SPML_CHECK(!idat || length <= left, name, ": corrupt or truncated PNG: an IDAT chunk at byte ", pos, " claims ",
               length, " bytes, only ", left, " follow");
    if (idat && length == 0) {
      keep.emplace_back(kept_from, pos);
      kept_from = pos + 12;
    }
    if (length + 12 > bytes.size() - pos) break;  // a cut-off chunk other than IDAT: stb_image reports it
    pos += 12 + std::size_t(length);
  }
  if (keep.empty()) return false;
  keep.emplace_back(std::min(kept_from, bytes.size()), bytes.size());
  out.clear();
  for (const auto& [begin, end] : keep)
    out.insert(out.end(), bytes.begin() + std::ptrdiff_t(begin), bytes.begin() + std::ptrdiff_t(end));
  return true;
}

// stb_image's PNM header reader accumulates width, height and maxval in an int without an overflow check (signed
// overflow, undefined behaviour; UBSan: "244444444 * 10 cannot be represented in type 'int'"). The three numbers are
// found the way stb_image reads them (white space and '#' comments between them) and more than 9 digits is refused:
// no valid width, height (at most 2^24 in stb_image) or maxval (at most 65535) needs them.
bool pnm_header_number_too_long(const uint8_t* d, std::size_t n) {
  auto space = [](uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  std::size_t i = 2;  // after "P5" / "P6"
  for (int field = 0; field < 3; ++field) {
    for (;;) {
      while (i < n && space(d[i])) ++i;
      if (i >= n || d[i] != '#') break;
      while (i < n && d[i] != '\n' && d[i] != '\r') ++i;
    }
    std::size_t digits = 0;
    while (i < n && d[i] >= '0' && d[i] <= '9') ++digits, ++i;
    if (digits > 9) return true;
    if (digits == 0) return false;  // stb_image refuses the header itself
  }
  return false;
}

Image decode_stb(const std::vector<uint8_t>& original, const std::string& name) {
  std::vector<uint8_t> stripped;
  const std::vector<uint8_t>& bytes =
      stb_format(original.data(), original.size()) == StbFormat::Png && prepare_png(original, stripped, name)
          ? stripped
          : original;
  SPML_CHECK(bytes.size() <= std::size_t(std::numeric_limits<int>::max()), name, ": file too large for stb_image (",
             bytes.size(), " bytes)");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = int(bytes.size());
  if (stb_format(data, bytes.size()) == StbFormat::Pnm && pnm_header_number_too_long(data, bytes.size()))
    SPML_FAIL(name, ": corrupt PNM header (a number with more than 9 digits)");
  if (stb_sees_jpeg(data, bytes.size()) && jpeg_has_oversized_huffman_table(data, bytes.size()))
    SPML_FAIL(name, ": corrupt JPEG (a Huffman table declares more than 256 codes)");
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, size, &width, &height, &channels))
    SPML_FAIL(name, ": not a supported image (stb_image: ", stbi_failure_reason(), ")");
  check_size(width, height, name);
  const StbFormat format = stb_format(data, bytes.size());
  const int64_t per_byte = max_pixels_per_byte(format);
  SPML_CHECK(int64_t(width) * height <= per_byte * int64_t(bytes.size()), name, ": corrupt or truncated ",
             stb_format_name(format), ": it claims ", width, "x", height, " pixels, more than a file of ", bytes.size(),
             " bytes can hold (at most ", per_byte, " pixels per byte)");
  Image img;
  if (channels == 1 && stbi_is_16_bit_from_memory(data, size)) {
    // 16-bit gray PNG: PIL opens it as mode I and convert('RGB') clips each value to 0..255.
    stbi_us* grey = stbi_load_16_from_memory(data, size, &width, &height, &channels, 1);
    if (!grey) SPML_FAIL(name, ": corrupt or truncated image (stb_image: ", stbi_failure_reason(), ")");
    if (width <= 0 || height <= 0 || int64_t(width) * height > kMaxImagePixels) stbi_image_free(grey);
    check_size(width, height, name);  // the decoder's size, which need not be the one its info call reported
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
  if (width <= 0 || height <= 0 || int64_t(width) * height > kMaxImagePixels) stbi_image_free(pixels);
  check_size(width, height, name);
  img.width = width;
  img.height = height;
  img.rgb.assign(pixels, pixels + std::size_t(width) * std::size_t(height) * 3);
  stbi_image_free(pixels);
  return img;
}

}  // namespace

Image decode_image_bytes_with(const std::vector<uint8_t>& bytes, const std::string& name, bool use_stb) {
  SPML_CHECK(!bytes.empty(), name, ": empty file, not an image");
  // Everything stb_image would take for a JPEG goes to libjpeg-turbo, also files that start FF FF D8 or FF D8 00
  // (not JPEG magic for PIL, which refuses them; libjpeg-turbo refuses or warns): stb_image's JPEG decoder in
  // Debian's release (2022-09, before stb_image 2.28) reads and writes out of bounds on malformed Huffman tables.
  const bool jpeg = is_jpeg(bytes.data(), bytes.size()) || stb_sees_jpeg(bytes.data(), bytes.size());
  if (jpeg && !use_stb) return decode_jpeg(bytes, name);
  // Forced stb_image on a JPEG (comparisons, benchmarks): only a file that libjpeg-turbo decodes cleanly reaches
  // stb_image's JPEG decoder.
  if (jpeg) decode_jpeg(bytes, name);
  return decode_stb(bytes, name);
}

Image decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  return decode_image_bytes_with(bytes, name, false);
}

Image decode_image(const std::string& path) {
  return decode_image_bytes(io::read_file(path), path);
}

}  // namespace spml::image
