// Fuzz target: image decoding (framework/image/image.h decode_image_bytes_with) through both decoders, then the
// resize and normalisation every decoded image goes through in the loader. The first input byte picks the decoder
// (bit 0: 0 = libjpeg-turbo for JPEG magic, else stb_image; 1 = stb_image for every format) and the resize target
// (bits 1-3: width 1..8, bits 4-7: height 1..16); the rest is the file.
// JPEG data never goes to stb_image here, even with bit 0 set: Debian's stb_image (2022-09) has known out-of-bounds
// bugs in its JPEG decoder (fixed upstream in 2.28), which decode_image never reaches (every JPEG-like file goes to
// libjpeg-turbo) and which only the comparison path decode_image_bytes_with(..., use_stb = true) still uses, for
// trusted files (docs/fuzzing.md).
#include <vector>

#include "framework/image/image.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  // What stb_image takes for a JPEG: 0xFF, any 0xFF fill bytes, SOI.
  std::size_t i = 2;
  while (i < size && data[i] == 0xFF) ++i;
  const bool jpeg_like = size > 2 && data[1] == 0xFF && i < size && data[i] == 0xD8;
  const bool use_stb = (control & 1) != 0 && !jpeg_like;
  const int out_w = 1 + ((control >> 1) & 7), out_h = 1 + (control >> 4);
  const std::vector<uint8_t> bytes(data + 1, data + size);
  image::Image img;
  if (!fuzz::accepts([&] { img = image::decode_image_bytes_with(bytes, "fuzz.img", use_stb); })) return 0;
  fuzz::require(img.width > 0 && img.height > 0 && int64_t(img.width) * img.height <= image::kMaxImagePixels,
                "decoded size within the cap");
  fuzz::require(img.rgb.size() == std::size_t(img.width) * std::size_t(img.height) * 3, "rgb buffer size");
  image::Image small = image::resize_bilinear(img, out_w, out_h);
  fuzz::require(small.width == out_w && small.height == out_h && small.rgb.size() == std::size_t(out_w * out_h * 3),
                "resized size");
  image::flip_horizontal(small);
  std::vector<float> chw(std::size_t(3 * out_w * out_h));
  image::to_normalized_chw(small, chw.data());
  return 0;
}
