// Tests of IDX reading (framework/data/builders/idx.h), PNG/JPEG writing (framework/image/image_write.h),
// Fashion-Mosaic (framework/data/builders/fashion_mosaic.h) and Toy Shapes (framework/data/builders/toy_shapes.h).
// Known Fashion-MNIST values were read offline with Python's gzip module and pasted as constants; the Fashion-Mosaic
// tests skip when the Debian package dataset-fashion-mnist is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "framework/data/builders/fashion_mosaic.h"
#include "framework/data/builders/idx.h"
#include "framework/data/builders/toy_shapes.h"
#include "framework/data/preformatted.h"
#include "framework/image/image.h"
#include "framework/image/image_write.h"
#include "framework/io/file.h"
#include "framework/io/npy.h"
#include "framework/io/npy_tensor.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
namespace data = spml::data;
namespace image = spml::image;
namespace io = spml::io;

const std::string kFashionDir = "/usr/share/datasets/fashion-mnist";

bool have_fashion_mnist() {
  return fs::exists(kFashionDir + "/train-images-idx3-ubyte.gz");
}

#define SKIP_WITHOUT_FASHION_MNIST()                                                                  \
  do {                                                                                                \
    if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)"; \
  } while (0)

std::string temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) / ("spml_fm_" + std::to_string(::getpid()) + "_" +
                                                         info->test_suite_name() + "_" + info->name() + "_" + tag);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(v >> shift));
}

// Every regular file under dir, relative path -> bytes.
std::vector<std::pair<std::string, std::vector<uint8_t>>> folder_contents(const std::string& dir) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file())
      out.emplace_back(fs::relative(entry.path(), dir).string(), io::read_file(entry.path().string()));
  std::sort(out.begin(), out.end());
  return out;
}

// Whether every pixel of the rectangle is black.
bool region_black(const image::Image& img, int x0, int y0, int w, int h) {
  for (int y = y0; y < y0 + h; ++y)
    for (int x = x0; x < x0 + w; ++x)
      for (int c = 0; c < 3; ++c)
        if (img.rgb[(std::size_t(y) * img.width + x) * 3 + c] != 0) return false;
  return true;
}

// The canvas pixels outside every item's box are black, and inside each labelled slot something is lit.
void expect_slots_match(const image::Image& img, const std::vector<int>& item_slots, int size,
                        const std::string& what) {
  const int slot = size / 2;
  for (int s = 0; s < 4; ++s) {
    const bool used = std::find(item_slots.begin(), item_slots.end(), s) != item_slots.end();
    const bool black = region_black(img, (s % 2) * slot, (s / 2) * slot, slot, slot);
    EXPECT_EQ(black, !used) << what << ": slot " << s << (used ? " holds an item but is black" : " is empty but lit");
  }
}

// Fashion-MNIST loaded once for the whole suite.
const data::FashionMnist& fashion() {
  static const std::unique_ptr<data::FashionMnist> cached =
      std::make_unique<data::FashionMnist>(data::load_fashion_mnist(kFashionDir));
  return *cached;
}

// ------------------------------------------------------------------------------------------ IDX
TEST(Idx, ReadsFashionMnist) {
  SKIP_WITHOUT_FASHION_MNIST();
  const data::IdxImages train = data::read_idx_images(kFashionDir + "/train-images-idx3-ubyte.gz");
  const std::vector<uint8_t> train_labels = data::read_idx_labels(kFashionDir + "/train-labels-idx1-ubyte.gz");
  const data::IdxImages test = data::read_idx_images(kFashionDir + "/t10k-images-idx3-ubyte.gz");
  const std::vector<uint8_t> test_labels = data::read_idx_labels(kFashionDir + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(train.count, 60000);
  EXPECT_EQ(train.rows, 28);
  EXPECT_EQ(train.cols, 28);
  EXPECT_EQ(train.pixels.size(), 60000u * 784u);
  EXPECT_EQ(test.count, 10000);
  ASSERT_EQ(train_labels.size(), 60000u);
  ASSERT_EQ(test_labels.size(), 10000u);
  // Python: gzip.open(...).read()[8:8 + 12] and [-5:].
  EXPECT_EQ(std::vector<int>(train_labels.begin(), train_labels.begin() + 12),
            (std::vector<int>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9}));
  EXPECT_EQ(std::vector<int>(train_labels.end() - 5, train_labels.end()), (std::vector<int>{5, 1, 3, 0, 5}));
  EXPECT_EQ(std::vector<int>(test_labels.begin(), test_labels.begin() + 12),
            (std::vector<int>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5}));
  EXPECT_EQ(std::vector<int>(test_labels.end() - 5, test_labels.end()), (std::vector<int>{9, 1, 8, 1, 5}));
  // Pixel sum of image 0 and its pixel at row 14, column 14.
  int64_t sum_train = 0, sum_test = 0;
  for (int p = 0; p < 784; ++p) sum_train += train.image(0)[p], sum_test += test.image(0)[p];
  EXPECT_EQ(sum_train, 76247);
  EXPECT_EQ(sum_test, 33456);
  EXPECT_EQ(train.image(0)[14 * 28 + 14], 217);
  EXPECT_EQ(test.image(0)[14 * 28 + 14], 110);
  // 6000 / 1000 items per class.
  std::vector<int> counts(10, 0);
  for (uint8_t l : train_labels) ++counts[l];
  EXPECT_EQ(counts, std::vector<int>(10, 6000));
}

