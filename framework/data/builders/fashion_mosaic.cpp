// Fashion-Mosaic: Fashion-MNIST loading, the seeded canvas plan, rendering, and the folder writer.
#include "framework/data/builders/fashion_mosaic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "framework/data/preformatted.h"
#include "framework/image/image_write.h"
#include "framework/io/file.h"
#include "kernels/common/error.h"

namespace spml::data {
namespace fs = std::filesystem;

namespace {

constexpr int kItemSide = 28;
constexpr int kClasses = 10;

// Cumulative probabilities (in percent) of k = 1, 2, 3; k = 4 takes the rest.
constexpr uint64_t kCumulativePercent[3] = {45, 75, 90};

std::string source_file(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

void check_split(const IdxImages& images, const std::vector<uint8_t>& labels, const std::string& what,
                 const std::string& dir) {
  SPML_CHECK(images.rows == kItemSide && images.cols == kItemSide, "Fashion-MNIST ", what, " images in ", dir, " are ",
             images.rows, "x", images.cols, ", expected 28x28");
  SPML_CHECK(images.count == int64_t(labels.size()), "Fashion-MNIST ", what, " in ", dir, ": ", images.count,
             " images but ", labels.size(), " labels");
  for (std::size_t i = 0; i < labels.size(); ++i)
    SPML_CHECK(labels[i] < kClasses, "Fashion-MNIST ", what, " labels in ", dir, ": item ", i, " has label ",
               int(labels[i]), ", expected 0..9");
}

void check_size(int size) {
  SPML_CHECK(size >= 16 && size <= 4096 && size % 2 == 0,
             "fashion-mosaic: canvas size must be even and in 16..4096, got ", size);
}

std::string canvas_name(int64_t index, const std::string& ext) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%06lld", static_cast<long long>(index));
  return std::string(buf) + "." + ext;
}

// Renders and writes the canvases of one split (parallel over canvases; the files do not depend on the order).
void write_split_images(const std::vector<MosaicCanvas>& canvases, const IdxImages& items, int size,
                        const std::string& folder, const std::vector<std::string>& names, bool jpeg) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  SPML_CHECK(!ec, "fashion-mosaic: cannot create folder ", folder, ": ", ec.message());
  std::exception_ptr error;
  std::mutex error_mutex;
  const int64_t n = int64_t(canvases.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const image::Image img = render_fashion_mosaic(canvases[std::size_t(i)], items, size);
      const std::string path = (fs::path(folder) / fs::path(names[std::size_t(i)]).filename()).string();
      if (jpeg)
        image::write_jpeg(path, img, 95);
      else
        image::write_png(path, img);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

Tensor labels_tensor(const std::vector<MosaicCanvas>& canvases) {
  std::vector<float> values(canvases.size() * kClasses, 0.0f);
  for (std::size_t i = 0; i < canvases.size(); ++i)
    for (int c : canvases[i].classes) values[i * kClasses + std::size_t(c)] = 1.0f;
  return Tensor::from_vector(values, {int64_t(canvases.size()), int64_t(kClasses)});
}

}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

uint64_t DrawRng::splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

DrawRng::DrawRng(uint64_t seed, uint64_t stream) : engine_(splitmix64(splitmix64(seed) + stream)) {}

uint64_t DrawRng::below(uint64_t n) {
  SPML_CHECK(n > 0, "DrawRng::below: n must be positive");
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  uint64_t x = next();
  while (x < threshold) x = next();
  return x % n;
}

FashionMnist load_fashion_mnist(const std::string& dir) {
  std::error_code ec;
  SPML_CHECK(fs::is_directory(dir, ec), "Fashion-MNIST folder not found: ", dir,
             " (install the Debian package dataset-fashion-mnist, or point fashion_mnist_dir / "
             "--fashion-mnist-dir at a folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz)");
  FashionMnist out;
  out.train_images = read_idx_images(source_file(dir, "train-images-idx3-ubyte.gz"));
  out.train_labels = read_idx_labels(source_file(dir, "train-labels-idx1-ubyte.gz"));
  out.test_images = read_idx_images(source_file(dir, "t10k-images-idx3-ubyte.gz"));
  out.test_labels = read_idx_labels(source_file(dir, "t10k-labels-idx1-ubyte.gz"));
  check_split(out.train_images, out.train_labels, "train", dir);
  check_split(out.test_images, out.test_labels, "test (t10k)", dir);
  return out;
}

int fashion_mosaic_item_size(int size) {
  return (kItemSide * size + 32) / 64;
}

std::vector<MosaicCanvas> plan_fashion_mosaic(int64_t n, const std::vector<uint8_t>& item_labels, int size,
                                              uint64_t seed, MosaicSplit split) {
  check_size(size);
  SPML_CHECK(n >= 0, "fashion-mosaic: number of canvases must be >= 0, got ", n);
  const char* split_name = split == MosaicSplit::Train ? "train" : "test";
  const int64_t total = int64_t(item_labels.size());
  const int slot = size / 2;
  const int item = fashion_mosaic_item_size(size);
  DrawRng rng(seed, uint64_t(split));
  std::vector<int64_t> pool(static_cast<std::size_t>(total));
  for (int64_t i = 0; i < total; ++i) pool[std::size_t(i)] = i;
  int64_t used = 0;
  std::vector<MosaicCanvas> canvases(static_cast<std::size_t>(n));
  for (int64_t c = 0; c < n; ++c) {
    const uint64_t r = rng.below(100);
    const int k = r < kCumulativePercent[0] ? 1 : r < kCumulativePercent[1] ? 2 : r < kCumulativePercent[2] ? 3 : 4;
    SPML_CHECK(total - used >= k, "fashion-mosaic: the ", split_name,
               " split ran out of Fashion-MNIST items at canvas ", c, " of ", n, ": it needs ", k, " items but only ",
               total - used, " of ", total,
               " are left (each item is used once; N canvases use up to 4N items, about 1.9N on average)");
    int slots[4] = {0, 1, 2, 3};
    for (int s = 0; s < k; ++s) std::swap(slots[s], slots[s + int(rng.below(uint64_t(4 - s)))]);
    MosaicCanvas& canvas = canvases[std::size_t(c)];
    for (int s = 0; s < k; ++s) {
      MosaicItem it;
      it.slot = slots[s];
      const int64_t j = used + int64_t(rng.below(uint64_t(total - used)));
      std::swap(pool[std::size_t(used)], pool[std::size_t(j)]);
      it.source = pool[std::size_t(used++)];
      it.label = item_labels[std::size_t(it.source)];
      it.size = item;
      it.x = (it.slot % 2) * slot + int(rng.below(uint64_t(slot - item + 1)));
      it.y = (it.slot / 2) * slot + int(rng.below(uint64_t(slot - item + 1)));
      for (double& t : it.tint) t = 0.25 + 0.75 * rng.uniform01();
      canvas.items.push_back(it);
      canvas.classes.push_back(it.label);
    }
    std::sort(canvas.classes.begin(), canvas.classes.end());
    canvas.classes.erase(std::unique(canvas.classes.begin(), canvas.classes.end()), canvas.classes.end());
  }
  return canvases;
}

image::Image render_fashion_mosaic(const MosaicCanvas& canvas, const IdxImages& items, int size) {
  check_size(size);
  image::Image out;
  out.width = out.height = size;
  out.rgb.assign(std::size_t(size) * size * 3, 0);
  for (const MosaicItem& it : canvas.items) {
    SPML_CHECK(it.source >= 0 && it.source < items.count, "fashion-mosaic: item ", it.source, " out of range (",
               items.count, " items)");
    SPML_CHECK(it.x >= 0 && it.y >= 0 && it.x + it.size <= size && it.y + it.size <= size, "fashion-mosaic: item at (",
               it.x, ", ", it.y, ") of size ", it.size, " does not fit a ", size, " px canvas");
    // The grey item, scaled with PIL's bilinear filter when the canvas is not 64 px (grey in, grey out: the three
    // channels stay equal, so channel 0 is the scaled grey value).
    std::vector<uint8_t> gray(items.image(it.source), items.image(it.source) + items.rows * items.cols);
    if (it.size != items.cols || it.size != items.rows) {
      image::Image src;
      src.width = items.cols;
      src.height = items.rows;
      src.rgb.resize(gray.size() * 3);
      for (std::size_t p = 0; p < gray.size(); ++p) src.rgb[3 * p] = src.rgb[3 * p + 1] = src.rgb[3 * p + 2] = gray[p];
      const image::Image scaled = image::resize_bilinear(src, it.size, it.size);
      gray.resize(std::size_t(it.size) * it.size);
      for (std::size_t p = 0; p < gray.size(); ++p) gray[p] = scaled.rgb[3 * p];
    }
    for (int y = 0; y < it.size; ++y)
      for (int x = 0; x < it.size; ++x) {
        const double g = gray[std::size_t(y) * it.size + x];
        uint8_t* px = &out.rgb[(std::size_t(it.y + y) * size + (it.x + x)) * 3];
        for (int ch = 0; ch < 3; ++ch) px[ch] = uint8_t(std::min(255.0, std::floor(g * it.tint[ch] + 0.5)));
      }
  }
  return out;
}

FashionMosaicResult build_fashion_mosaic(const FashionMosaicOptions& options) {
  check_size(options.size);
  SPML_CHECK(!options.out.empty(), "fashion-mosaic: no output folder given");
  return build_fashion_mosaic(options, load_fashion_mnist(options.fashion_mnist_dir));
}

FashionMosaicResult build_fashion_mosaic(const FashionMosaicOptions& options, const FashionMnist& source) {
  SPML_CHECK(!options.out.empty(), "fashion-mosaic: no output folder given");
  SPML_CHECK(options.format == "png" || options.format == "jpg", "fashion-mosaic: format must be png or jpg, got '",
             options.format, "'");
  SPML_CHECK(options.train >= 0 && options.test >= 0, "fashion-mosaic: canvas counts must be >= 0, got train ",
             options.train, ", test ", options.test);
  FashionMosaicResult result;
  // Plan both splits first: running out of items fails before anything is written.
  result.train =
      plan_fashion_mosaic(options.train, source.train_labels, options.size, options.seed, MosaicSplit::Train);
  result.test = plan_fashion_mosaic(options.test, source.test_labels, options.size, options.seed, MosaicSplit::Test);
  for (int64_t i = 0; i < options.train; ++i) result.train_paths.push_back("train/" + canvas_name(i, options.format));
  for (int64_t i = 0; i < options.test; ++i) result.test_paths.push_back("test/" + canvas_name(i, options.format));

  const fs::path images = fs::path(options.out) / "images";
  const bool jpeg = options.format == "jpg";
  write_split_images(result.train, source.train_images, options.size, (images / "train").string(), result.train_paths,
                     jpeg);
  write_split_images(result.test, source.test_images, options.size, (images / "test").string(), result.test_paths,
                     jpeg);

  const nlohmann::json meta = {{"generator", "fashion-mosaic"},
                               {"train", options.train},
                               {"test", options.test},
                               {"size", options.size},
                               {"seed", options.seed},
                               {"format", options.format},
                               {"item_size", fashion_mosaic_item_size(options.size)}};
  io::write_file_atomic((fs::path(options.out) / "fashion_mosaic.json").string(), meta.dump(2) + "\n");
  write_preformatted(options.out, result.train_paths, labels_tensor(result.train), result.test_paths,
                     labels_tensor(result.test), fashion_mnist_class_names(), "fashion-mosaic", "images");
  return result;
}

}  // namespace spml::data
