// Image encoding: PNG through stb_image_write and JPEG through libjpeg-turbo's TurboJPEG, written atomically (the
// whole file is encoded in memory, then io::write_file_atomic writes a temp file and renames it over the path).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/image/image.h"

namespace spml::image {

// Encodes img (8-bit RGB) as PNG / baseline JPEG in memory. JPEG: 4:2:0 chroma subsampling and the accurate integer
// DCT, like PIL's Image.save(..., quality=q) defaults; quality in 1..100. Throws spml::Error for an image whose
// buffer does not match its size, or an encoder failure (naming `name`).
std::vector<uint8_t> encode_png(const Image& img, const std::string& name = "image");
std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 95, const std::string& name = "image");

// Encode, then write atomically to path (errors name the path).
void write_png(const std::string& path, const Image& img);
void write_jpeg(const std::string& path, const Image& img, int quality = 95);

}  // namespace spml::image