TEST(Idx, ReadsPlainFilesAndReportsErrors) {
  const std::string dir = temp_dir("idx");
  // A plain (not gzipped) IDX file: zlib passes it through.
  std::vector<uint8_t> images;
  put_u32(images, 2051);
  put_u32(images, 2);
  put_u32(images, 2);
  put_u32(images, 3);
  for (int i = 0; i < 12; ++i) images.push_back(uint8_t(10 * i));
  write_bytes(dir + "/images.idx", images);
  const data::IdxImages read = data::read_idx_images(dir + "/images.idx");
  EXPECT_EQ(read.count, 2);
  EXPECT_EQ(read.rows, 2);
  EXPECT_EQ(read.cols, 3);
  EXPECT_EQ(read.image(1)[5], 110);

  std::vector<uint8_t> labels;
  put_u32(labels, 2049);
  put_u32(labels, 4);
  for (uint8_t v : {3, 1, 4, 1}) labels.push_back(v);
  write_bytes(dir + "/labels.idx", labels);
  EXPECT_EQ(data::read_idx_labels(dir + "/labels.idx"), (std::vector<uint8_t>{3, 1, 4, 1}));

  EXPECT_ERROR_CONTAINS(data::read_idx_images(dir + "/missing.gz"), "not found", "missing.gz");
  EXPECT_ERROR_CONTAINS(data::read_idx_images(dir + "/labels.idx"), "bad IDX magic", "labels.idx", "2049", "2051");
  EXPECT_ERROR_CONTAINS(data::read_idx_labels(dir + "/images.idx"), "bad IDX magic", "images.idx", "2051", "2049");
  // Header promising more than the file holds.
  std::vector<uint8_t> short_labels(labels.begin(), labels.end() - 2);
  write_bytes(dir + "/short.idx", short_labels);
  EXPECT_ERROR_CONTAINS(data::read_idx_labels(dir + "/short.idx"), "truncated", "short.idx", "4 bytes", "2 present");
  std::vector<uint8_t> header_only(images.begin(), images.begin() + 6);
  write_bytes(dir + "/header.idx", header_only);
  EXPECT_ERROR_CONTAINS(data::read_idx_images(dir + "/header.idx"), "truncated", "header.idx");
  // A cut-off gzip stream.
  if (have_fashion_mnist()) {
    std::vector<uint8_t> gz = io::read_file(kFashionDir + "/train-labels-idx1-ubyte.gz");
    gz.resize(2000);
    write_bytes(dir + "/cut.gz", gz);
    const std::string msg = spml::test::error_message([&] { data::read_idx_labels(dir + "/cut.gz"); });
    EXPECT_NE(msg.find("cut.gz"), std::string::npos) << msg;
  }
  fs::remove_all(dir);
}

// ------------------------------------------------------------------------------------------ image writing
image::Image gradient_image(int w, int h) {
  image::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(std::size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(std::size_t(y) * w + x) * 3];
      p[0] = uint8_t(x * 255 / (w - 1));
      p[1] = uint8_t(y * 255 / (h - 1));
      p[2] = uint8_t((x + y) * 127 / (w + h));
    }
  return img;
}

