// Toy Shapes: a tiny procedurally generated multi-label image set for tests that need no package. Each canvas is
// black with a 2x2 grid of slots; 1..3 distinct classes out of {square, circle, triangle, cross} are drawn as filled
// shapes in random distinct slots, random colours (every channel in 64..255), sizes and offsets. The labels are the
// classes drawn. Deterministic from the seed (DrawRng of fashion_mosaic.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/image/image.h"

namespace spml::data {

// {"square", "circle", "triangle", "cross"}.
const std::vector<std::string>& toy_shapes_class_names();

struct ToyShape {
  int label = 0;     // index into toy_shapes_class_names()
  int slot = 0;      // 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
  int x = 0, y = 0;  // top-left corner of the shape's box on the canvas
  int size = 0;      // side of the box
  uint8_t color[3] = {};
};

struct ToyCanvas {
  std::vector<ToyShape> shapes;  // drawing order
  std::vector<int> classes;      // the labels, ascending
};

// Plans n canvases (stream 2 for train, 3 for test, so the splits differ) and paints one.
std::vector<ToyCanvas> plan_toy_shapes(int64_t n, int size, uint64_t seed, bool train);
image::Image render_toy_shapes(const ToyCanvas& canvas, int size);

struct ToyShapesResult {
  std::vector<std::string> train_paths, test_paths;  // relative to OUT/images
  std::vector<ToyCanvas> train, test;
};

// Writes OUT/images/{train,test}/NNNNNN.png and the pre-formatted layout (formatted_train_* = train canvases,
// formatted_val_* = test canvases, dataset.json name "toy-shapes", image_root "images"). size: even, 16..1024.
ToyShapesResult build_toy_shapes(const std::string& out_dir, int64_t n_train, int64_t n_test, int size = 32,
                                 uint64_t seed = 0);

}  // namespace spml::data
