// Toy Shapes: plan (seeded draws), rasterisation of the four shapes, and the folder writer.
#include "framework/data/builders/toy_shapes.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "framework/data/builders/fashion_mosaic.h"
#include "framework/data/preformatted.h"
#include "framework/image/image_write.h"
#include "kernels/common/error.h"

namespace spml::data {
namespace fs = std::filesystem;

namespace {

constexpr int kShapeClasses = 4;

void check_size(int size) {
  SPML_CHECK(size >= 16 && size <= 1024 && size % 2 == 0, "toy-shapes: canvas size must be even and in 16..1024, got ",
             size);
}

// Whether pixel (u, v) of a d x d box belongs to the shape.
bool inside(int label, int u, int v, int d) {
  switch (label) {
    case 0:  // square: the whole box
      return true;
    case 1: {  // circle inscribed in the box
      const int cx2 = 2 * u + 1 - d, cy2 = 2 * v + 1 - d;
      return cx2 * cx2 + cy2 * cy2 <= d * d;
    }
    case 2: {  // triangle pointing up: row v is v + 1 pixels wide, centred
      const int width = v + 1;
      const int left = (d - width) / 2;
      return u >= left && u < left + width;
    }
    default: {  // cross: a plus sign with bars a third of the box thick
      const int t = std::max(1, d / 3), lo = (d - t) / 2;
      return (u >= lo && u < lo + t) || (v >= lo && v < lo + t);
    }
  }
}

Tensor labels_tensor(const std::vector<ToyCanvas>& canvases) {
  std::vector<float> values(canvases.size() * kShapeClasses, 0.0f);
  for (std::size_t i = 0; i < canvases.size(); ++i)
    for (int c : canvases[i].classes) values[i * kShapeClasses + std::size_t(c)] = 1.0f;
  return Tensor::from_vector(values, {int64_t(canvases.size()), int64_t(kShapeClasses)});
}

std::vector<std::string> write_split(const std::vector<ToyCanvas>& canvases, int size, const fs::path& images,
                                     const std::string& split) {
  std::error_code ec;
  fs::create_directories(images / split, ec);
  SPML_CHECK(!ec, "toy-shapes: cannot create folder ", (images / split).string(), ": ", ec.message());
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < canvases.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "%06zu.png", i);
    paths.push_back(split + "/" + name);
    image::write_png((images / paths.back()).string(), render_toy_shapes(canvases[i], size));
  }
  return paths;
}

}  // namespace

const std::vector<std::string>& toy_shapes_class_names() {
  static const std::vector<std::string> names = {"square", "circle", "triangle", "cross"};
  return names;
}

std::vector<ToyCanvas> plan_toy_shapes(int64_t n, int size, uint64_t seed, bool train) {
  check_size(size);
  SPML_CHECK(n >= 0, "toy-shapes: number of canvases must be >= 0, got ", n);
  DrawRng rng(seed, train ? 2 : 3);
  const int slot = size / 2;
  std::vector<ToyCanvas> canvases(static_cast<std::size_t>(n));
  for (ToyCanvas& canvas : canvases) {
    const int m = 1 + int(rng.below(3));
    int classes[4] = {0, 1, 2, 3}, slots[4] = {0, 1, 2, 3};
    for (int s = 0; s < m; ++s) std::swap(classes[s], classes[s + int(rng.below(uint64_t(4 - s)))]);
    for (int s = 0; s < m; ++s) std::swap(slots[s], slots[s + int(rng.below(uint64_t(4 - s)))]);
    for (int s = 0; s < m; ++s) {
      ToyShape shape;
      shape.label = classes[s];
      shape.slot = slots[s];
      const int lo = std::max(3, slot / 2);
      shape.size = lo + int(rng.below(uint64_t(slot - lo + 1)));
      shape.x = (shape.slot % 2) * slot + int(rng.below(uint64_t(slot - shape.size + 1)));
      shape.y = (shape.slot / 2) * slot + int(rng.below(uint64_t(slot - shape.size + 1)));
      for (uint8_t& c : shape.color) c = uint8_t(64 + rng.below(192));
      canvas.shapes.push_back(shape);
      canvas.classes.push_back(shape.label);
    }
    std::sort(canvas.classes.begin(), canvas.classes.end());
  }
  return canvases;
}

image::Image render_toy_shapes(const ToyCanvas& canvas, int size) {
  check_size(size);
  image::Image out;
  out.width = out.height = size;
  out.rgb.assign(std::size_t(size) * size * 3, 0);
  for (const ToyShape& s : canvas.shapes) {
    SPML_CHECK(s.x >= 0 && s.y >= 0 && s.x + s.size <= size && s.y + s.size <= size, "toy-shapes: shape outside the ",
               size, " px canvas");
    for (int v = 0; v < s.size; ++v)
      for (int u = 0; u < s.size; ++u)
        if (inside(s.label, u, v, s.size))
          std::copy(s.color, s.color + 3, &out.rgb[(std::size_t(s.y + v) * size + (s.x + u)) * 3]);
  }
  return out;
}

ToyShapesResult build_toy_shapes(const std::string& out_dir, int64_t n_train, int64_t n_test, int size, uint64_t seed) {
  SPML_CHECK(!out_dir.empty(), "toy-shapes: no output folder given");
  ToyShapesResult result;
  result.train = plan_toy_shapes(n_train, size, seed, true);
  result.test = plan_toy_shapes(n_test, size, seed, false);
  const fs::path images = fs::path(out_dir) / "images";
  result.train_paths = write_split(result.train, size, images, "train");
  result.test_paths = write_split(result.test, size, images, "test");
  write_preformatted(out_dir, result.train_paths, labels_tensor(result.train), result.test_paths,
                     labels_tensor(result.test), toy_shapes_class_names(), "toy-shapes", "images");
  return result;
}

}  // namespace spml::data