TEST(ImageWrite, PngRoundTripsExactly) {
  const std::string dir = temp_dir("png");
  const image::Image img = gradient_image(37, 21);
  image::write_png(dir + "/a.png", img);
  const image::Image back = image::decode_image(dir + "/a.png");
  EXPECT_EQ(back.width, 37);
  EXPECT_EQ(back.height, 21);
  EXPECT_EQ(back.rgb, img.rgb);
  // Atomic write: only the final file remains.
  EXPECT_EQ(folder_contents(dir).size(), 1u);
  fs::remove_all(dir);
}

TEST(ImageWrite, JpegDecodesCloseToTheSource) {
  const std::string dir = temp_dir("jpg");
  const image::Image img = gradient_image(64, 48);
  image::write_jpeg(dir + "/a.jpg", img);
  const std::vector<uint8_t> bytes = io::read_file(dir + "/a.jpg");
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(bytes[0], 0xFF);
  EXPECT_EQ(bytes[1], 0xD8);
  const image::Image back = image::decode_image(dir + "/a.jpg");
  ASSERT_EQ(back.width, 64);
  ASSERT_EQ(back.height, 48);
  double err = 0;
  for (std::size_t i = 0; i < img.rgb.size(); ++i) err += std::abs(int(img.rgb[i]) - int(back.rgb[i]));
  EXPECT_LT(err / double(img.rgb.size()), 2.0);
  // Lower quality gives a smaller file.
  EXPECT_LT(image::encode_jpeg(img, 30).size(), image::encode_jpeg(img, 95).size());
  EXPECT_EQ(folder_contents(dir).size(), 1u);
  fs::remove_all(dir);
}

TEST(ImageWrite, Errors) {
  image::Image bad;
  bad.width = 4;
  bad.height = 4;
  bad.rgb.resize(10);
  EXPECT_ERROR_CONTAINS(image::write_png("/nonexistent/x.png", bad), "/nonexistent/x.png", "10 bytes", "48");
  EXPECT_ERROR_CONTAINS(image::encode_jpeg(gradient_image(8, 8), 0), "quality", "0");
  EXPECT_ERROR_CONTAINS(image::write_png("/nonexistent_dir_spml/x.png", gradient_image(8, 8)),
                        "/nonexistent_dir_spml/x.png");
}

