// Image decode / resize / flip / normalise against PIL: fixtures from scripts/make_image_fixtures.py
// (tests/data/images/: PIL's convert('RGB') decodes and BILINEAR resizes saved as lossless PNG).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "framework/image/image.h"
#include "framework/io/file.h"
#include "test_util.h"

namespace spml::image {
namespace {

std::string image_path(const std::string& name) {
  return std::string(SPML_TEST_DATA_DIR) + "/images/" + name;
}

// Non-comment lines of a fixture manifest, split on whitespace.
std::vector<std::vector<std::string>> read_cases(const std::string& name) {
  std::ifstream in(image_path(name));
  EXPECT_TRUE(in.good()) << "missing " << image_path(name) << " (run scripts/make_image_fixtures.py)";
  std::vector<std::vector<std::string>> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::vector<std::string> row;
    for (std::string f; fields >> f;) row.push_back(f);
    cases.push_back(row);
  }
  return cases;
}

// Largest per-byte difference (-1 when the sizes differ) and how many bytes differ.
struct Diff {
  int max = 0;
  std::size_t count = 0;
};
Diff compare(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.rgb.size() != b.rgb.size()) return {-1, 0};
  Diff d;
  for (std::size_t i = 0; i < a.rgb.size(); ++i) {
    const int diff = std::abs(int(a.rgb[i]) - int(b.rgb[i]));
    d.max = std::max(d.max, diff);
    d.count += diff != 0;
  }
  return d;
}

const uint8_t* pixel(const Image& img, int x, int y) {
  return &img.rgb[(std::size_t(y) * img.width + x) * 3];
}

Image make_image(int w, int h, int seed) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(std::size_t(w) * h * 3);
  for (std::size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t((i * 37 + std::size_t(seed) * 11) % 256);
  return img;
}

TEST(ImageDecode, MatchesPilConvertRgbExactly) {
  const auto cases = read_cases("decode_cases.txt");
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    ASSERT_EQ(c.size(), 2u);
    const Image got = decode_image(image_path(c[0]));
    const Image want = decode_image(image_path(c[1]));
    const Diff d = compare(got, want);
    std::printf("  decode %-28s %dx%d: max abs diff vs PIL %d (%zu bytes differ)\n", c[0].c_str(), got.width,
                got.height, d.max, d.count);
    EXPECT_EQ(d.max, 0) << c[0] << ": " << got.width << "x" << got.height << " vs PIL " << want.width << "x"
                        << want.height;
  }
}

TEST(ImageDecode, GreyPaletteAlpha16BitToRgb) {
  // Grey: value (y * 19 + x) * 7 mod 256 in all three channels.
  const Image grey = decode_image(image_path("grey_19x13.png"));
  ASSERT_EQ(grey.width, 19);
  ASSERT_EQ(grey.height, 13);
  for (int y = 0; y < 13; ++y)
    for (int x = 0; x < 19; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(pixel(grey, x, y)[c], ((y * 19 + x) * 7) % 256) << x << "," << y;
  // Palette (index (y * 21 + x) mod 5, entry 3 transparent): the palette colours, transparency ignored.
  const uint8_t palette[5][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}, {200, 100, 50}};
  const Image pal = decode_image(image_path("palette_21x17.png"));
  ASSERT_EQ(pal.width, 21);
  ASSERT_EQ(pal.height, 17);
  for (int y = 0; y < 17; ++y)
    for (int x = 0; x < 21; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(pixel(pal, x, y)[c], palette[(y * 21 + x) % 5][c]) << x << "," << y;
  // RGBA: alpha dropped, not premultiplied (pixel 0 has alpha 0 and keeps its colour).
  const Image rgba = decode_image(image_path("rgba_23x11.png"));
  const Image rgba_pil = decode_image(image_path("rgba_23x11.pil_rgb.png"));
  EXPECT_EQ(compare(rgba, rgba_pil).max, 0);
  EXPECT_GT(int(pixel(rgba, 0, 0)[0]) + pixel(rgba, 0, 0)[1] + pixel(rgba, 0, 0)[2], 0);
  // 16-bit grey: v = 2 * (y * 15 + x) + 190 * y, clipped to 255 like PIL's I -> RGB.
  const Image g16 = decode_image(image_path("grey16_15x9.png"));
  ASSERT_EQ(g16.width, 15);
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 15; ++x)
      ASSERT_EQ(pixel(g16, x, y)[1], std::min(2 * (y * 15 + x) + 190 * y, 255)) << x << "," << y;
}

