// Pillow-exact bilinear resize (the arithmetic of Pillow's ImagingResample for 8-bit images), horizontal flip and
// ImageNet normalisation into float CHW / NCHW.
#include "framework/image/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common/error.h"

namespace spml::image {
namespace {

// Pillow: 8 bits of result, 2 bits of headroom for filters with negative lobes, the rest for the fraction.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's "bilinear" filter: a triangle of support 1 (scaled by the downscale factor below).
inline double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Per output pixel: the first input index, the number of taps, and ksize fixed-point weights (zeros past the taps).
struct Taps {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size) -> out_size.
Taps make_taps(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);  // widen the filter when shrinking (antialiasing)
  const double support = 1.0 * filterscale;
  Taps t;
  t.ksize = int(std::ceil(support)) * 2 + 1;
  t.first.resize(std::size_t(out_size));
  t.count.resize(std::size_t(out_size));
  t.weights.assign(std::size_t(out_size) * std::size_t(t.ksize), 0);
  std::vector<double> w(std::size_t(t.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(int(center - support + 0.5), 0);  // int() truncates toward zero, as in C
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[std::size_t(x)] = triangle((x + xmin - center + 0.5) * ss);
      ww += w[std::size_t(x)];
    }
    int32_t* k = &t.weights[std::size_t(xx) * std::size_t(t.ksize)];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[std::size_t(x)] / ww : w[std::size_t(x)];
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    t.first[std::size_t(xx)] = xmin;
    t.count[std::size_t(xx)] = std::max(xmax, 0);
  }
  return t;
}

// Pillow's clip8: drop the fraction (arithmetic shift = floor), clamp to 0..255.
inline uint8_t clip8(int32_t v) {
  const int32_t s = v >> kPrecisionBits;
  return uint8_t(s < 0 ? 0 : s > 255 ? 255 : s);
}

constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Rows [row0, row0 + rows) of src resampled horizontally to taps.first.size() columns.
Image resample_horizontal(const Image& src, int row0, int rows, const Taps& taps) {
  Image out;
  out.width = int(taps.first.size());
  out.height = rows;
  out.rgb.resize(std::size_t(out.width) * std::size_t(rows) * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = &src.rgb[std::size_t(row0 + y) * std::size_t(src.width) * 3];
    uint8_t* o = &out.rgb[std::size_t(y) * std::size_t(out.width) * 3];
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &taps.weights[std::size_t(xx) * std::size_t(taps.ksize)];
      const uint8_t* p = in + std::size_t(taps.first[std::size_t(xx)]) * 3;
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int x = 0; x < taps.count[std::size_t(xx)]; ++x) {
        s0 += int32_t(p[3 * x + 0]) * k[x];
        s1 += int32_t(p[3 * x + 1]) * k[x];
        s2 += int32_t(p[3 * x + 2]) * k[x];
      }
      o[3 * xx + 0] = clip8(s0);
      o[3 * xx + 1] = clip8(s1);
      o[3 * xx + 2] = clip8(s2);
    }
  }
  return out;
}

// src resampled vertically to taps.first.size() rows; taps.first is relative to src's row `row0`.
Image resample_vertical(const Image& src, int row0, const Taps& taps) {
  Image out;
  out.width = src.width;
  out.height = int(taps.first.size());
  const std::size_t row_bytes = std::size_t(src.width) * 3;
  out.rgb.resize(row_bytes * std::size_t(out.height));
  std::vector<int32_t> acc(row_bytes);
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &taps.weights[std::size_t(yy) * std::size_t(taps.ksize)];
    const int first = taps.first[std::size_t(yy)] - row0;
    std::fill(acc.begin(), acc.end(), kHalf);
    // Row by row over the taps: the same sums as Pillow's per-pixel loop (integer addition is exact).
    for (int y = 0; y < taps.count[std::size_t(yy)]; ++y) {
      const uint8_t* in = &src.rgb[std::size_t(first + y) * row_bytes];
      const int32_t w = k[y];
      for (std::size_t i = 0; i < row_bytes; ++i) acc[i] += int32_t(in[i]) * w;
    }
    uint8_t* o = &out.rgb[std::size_t(yy) * row_bytes];
    for (std::size_t i = 0; i < row_bytes; ++i) o[i] = clip8(acc[i]);
  }
  return out;
}

