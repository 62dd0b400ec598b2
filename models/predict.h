// Inference over image files: decode (libjpeg-turbo / stb_image), resize to S x S (PIL's bilinear),
// normalise with the ImageNet statistics, run a ResNet in eval mode in batches, collect logits or features.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"
#include "models/resnet.h"

namespace spml::models {

struct PredictOptions {
  int64_t image_size = 448;
  int64_t batch_size = 8;
  bool features = false;     // globally pooled features instead of logits
  bool skip_errors = false;  // false: the first unreadable image stops the run (its path in the error)
  Device device = Device::cpu();
};

struct PredictResult {
  Tensor outputs;                                           // [rows, C] or [rows, feature_dim], float32, CPU
  std::vector<std::string> paths;                           // the image of each row, in input order
  std::vector<std::pair<std::string, std::string>> errors;  // skipped images: path, message
};

// `net` must already be on options.device; it is switched to eval mode.
PredictResult predict_images(ResNet& net, const std::vector<std::string>& paths, const PredictOptions& options);

}  // namespace spml::models