TEST(ImageDecode, FormatFromMagicBytesAndExifIgnored) {
  // A JPEG named .png decodes as JPEG (bit-exact with PIL, see the manifest); stb_image's JPEG decoder is close
  // but not PIL's.
  const std::vector<uint8_t> bytes = io::read_file(image_path("jpeg_named.png"));
  const Image tj = decode_image_bytes(bytes, "jpeg_named.png");
  const Image stb = decode_image_bytes_with(bytes, "jpeg_named.png", /*use_stb=*/true);
  const Image pil = decode_image(image_path("photo_64x48_q90.pil_rgb.png"));
  EXPECT_EQ(compare(tj, pil).max, 0);
  const Diff d = compare(stb, pil);
  std::printf("  stb_image JPEG decode vs PIL: max abs diff %d (%zu of %zu bytes differ)\n", d.max, d.count,
              pil.rgb.size());
  EXPECT_GE(d.max, 0);
  EXPECT_LE(d.max, 24);
  // EXIF orientation 6 is not applied: the stored 40x20, not the displayed 20x40.
  const Image exif = decode_image(image_path("exif_rot6_40x20.jpg"));
  EXPECT_EQ(exif.width, 40);
  EXPECT_EQ(exif.height, 20);
}

TEST(ImageDecode, ErrorsNameThePath) {
  // After each failure the next JPEG still decodes exactly (TurboJPEG's per-thread handle is not left mid-header).
  const Image pil = decode_image(image_path("photo_64x48_q90.pil_rgb.png"));
  auto good_jpeg_still_decodes = [&] {
    EXPECT_EQ(compare(decode_image(image_path("photo_64x48_q90.jpg")), pil).max, 0);
  };
  const std::string missing = image_path("no_such_file.jpg");
  EXPECT_ERROR_CONTAINS(decode_image(missing), missing.c_str(), "cannot open");
  const std::string truncated = image_path("truncated.jpg");
  EXPECT_ERROR_CONTAINS(decode_image(truncated), truncated.c_str(), "truncated", "Premature end");
  good_jpeg_still_decodes();
  const std::string cmyk = image_path("cmyk_16x16.jpg");
  EXPECT_ERROR_CONTAINS(decode_image(cmyk), cmyk.c_str(), "CMYK JPEG not supported");
  good_jpeg_still_decodes();
  // Scan data cut short inside a complete file: libjpeg only warns "premature end of data segment" (PIL loads it
  // with gray blocks); refused here. Benign warnings (extraneous_bytes.jpg) decode, see the manifest.
  const std::string cut = image_path("cut_scan.jpg");
  EXPECT_ERROR_CONTAINS(decode_image(cut), cut.c_str(), "premature end of data segment");
  good_jpeg_still_decodes();
  const std::string text = image_path("not_an_image.png");
  EXPECT_ERROR_CONTAINS(decode_image(text), text.c_str(), "not a supported image");
  EXPECT_ERROR_CONTAINS(decode_image_bytes({}, "empty.jpg"), "empty.jpg", "empty file");
  // A PNG cut in half, and a JPEG cut right after its header.
  std::vector<uint8_t> png = io::read_file(image_path("rgb_37x29.png"));
  png.resize(png.size() / 2);
  EXPECT_ERROR_CONTAINS(decode_image_bytes(png, "half.png"), "half.png", "corrupt or truncated");
  std::vector<uint8_t> jpeg = io::read_file(image_path("photo_64x48_q90.jpg"));
  jpeg.resize(40);
  EXPECT_ERROR_CONTAINS(decode_image_bytes(jpeg, "head.jpg"), "head.jpg", "truncated JPEG");
  good_jpeg_still_decodes();
  // Every prefix of a JPEG either fails cleanly or (past the last scan) decodes; the handle survives all of them.
  const std::vector<uint8_t> full = io::read_file(image_path("odd_37x29_progressive.jpg"));
  for (std::size_t n = 0; n < full.size(); n += 7) {
    const std::vector<uint8_t> prefix(full.begin(), full.begin() + std::ptrdiff_t(n));
    EXPECT_ERROR_CONTAINS(decode_image_bytes(prefix, "prefix.jpg"), "prefix.jpg");
  }
  good_jpeg_still_decodes();
}

TEST(ImageDecode, ThreadsDecodeIndependently) {
  // Each thread has its own TurboJPEG handle; failures in one thread do not disturb the others.
  const Image pil = decode_image(image_path("odd_37x29_q85.pil_rgb.png"));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (t % 2) {
          try {
            decode_image(image_path("truncated.jpg"));
          } catch (const spml::Error&) {
          }
        }
        mismatches[std::size_t(t)] += compare(decode_image(image_path("odd_37x29_q85.jpg")), pil).max != 0;
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[std::size_t(t)], 0) << "thread " << t;
}

