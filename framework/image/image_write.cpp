// PNG (stb_image_write, its implementation compiled here file-local) and JPEG (TurboJPEG tjCompress2) encoding.
#include "framework/image/image_write.h"

#include <turbojpeg.h>

#include <cstring>

#include "framework/io/file.h"
#include "kernels/common/error.h"

#define STB_IMAGE_WRITE_STATIC  // file-local symbols: no clash with another copy of stb_image_write in the program
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO  // bytes go through io::write_file_atomic
#include "stb_image_write.h"

namespace spml::image {
namespace {

void check_image(const Image& img, const std::string& name) {
  SPML_CHECK(img.width > 0 && img.height > 0, name, ": cannot encode an image of size ", img.width, "x", img.height);
  SPML_CHECK(img.rgb.size() == std::size_t(img.width) * std::size_t(img.height) * 3, name, ": image buffer holds ",
             img.rgb.size(), " bytes, expected ", std::size_t(img.width) * std::size_t(img.height) * 3, " for ",
             img.width, "x", img.height, " RGB");
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& img, const std::string& name) {
  check_image(img, name);
  std::vector<uint8_t> out;
  const int ok = stbi_write_png_to_func(append_bytes, &out, img.width, img.height, 3, img.rgb.data(), img.width * 3);
  SPML_CHECK(ok != 0 && !out.empty(), name, ": PNG encoding failed");
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality, const std::string& name) {
  check_image(img, name);
  SPML_CHECK(quality >= 1 && quality <= 100, name, ": JPEG quality must be in 1..100, got ", quality);
  tjhandle handle = tjInitCompress();
  SPML_CHECK(handle != nullptr, name, ": TurboJPEG initialisation failed");
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(handle, img.rgb.data(), img.width, img.width * 3, img.height, TJPF_RGB, &buffer, &size,
                             TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  std::string error;
  if (rc != 0) error = tjGetErrorStr2(handle);
  std::vector<uint8_t> out;
  if (rc == 0) out.assign(buffer, buffer + size);
  if (buffer) tjFree(buffer);
  tjDestroy(handle);
  SPML_CHECK(rc == 0, name, ": JPEG encoding failed: ", error);
  return out;
}

void write_png(const std::string& path, const Image& img) {
  const std::vector<uint8_t> bytes = encode_png(img, path);
  io::write_file_atomic(path, bytes.data(), bytes.size());
}

void write_jpeg(const std::string& path, const Image& img, int quality) {
  const std::vector<uint8_t> bytes = encode_jpeg(img, quality, path);
  io::write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace spml::image
