// Small synthetic data sets for demos and tests that must learn something without any files.
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace spml::data {

struct ToyData {
  Tensor features;  // [N, 2] float32
  Tensor labels;    // [N, 1] float32 in {0, 1}
};

// Two interleaved spirals (class 0 and class 1, N/2 points each) with Gaussian jitter `noise`; not linearly
// separable, so a model needs a hidden layer to fit it.
ToyData two_spirals(int64_t n, double noise, uint64_t seed);

}  // namespace spml::data