// ------------------------------------------------------------------------------------------ DrawRng
TEST(FashionMosaicRng, PinnedAndUnbiasedRange) {
  // Pinned outputs: a change of the generator would silently change every data set.
  data::DrawRng a(0, 0), b(0, 0), c(0, 1), d(1, 0);
  const uint64_t first = a.next();
  EXPECT_EQ(first, b.next());
  EXPECT_NE(first, c.next());
  EXPECT_NE(first, d.next());
  data::DrawRng pinned(12345, 0);
  EXPECT_EQ(pinned.next(), 14974597105639489093ull);
  EXPECT_EQ(pinned.below(1000), 92u);
  EXPECT_DOUBLE_EQ(pinned.uniform01(), 0.021739416362628994);
  EXPECT_EQ(data::DrawRng::splitmix64(0), 0xE220A8397B1DCDAFull);  // SplitMix64's reference first output for seed 0
  data::DrawRng r(7, 3);
  std::vector<int> hist(3, 0);
  for (int i = 0; i < 30000; ++i) {
    const uint64_t v = r.below(3);
    ASSERT_LT(v, 3u);
    ++hist[v];
    const double u = r.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  for (int h : hist) EXPECT_NEAR(h, 10000, 400);
}

// ------------------------------------------------------------------------------------------ Fashion-Mosaic
TEST(FashionMosaic, PlanDistribution) {
  SKIP_WITHOUT_FASHION_MNIST();
  const int64_t n = 2000;
  const auto canvases = data::plan_fashion_mosaic(n, fashion().train_labels, 64, 3, data::MosaicSplit::Train);
  ASSERT_EQ(int64_t(canvases.size()), n);
  std::vector<int> k_count(5, 0);
  double distinct = 0, distinct_sq = 0;
  std::set<int64_t> sources;
  for (const auto& c : canvases) {
    const int k = int(c.items.size());
    ASSERT_GE(k, 1);
    ASSERT_LE(k, 4);
    ++k_count[k];
    distinct += double(c.classes.size());
    distinct_sq += double(c.classes.size() * c.classes.size());
    std::set<int> slots, classes;
    for (const auto& it : c.items) {
      slots.insert(it.slot);
      classes.insert(it.label);
      EXPECT_TRUE(sources.insert(it.source).second) << "item " << it.source << " used twice";
      EXPECT_EQ(it.label, fashion().train_labels[std::size_t(it.source)]);
      EXPECT_EQ(it.size, 28);
      // Inside its slot: offset 0..4 from the slot's corner.
      const int ox = it.x - (it.slot % 2) * 32, oy = it.y - (it.slot / 2) * 32;
      EXPECT_TRUE(ox >= 0 && ox <= 4 && oy >= 0 && oy <= 4) << ox << ", " << oy;
      for (double t : it.tint) {
        EXPECT_GE(t, 0.25);
        EXPECT_LE(t, 1.0);
      }
    }
    EXPECT_EQ(int(slots.size()), k);
    EXPECT_EQ(std::vector<int>(classes.begin(), classes.end()), c.classes);
  }
  const double p[5] = {0, 0.45, 0.30, 0.15, 0.10};
  for (int k = 1; k <= 4; ++k) {
    const double sd = std::sqrt(n * p[k] * (1 - p[k]));
    EXPECT_NEAR(k_count[k], n * p[k], 4 * sd) << "k = " << k;
  }
  // E[distinct classes] = sum_k p_k * 10 * (1 - 0.9^k) = 1.770 (slightly more without replacement).
  const double mean = distinct / n, var = distinct_sq / n - mean * mean;
  EXPECT_NEAR(mean, 1.77, 4 * std::sqrt(var / n) + 0.01);
  // The tint spans its range.
  double lo = 1, hi = 0;
  for (const auto& c : canvases)
    for (const auto& it : c.items)
      for (double t : it.tint) lo = std::min(lo, t), hi = std::max(hi, t);
  EXPECT_LT(lo, 0.26);
  EXPECT_GT(hi, 0.99);
}

TEST(FashionMosaic, BuildWritesConsistentImagesAndLabels) {
  SKIP_WITHOUT_FASHION_MNIST();
  const std::string dir = temp_dir("build");
  data::FashionMosaicOptions opt;
  opt.out = dir;
  opt.train = 150;
  opt.test = 100;
  opt.seed = 5;
  const data::FashionMosaicResult res = data::build_fashion_mosaic(opt, fashion());
  EXPECT_TRUE(data::preformatted_exists(dir));
  ASSERT_EQ(res.train_paths.size(), 150u);
  ASSERT_EQ(res.test_paths.size(), 100u);
  EXPECT_EQ(res.train_paths[0], "train/000000.png");
  EXPECT_EQ(res.test_paths[99], "test/000099.png");

  // dataset.json from write_preformatted.
  const auto meta = nlohmann::json::parse(io::read_text_file(dir + "/dataset.json"));
  EXPECT_EQ(meta["name"], "fashion-mosaic");
  EXPECT_EQ(meta["class_names"].get<std::vector<std::string>>(), data::fashion_mnist_class_names());
  EXPECT_EQ(data::fashion_mnist_class_names()[0], "T-shirt/top");
  EXPECT_EQ(data::fashion_mnist_class_names()[9], "Ankle boot");

  struct Part {
    const char* file;
    const std::vector<data::MosaicCanvas>* canvases;
    const std::vector<std::string>* paths;
    const data::IdxImages* items;
  };
  for (const Part& part : {Part{"train", &res.train, &res.train_paths, &fashion().train_images},
                           Part{"val", &res.test, &res.test_paths, &fashion().test_images}}) {
    const std::string prefix = dir + "/formatted_" + part.file + "_";
    EXPECT_EQ(io::npy_strings(io::read_npy(prefix + "images.npy")), *part.paths);
    const std::vector<float> labels = io::read_npy_tensor(prefix + "labels.npy").to_vector<float>();
    const std::vector<float> observed = io::read_npy_tensor(prefix + "labels_obs.npy").to_vector<float>();
    ASSERT_EQ(labels.size(), part.canvases->size() * 10);
    ASSERT_EQ(observed.size(), labels.size());
    for (std::size_t i = 0; i < part.canvases->size(); ++i) {
      const data::MosaicCanvas& canvas = (*part.canvases)[i];
      // The labels are exactly the classes of the drawn items.
      std::set<int> drawn;
      std::vector<int> slots;
      for (const auto& it : canvas.items) drawn.insert(it.label), slots.push_back(it.slot);
      int n_obs = 0;
      for (int c = 0; c < 10; ++c) {
        EXPECT_EQ(labels[i * 10 + c], drawn.count(c) ? 1.0f : 0.0f) << part.file << " row " << i << " class " << c;
        if (observed[i * 10 + c] == 1.0f) {
          ++n_obs;
          EXPECT_EQ(drawn.count(c), 1u) << "observed label not a positive";
        }
      }
      EXPECT_EQ(n_obs, 1);
      // Pixels: the file equals the rendering, lit exactly in the labelled slots, and follows round(gray * tint).
      const image::Image img = image::decode_image(dir + "/images/" + (*part.paths)[i]);
      ASSERT_EQ(img.width, 64);
      ASSERT_EQ(img.height, 64);
      EXPECT_EQ(img.rgb, data::render_fashion_mosaic(canvas, *part.items, 64).rgb);
      expect_slots_match(img, slots, 64, std::string(part.file) + " canvas " + std::to_string(i));
      const data::MosaicItem& it = canvas.items[0];
      for (int v = 0; v < 28; v += 3)
        for (int u = 0; u < 28; u += 3)
          for (int ch = 0; ch < 3; ++ch) {
            const double g = part.items->image(it.source)[v * 28 + u];
            ASSERT_EQ(img.rgb[(std::size_t(it.y + v) * 64 + it.x + u) * 3 + ch],
                      int(std::floor(g * it.tint[ch] + 0.5)));
          }
    }
  }

  // The loader sees 150 official train rows (split 80/20) and 100 test rows, images under DIR/images.
  const data::MultiLabelDataset ds = data::load_preformatted(dir);
  EXPECT_EQ(ds.name, "fashion-mosaic");
  EXPECT_EQ(ds.num_classes(), 10);
  EXPECT_EQ(ds.train.size() + ds.val.size(), 150);
  EXPECT_EQ(ds.test.size(), 100);
  const image::Image first = image::decode_image((fs::path(ds.image_root) / ds.test.image_paths[0]).string());
  EXPECT_EQ(first.width, 64);
  fs::remove_all(dir);
}

TEST(FashionMosaic, DeterministicFromTheSeed) {
  SKIP_WITHOUT_FASHION_MNIST();
  data::FashionMosaicOptions opt;
  opt.train = 40;
  opt.test = 30;
  opt.seed = 11;
  opt.out = temp_dir("a");
  data::build_fashion_mosaic(opt, fashion());
  const std::string a = opt.out;
  opt.out = temp_dir("b");
  data::build_fashion_mosaic(opt, fashion());
  const std::string b = opt.out;
  opt.seed = 12;
  opt.out = temp_dir("c");
  data::build_fashion_mosaic(opt, fashion());
  const std::string c = opt.out;
  const auto ca = folder_contents(a), cb = folder_contents(b), cc = folder_contents(c);
  EXPECT_EQ(ca.size(), 40u + 30 + 6 + 2);  // images, 6 .npy, dataset.json, fashion_mosaic.json, no temp files
  EXPECT_TRUE(ca == cb) << "same seed, different files";
  int differing = 0;
  for (std::size_t i = 0; i < std::min(ca.size(), cc.size()); ++i)
    if (ca[i].first != "fashion_mosaic.json" && ca[i].second != cc[i].second) ++differing;
  EXPECT_GE(differing, 70);  // every image and the label files differ
  EXPECT_NE(io::read_file(a + "/formatted_train_labels.npy"), io::read_file(c + "/formatted_train_labels.npy"));
  // Train and test draws are independent streams: the plans differ.
  const auto train = data::plan_fashion_mosaic(20, fashion().test_labels, 64, 11, data::MosaicSplit::Train);
  const auto test = data::plan_fashion_mosaic(20, fashion().test_labels, 64, 11, data::MosaicSplit::Test);
  EXPECT_NE(train[0].items[0].source * 1000 + train[1].items[0].source,
            test[0].items[0].source * 1000 + test[1].items[0].source);
  for (const std::string& d : {a, b, c}) fs::remove_all(d);
}

TEST(FashionMosaic, Size96ScalesItems) {
  SKIP_WITHOUT_FASHION_MNIST();
  EXPECT_EQ(data::fashion_mosaic_item_size(64), 28);
  EXPECT_EQ(data::fashion_mosaic_item_size(96), 42);
  EXPECT_EQ(data::fashion_mosaic_item_size(32), 14);
  data::FashionMosaicOptions opt;
  opt.out = temp_dir("s96");
  opt.train = 30;
  opt.test = 10;
  opt.size = 96;
  const auto res = data::build_fashion_mosaic(opt, fashion());
  for (std::size_t i = 0; i < res.train.size(); ++i) {
    const image::Image img = image::decode_image(opt.out + "/images/" + res.train_paths[i]);
    ASSERT_EQ(img.width, 96);
    ASSERT_EQ(img.height, 96);
    std::vector<int> slots;
    for (const auto& it : res.train[i].items) {
      slots.push_back(it.slot);
      EXPECT_EQ(it.size, 42);
      const int ox = it.x - (it.slot % 2) * 48, oy = it.y - (it.slot / 2) * 48;
      EXPECT_TRUE(ox >= 0 && ox <= 6 && oy >= 0 && oy <= 6);
      // Outside the item's box the slot is black.
      const int sx = (it.slot % 2) * 48, sy = (it.slot / 2) * 48;
      EXPECT_TRUE(region_black(img, sx, sy, 48, it.y - sy));
      EXPECT_TRUE(region_black(img, sx, it.y + 42, 48, sy + 48 - it.y - 42));
      EXPECT_TRUE(region_black(img, sx, sy, it.x - sx, 48));
      EXPECT_TRUE(region_black(img, it.x + 42, sy, sx + 48 - it.x - 42, 48));
    }
    expect_slots_match(img, slots, 96, "canvas " + std::to_string(i));
  }
  // The scaled item equals PIL-exact bilinear scaling of the grey item, then the tint.
  const data::MosaicItem& it = res.train[0].items[0];
  image::Image gray;
  gray.width = gray.height = 28;
  for (int p = 0; p < 784; ++p)
    for (int ch = 0; ch < 3; ++ch) gray.rgb.push_back(fashion().train_images.image(it.source)[p]);
  const image::Image scaled = image::resize_bilinear(gray, 42, 42);
  const image::Image img = image::decode_image(opt.out + "/images/" + res.train_paths[0]);
  for (int v = 0; v < 42; ++v)
    for (int u = 0; u < 42; ++u)
      for (int ch = 0; ch < 3; ++ch)
        ASSERT_EQ(img.rgb[(std::size_t(it.y + v) * 96 + it.x + u) * 3 + ch],
                  int(std::floor(scaled.rgb[(std::size_t(v) * 42 + u) * 3] * it.tint[ch] + 0.5)));
  fs::remove_all(opt.out);
}

TEST(FashionMosaic, JpegVariantDecodes) {
  SKIP_WITHOUT_FASHION_MNIST();
  data::FashionMosaicOptions opt;
  opt.out = temp_dir("jpg");
  opt.train = 12;
  opt.test = 8;
  opt.format = "jpg";
  const auto res = data::build_fashion_mosaic(opt, fashion());
  EXPECT_EQ(res.train_paths[0], "train/000000.jpg");
  EXPECT_TRUE(data::preformatted_exists(opt.out));
  for (std::size_t i = 0; i < res.test.size(); ++i) {
    const image::Image img = image::decode_image(opt.out + "/images/" + res.test_paths[i]);
    ASSERT_EQ(img.width, 64);
    const image::Image ref = data::render_fashion_mosaic(res.test[i], fashion().test_images, 64);
    double err = 0;
    for (std::size_t p = 0; p < img.rgb.size(); ++p) err += std::abs(int(img.rgb[p]) - int(ref.rgb[p]));
    EXPECT_LT(err / double(img.rgb.size()), 4.0) << "canvas " << i;
  }
  fs::remove_all(opt.out);
}

TEST(FashionMosaic, Errors) {
  EXPECT_ERROR_CONTAINS(data::load_fashion_mnist("/nonexistent/fmnist"), "/nonexistent/fmnist",
                        "dataset-fashion-mnist");
  data::FashionMosaicOptions opt;
  opt.out = temp_dir("err");
  opt.fashion_mnist_dir = "/nonexistent/fmnist";
  EXPECT_ERROR_CONTAINS(data::build_fashion_mosaic(opt), "/nonexistent/fmnist");
  EXPECT_FALSE(data::preformatted_exists(opt.out));
  // A folder without the files: the missing file is named.
  opt.fashion_mnist_dir = opt.out;
  EXPECT_ERROR_CONTAINS(data::build_fashion_mosaic(opt), "train-images-idx3-ubyte.gz", opt.out.c_str());
  // Running out of items names the numbers.
  const std::vector<uint8_t> ten(10, 3);
  EXPECT_ERROR_CONTAINS(data::plan_fashion_mosaic(50, ten, 64, 0, data::MosaicSplit::Test), "ran out", "test", "of 50",
                        "of 10");
  EXPECT_ERROR_CONTAINS(data::plan_fashion_mosaic(5, ten, 63, 0, data::MosaicSplit::Train), "63");
  if (have_fashion_mnist()) {
    opt.format = "gif";
    EXPECT_ERROR_CONTAINS(data::build_fashion_mosaic(opt, fashion()), "gif");
    opt.format = "png";
    opt.train = 40000;  // needs about 76k of the 60k train items
    EXPECT_ERROR_CONTAINS(data::build_fashion_mosaic(opt, fashion()), "ran out", "train", "of 40000", "of 60000");
    EXPECT_FALSE(fs::exists(opt.out + "/images")) << "nothing is written when the plan fails";
  }
  fs::remove_all(opt.out);
}

// ------------------------------------------------------------------------------------------ Toy Shapes
TEST(ToyShapes, LabelsMatchTheShapes) {
  const std::string dir = temp_dir("toy");
  const data::ToyShapesResult res = data::build_toy_shapes(dir, 60, 30, 32, 4);
  const auto meta = nlohmann::json::parse(io::read_text_file(dir + "/dataset.json"));
  EXPECT_EQ(meta["name"], "toy-shapes");
  EXPECT_EQ(meta["class_names"].get<std::vector<std::string>>(), data::toy_shapes_class_names());
  const std::vector<float> labels = io::read_npy_tensor(dir + "/formatted_train_labels.npy").to_vector<float>();
  ASSERT_EQ(labels.size(), 60u * 4);
  std::vector<int> class_count(4, 0);
  for (std::size_t i = 0; i < res.train.size(); ++i) {
    const data::ToyCanvas& canvas = res.train[i];
    ASSERT_GE(canvas.shapes.size(), 1u);
    ASSERT_LE(canvas.shapes.size(), 3u);
    std::vector<int> slots;
    for (const auto& s : canvas.shapes) slots.push_back(s.slot);
    for (int c = 0; c < 4; ++c) {
      const bool has = std::count(canvas.classes.begin(), canvas.classes.end(), c) > 0;
      EXPECT_EQ(labels[i * 4 + c], has ? 1.0f : 0.0f);
      class_count[c] += has;
    }
    const image::Image img = image::decode_image(dir + "/images/" + res.train_paths[i]);
    ASSERT_EQ(img.width, 32);
    EXPECT_EQ(img.rgb, data::render_toy_shapes(canvas, 32).rgb);
    expect_slots_match(img, slots, 32, "toy canvas " + std::to_string(i));
    // The centre of every shape's box carries its colour (all four shapes cover their centre).
    for (const auto& s : canvas.shapes) {
      const int cx = s.x + s.size / 2, cy = s.y + s.size / 2;
      for (int ch = 0; ch < 3; ++ch) EXPECT_EQ(img.rgb[(std::size_t(cy) * 32 + cx) * 3 + ch], s.color[ch]);
    }
  }
  for (int c = 0; c < 4; ++c) EXPECT_GT(class_count[c], 10) << "class " << c;
  const data::MultiLabelDataset ds = data::load_preformatted(dir);
  EXPECT_EQ(ds.num_classes(), 4);
  EXPECT_EQ(ds.train.size() + ds.val.size(), 60);
  EXPECT_EQ(ds.test.size(), 30);
  // Deterministic from the seed.
  const std::string again = temp_dir("toy2");
  data::build_toy_shapes(again, 60, 30, 32, 4);
  EXPECT_TRUE(folder_contents(dir) == folder_contents(again));
  fs::remove_all(dir);
  fs::remove_all(again);
}

}  // namespace
