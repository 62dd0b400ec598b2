// Images for the data pipeline: decode (JPEG through libjpeg-turbo, everything else through stb_image) to 8-bit RGB,
// Pillow-exact bilinear resize, horizontal flip, and ImageNet normalisation into float CHW / NCHW tensors.
// Every result equals what torchvision's PIL path computes: Image.open(p).convert('RGB'), Image.resize(size,
// BILINEAR), ToTensor + Normalize (tests/test_image.cpp checks this against fixtures written by PIL).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::image {

// 8-bit RGB, row-major HWC: the byte of channel c at (x, y) is rgb[(y * width + x) * 3 + c].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

// Decoding refuses images of more than this many pixels (8192 x 8192) before allocating anything for them, with an
// spml::Error naming the file: a hostile header of a few bytes cannot ask for gigabytes. PIL's own limit is higher
// (178956970); the SPML data sets' images are under 1 megapixel.
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

// ImageNet statistics of torchvision's Normalize.
inline constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
inline constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};

// Decodes a file to RGB, equal to PIL's Image.open(path).convert('RGB'):
// - the format comes from the magic bytes, not the extension;
// - JPEG through TurboJPEG (accurate integer IDCT, fancy upsampling, as PIL's libjpeg-turbo): bit-exact with PIL
//   when both use the same libjpeg-turbo release; grey JPEGs are replicated to RGB; EXIF orientation is NOT
//   applied (like convert('RGB')); CMYK/YCCK JPEGs are refused;
// - PNG, BMP, GIF (first frame), TGA, PNM, ... through stb_image: grey and palette become RGB, alpha is dropped
//   without premultiplying; 16-bit channels keep their high byte, except 16-bit grey PNG, which PIL opens as mode
//   I and clips to 0..255 (done the same here).
// Throws spml::Error naming the path for a missing file, an unknown format, a truncated or corrupt file
// (including libjpeg's "premature end of data" warnings), and for CMYK JPEGs. Thread-safe.
Image decode_image(const std::string& path);
// The same from bytes in memory; `name` (usually the path) goes into error messages.
Image decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name);
// The same, choosing the decoder instead of sniffing: for comparisons and benchmarks (JPEG through stb_image is
// NOT equal to PIL). `use_stb` forces stb_image for every format; a JPEG must then also decode cleanly through
// libjpeg-turbo first (stb_image's JPEG decoder in Debian's release is unsafe on malformed files).
//
// Caps (decode_image and both variants): at most kMaxImagePixels pixels; and for the formats stb_image decodes, at
// most as many pixels as the file's bytes can hold with the format's best compression (PNG 8256 per byte, GIF
// 10923, JPEG 512, PSD and TGA 128, BMP 8, PNM 1), checked before decoding: a truncated or hostile header of a few
// bytes gets an spml::Error, not a decode of millions of pixels. Softimage PIC is not read (PIL cannot read it
// either).
Image decode_image_bytes_with(const std::vector<uint8_t>& bytes, const std::string& name, bool use_stb);

// Resizes to out_w x out_h exactly like Pillow's Image.resize((out_w, out_h), Image.BILINEAR) on an RGB image:
// separable triangle filter whose support grows with the downscale factor (antialiasing), weights normalised per
// output pixel and rounded to 22-bit fixed point, a horizontal pass rounded to uint8, then a vertical pass (each pass
// skipped when its size does not change). Both sizes must be positive.
Image resize_bilinear(const Image& src, int out_w, int out_h);

// Mirrors left-right in place (torchvision's RandomHorizontalFlip).
void flip_horizontal(Image& img);

// Writes img as float CHW into out[3 * height * width]: (x / 255 - mean[c]) / std[c] in float32, the same
// arithmetic as torchvision's ToTensor followed by Normalize(mean, std).
void to_normalized_chw(const Image& img, float* out, const float mean[3] = kImageNetMean,
                       const float std[3] = kImageNetStd);

// Stacks normalised images into a float32 NCHW CPU tensor [N, 3, H, W]. All images must have the same size
// (spml::Error naming the first mismatch otherwise); the list must not be empty.
Tensor images_to_tensor(const std::vector<Image>& images, const float mean[3] = kImageNetMean,
                        const float std[3] = kImageNetStd);

}  // namespace spml::image
