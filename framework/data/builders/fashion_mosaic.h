// Fashion-Mosaic, the project's built-in real multi-label data set: S x S RGB canvases on black, a 2x2 grid of
// (S/2) x (S/2) slots, k = 1..4 (p = 0.45 / 0.30 / 0.15 / 0.10) distinct slots each holding one tinted Fashion-MNIST
// item drawn without replacement; the labels are the set of classes present (10 classes, about 1.77 per canvas).
// Train canvases use the 60k train items, test canvases the 10k test items. Deterministic from the seed through a
// documented generator (DrawRng below); written as PNG/JPEG files plus the pre-formatted SPML layout.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "framework/data/builders/idx.h"
#include "framework/image/image.h"

namespace spml::data {

// The 10 Fashion-MNIST classes in label order (0 = T-shirt/top ... 9 = Ankle boot).
const std::vector<std::string>& fashion_mnist_class_names();

// The generator behind every random choice of Fashion-Mosaic and toy_shapes, fully specified so the output does
// not depend on the standard library (std::uniform_*_distribution is implementation-defined):
// - engine: std::mt19937_64 (its output sequence is fixed by the C++ standard) seeded with
//   splitmix64(splitmix64(seed) + stream), where splitmix64(x) is Vigna's SplitMix64 step (add 0x9E3779B97F4A7C15,
//   then the xor-shift-multiply finaliser) and stream tells independent sequences of one seed apart;
// - below(n): unbiased integer in [0, n): raw 64-bit draws x are rejected while x < 2^64 mod n, then x mod n;
// - uniform01(): (x >> 11) * 2^-53, a double in [0, 1).
class DrawRng {
 public:
  DrawRng(uint64_t seed, uint64_t stream);
  uint64_t next() { return engine_(); }
  uint64_t below(uint64_t n);
  double uniform01() { return double(next() >> 11) * 0x1.0p-53; }
  static uint64_t splitmix64(uint64_t x);

 private:
  std::mt19937_64 engine_;
};

enum class MosaicSplit { Train = 0, Test = 1 };  // also the DrawRng stream of the split

struct FashionMosaicOptions {
  std::string out;       // output folder
  int64_t train = 3000;  // canvases from the train items -> formatted_train_*
  int64_t test = 2000;   // canvases from the test items -> formatted_val_* (the test split)
  int size = 64;         // canvas side S (even, 16..4096); items are 28 px scaled by S/64
  uint64_t seed = 0;
  std::string format = "png";  // png or jpg (JPEG quality 95, 4:2:0)
  std::string fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
};

// One placed item of a canvas.
struct MosaicItem {
  int slot = 0;         // 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
  int64_t source = 0;   // index of the Fashion-MNIST image in its split's IDX file
  int label = 0;        // its class (0..9)
  int x = 0, y = 0;     // top-left corner of the item on the canvas
  int size = 0;         // side of the (scaled) item in pixels
  double tint[3] = {};  // per-channel multiplier in [0.25, 1): pixel = floor(gray * tint + 0.5)
};

struct MosaicCanvas {
  std::vector<MosaicItem> items;  // in drawing order
  std::vector<int> classes;       // the labels: distinct classes of the items, ascending
};

// Fashion-MNIST's four IDX files of one folder.
struct FashionMnist {
  IdxImages train_images, test_images;
  std::vector<uint8_t> train_labels, test_labels;
};

// Reads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; checks 28x28 images, matching counts and labels
// 0..9. A missing folder or file is an error naming the path and the Debian package dataset-fashion-mnist.
FashionMnist load_fashion_mnist(const std::string& dir);

// Side of a Fashion-MNIST item on an S x S canvas: round(28 * S / 64).
int fashion_mosaic_item_size(int size);

// Draws the layout of n canvases from one split (pure and deterministic). Per canvas, in this order: k from
// below(100) (< 45 -> 1, < 75 -> 2, < 90 -> 3, else 4); the slots by a partial Fisher-Yates over {0,1,2,3}
// (position s swaps with s + below(4 - s), the first k are used, in that order); then per slot: the item by a
// partial Fisher-Yates over the split's items (draw t takes position t + below(M - t)), x and y offsets within the
// slot from below(S/2 - item + 1) each, and the tint of R, G, B as 0.25 + 0.75 * uniform01(). Throws spml::Error
// naming the numbers when the split runs out of items.
std::vector<MosaicCanvas> plan_fashion_mosaic(int64_t n, const std::vector<uint8_t>& item_labels, int size,
                                              uint64_t seed, MosaicSplit split);

// Paints one planned canvas (items: the split's images; bilinear PIL-exact scaling when S != 64).
image::Image render_fashion_mosaic(const MosaicCanvas& canvas, const IdxImages& items, int size);

// What build_fashion_mosaic wrote, for inspection and tests.
struct FashionMosaicResult {
  std::vector<std::string> train_paths, test_paths;  // relative to OUT/images (the data set's image root)
  std::vector<MosaicCanvas> train, test;
};

// Writes OUT/images/{train,test}/NNNNNN.{png,jpg}, then write_preformatted(OUT, ...) (formatted_train_* = train
// canvases, formatted_val_* = test canvases, observed labels with seed 1200, dataset.json with name
// "fashion-mosaic", the class names and image_root "images") and OUT/fashion_mosaic.json (the options used).
// The images are written first, so preformatted_exists(OUT) holds only for a finished folder.
FashionMosaicResult build_fashion_mosaic(const FashionMosaicOptions& options);
// The same with Fashion-MNIST already in memory (options.fashion_mnist_dir is then ignored).
FashionMosaicResult build_fashion_mosaic(const FashionMosaicOptions& options, const FashionMnist& source);

}  // namespace spml::data