void check_image(const Image& img, const char* op) {
  SPML_CHECK(img.width > 0 && img.height > 0 && img.rgb.size() == std::size_t(img.width) * std::size_t(img.height) * 3,
             op, ": invalid image ", img.width, "x", img.height, " with ", img.rgb.size(), " bytes (expected ",
             std::size_t(std::max(img.width, 0)) * std::size_t(std::max(img.height, 0)) * 3, ")");
}

}  // namespace

Image resize_bilinear(const Image& src, int out_w, int out_h) {
  check_image(src, "resize_bilinear");
  SPML_CHECK(out_w > 0 && out_h > 0, "resize_bilinear: output size must be positive, got ", out_w, "x", out_h);
  const bool need_horizontal = out_w != src.width;
  const bool need_vertical = out_h != src.height;
  if (!need_horizontal && !need_vertical) return src;
  const Taps vert = make_taps(src.height, out_h);
  if (!need_horizontal) return resample_vertical(src, 0, vert);
  // Only the input rows the vertical pass reads go through the horizontal pass.
  const int row_first = vert.first.front();
  const int row_last = vert.first.back() + vert.count.back();
  Image tmp = resample_horizontal(src, row_first, row_last - row_first, make_taps(src.width, out_w));
  if (!need_vertical) return tmp;
  return resample_vertical(tmp, row_first, vert);
}

void flip_horizontal(Image& img) {
  check_image(img, "flip_horizontal");
  for (int y = 0; y < img.height; ++y) {
    uint8_t* row = &img.rgb[std::size_t(y) * std::size_t(img.width) * 3];
    for (int l = 0, r = img.width - 1; l < r; ++l, --r) {
      std::swap(row[3 * l + 0], row[3 * r + 0]);
      std::swap(row[3 * l + 1], row[3 * r + 1]);
      std::swap(row[3 * l + 2], row[3 * r + 2]);
    }
  }
}

void to_normalized_chw(const Image& img, float* out, const float mean[3], const float std[3]) {
  check_image(img, "to_normalized_chw");
  SPML_CHECK(out != nullptr, "to_normalized_chw: null output pointer");
  // Every byte value maps to one float: a table per channel, computed with ToTensor + Normalize's float32 steps.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    SPML_CHECK(std[c] != 0.0f, "to_normalized_chw: std[", c, "] is zero");
    for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) / 255.0f - mean[c]) / std[c];
  }
  const std::size_t plane = std::size_t(img.width) * std::size_t(img.height);
  const uint8_t* p = img.rgb.data();
  for (std::size_t i = 0; i < plane; ++i) {
    out[i] = lut[0][p[3 * i + 0]];
    out[plane + i] = lut[1][p[3 * i + 1]];
    out[2 * plane + i] = lut[2][p[3 * i + 2]];
  }
}

Tensor images_to_tensor(const std::vector<Image>& images, const float mean[3], const float std[3]) {
  SPML_CHECK(!images.empty(), "images_to_tensor: no images");
  const int w = images.front().width, h = images.front().height;
  for (std::size_t i = 0; i < images.size(); ++i) {
    check_image(images[i], "images_to_tensor");
    SPML_CHECK(images[i].width == w && images[i].height == h, "images_to_tensor: image ", i, " is ", images[i].width,
               "x", images[i].height, " but image 0 is ", w, "x", h, " (resize them to one size first)");
  }
  Tensor out = Tensor::empty({int64_t(images.size()), 3, h, w}, DType::Float32, Device::cpu());
  float* data = out.data<float>();
  const std::size_t per_image = std::size_t(3) * std::size_t(w) * std::size_t(h);
  for (std::size_t i = 0; i < images.size(); ++i) to_normalized_chw(images[i], data + i * per_image, mean, std);
  return out;
}

}  // namespace spml::image
