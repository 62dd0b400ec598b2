// Batched inference over image files (see predict.h).
#include "models/predict.h"

#include "framework/autograd/autograd.h"
#include "framework/image/image.h"
#include "framework/ops/ops.h"

namespace spml::models {

PredictResult predict_images(ResNet& net, const std::vector<std::string>& paths, const PredictOptions& options) {
  SPML_CHECK(options.image_size >= 32 && options.batch_size >= 1, "predict: image size must be >= 32 and batch size ",
             ">= 1, got ", options.image_size, " and ", options.batch_size);
  SPML_CHECK(options.features || net.config().num_classes > 0, "predict: the model has no head; ask for features");
  net.eval();
  autograd::NoGradGuard no_grad;
  PredictResult result;
  std::vector<Tensor> rows;
  std::vector<image::Image> batch;
  std::vector<std::string> batch_paths;
  const int size = int(options.image_size);
  auto flush = [&] {
    if (batch.empty()) return;
    const Tensor x = image::images_to_tensor(batch).to(options.device);
    const Tensor out = options.features ? net.features(x) : net.forward(x);
    rows.push_back(out.to(Device::cpu()).to(DType::Float32));
    result.paths.insert(result.paths.end(), batch_paths.begin(), batch_paths.end());
    batch.clear();
    batch_paths.clear();
  };
  for (const std::string& path : paths) {
    try {
      batch.push_back(image::resize_bilinear(image::decode_image(path), size, size));
      batch_paths.push_back(path);
    } catch (const Error& e) {
      if (!options.skip_errors) throw;
      result.errors.emplace_back(path, e.what());
      continue;
    }
    if (int64_t(batch.size()) == options.batch_size) flush();
  }
  flush();
  const int64_t width = options.features ? net.feature_dim() : net.config().num_classes;
  result.outputs = rows.empty() ? Tensor::zeros({0, width}) : concat(rows);
  return result;
}

}  // namespace spml::models