TEST(ImageResize, MatchesPilBilinear) {
  const auto cases = read_cases("resize_cases.txt");
  ASSERT_GE(cases.size(), 10u);
  int worst = 0;
  for (const auto& c : cases) {
    ASSERT_EQ(c.size(), 4u);
    const int w = std::stoi(c[2]), h = std::stoi(c[3]);
    const Image src = decode_image(image_path(c[0]));
    const Image got = resize_bilinear(src, w, h);
    const Image want = decode_image(image_path(c[1]));
    const Diff d = compare(got, want);
    std::printf("  resize %-22s %3dx%-3d -> %3dx%-3d: max abs diff vs PIL %d (%zu bytes differ)\n", c[0].c_str(),
                src.width, src.height, w, h, d.max, d.count);
    EXPECT_EQ(d.max, 0) << c[1];
    worst = std::max(worst, d.max);
  }
  EXPECT_LE(worst, 1);
}

TEST(ImageResize, IdentityConstantAndErrors) {
  const Image img = make_image(13, 7, 1);
  EXPECT_EQ(compare(resize_bilinear(img, 13, 7), img).max, 0);
  // A constant image stays constant in every direction (the weights of each output pixel sum to one).
  Image flat;
  flat.width = 29;
  flat.height = 31;
  flat.rgb.assign(29 * 31 * 3, 0);
  for (std::size_t i = 0; i < flat.rgb.size(); ++i) flat.rgb[i] = uint8_t(i % 3 == 0 ? 255 : i % 3 == 1 ? 0 : 77);
  for (auto [w, h] : {std::pair{5, 3}, {100, 97}, {29, 8}, {64, 31}, {1, 1}}) {
    const Image r = resize_bilinear(flat, w, h);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    for (std::size_t i = 0; i < r.rgb.size(); ++i) ASSERT_EQ(r.rgb[i], flat.rgb[i % 3]) << w << "x" << h;
  }
  EXPECT_ERROR_CONTAINS(resize_bilinear(img, 0, 5), "resize_bilinear", "0x5");
  Image broken = img;
  broken.rgb.pop_back();
  EXPECT_ERROR_CONTAINS(resize_bilinear(broken, 4, 4), "resize_bilinear", "invalid image");
}

TEST(ImageFlip, MirrorsRows) {
  Image img = make_image(5, 3, 2);
  const Image orig = img;
  flip_horizontal(img);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(pixel(img, x, y)[c], pixel(orig, 4 - x, y)[c]);
  flip_horizontal(img);
  EXPECT_EQ(compare(img, orig).max, 0);
  Image one = make_image(1, 4, 3);
  flip_horizontal(one);
  EXPECT_EQ(compare(one, make_image(1, 4, 3)).max, 0);
}

TEST(ImageNormalize, ToTensorThenNormalizeValues) {
  Image img;
  img.width = 2;
  img.height = 1;
  img.rgb = {0, 128, 255, 255, 1, 64};
  std::vector<float> out(6);
  to_normalized_chw(img, out.data());
  // CHW: channel c of pixel x at out[c * 2 + x]; float32 steps as torchvision's ToTensor + Normalize.
  for (int x = 0; x < 2; ++x)
    for (int c = 0; c < 3; ++c) {
      const float v = (float(img.rgb[std::size_t(x) * 3 + c]) / 255.0f - kImageNetMean[c]) / kImageNetStd[c];
      EXPECT_EQ(out[std::size_t(c) * 2 + x], v) << "channel " << c << " pixel " << x;
    }
  EXPECT_NEAR(out[0], -0.485f / 0.229f, 1e-6);                  // R of pixel 0 (0)
  EXPECT_NEAR(out[2 * 2 + 0], (1.0f - 0.406f) / 0.225f, 1e-6);  // B of pixel 0 (255)
  const float mean[3] = {0.5f, 0.5f, 0.5f}, stdev[3] = {0.5f, 0.5f, 0.5f};
  to_normalized_chw(img, out.data(), mean, stdev);
  EXPECT_FLOAT_EQ(out[0], -1.0f);
  EXPECT_FLOAT_EQ(out[1], 1.0f);
}

TEST(ImageTensor, StacksNchwAndChecksSizes) {
  const std::vector<Image> imgs = {make_image(4, 3, 1), make_image(4, 3, 2)};
  const Tensor t = images_to_tensor(imgs);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 3, 4}));
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_TRUE(t.device().is_cpu());
  const std::vector<float> v = t.to_vector<float>();
  for (int n = 0; n < 2; ++n) {
    std::vector<float> chw(36);
    to_normalized_chw(imgs[std::size_t(n)], chw.data());
    for (int i = 0; i < 36; ++i) ASSERT_EQ(v[std::size_t(n) * 36 + i], chw[std::size_t(i)]);
  }
  EXPECT_ERROR_CONTAINS(images_to_tensor({make_image(4, 3, 1), make_image(3, 4, 1)}), "images_to_tensor", "3x4", "4x3");
  EXPECT_ERROR_CONTAINS(images_to_tensor({}), "images_to_tensor", "no images");
}

}  // namespace
}  // namespace spml::image
