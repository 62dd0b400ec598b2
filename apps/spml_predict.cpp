// spml-predict: runs a ResNet (weights from a safetensors file) on image files and writes the N x C logits
// (or N x D features) as a float32 .npy, rows in the order of --images.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "framework/core/runtime.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/safetensors.h"
#include "models/predict.h"
#include "models/weights.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-predict: ResNet logits or features of image files, as a .npy file"};
  std::string arch, weights, out, device_name = "cpu", on_error = "fail";
  int64_t num_classes = 0, image_size = 448, batch_size = 8;
  int threads = 0;
  std::string cpu_kernels;
  bool features = false;
  std::vector<std::string> images;
  app.add_option("--arch", arch,
                 "resnet18, resnet34, resnet50 or resnet101 (default: the weights' metadata, else resnet50)");
  app.add_option("--weights", weights, "model weights (.safetensors, torchvision keys)")->required();
  app.add_option("--num-classes", num_classes, "classes of the weights' head (default: the metadata, else 1000)");
  app.add_option("--image-size", image_size, "images are resized to S x S")->capture_default_str();
  app.add_option("--images", images, "image files (JPEG, PNG, BMP, GIF, ...)")->required();
  app.add_option("--out", out, "output .npy (float32 [N, C], or [N, D] with --features)")->required();
  app.add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_flag("--features", features, "write the globally pooled features instead of logits");
  app.add_option("--on-error", on_error, "fail: stop at an unreadable image; skip: leave it out")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  app.add_option("--batch-size", batch_size, "images per forward pass")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--cpu-kernels", cpu_kernels,
                 "float32 CPU kernels: onednn or reference (default: " + spml::default_cpu_kernels_name() + ")");
  CLI11_PARSE(app, argc, argv);

  try {
    using namespace spml;
    const Device device = setup_threads_and_device(threads, device_name);
    set_cpu_kernels(cpu_kernels, "--cpu-kernels");
    const io::SafetensorsFile file = io::read_safetensors(weights);
    // Weights written by spml (best.safetensors) say their architecture and classes; flags must agree.
    const models::WeightsInfo info = models::weights_info(file.metadata, weights);
    SPML_CHECK(arch.empty() || info.arch.empty() || arch == info.arch, "--arch ", arch, " but ", weights, " holds ",
               info.arch);
    SPML_CHECK(num_classes == 0 || info.num_classes == 0 || num_classes == info.num_classes, "--num-classes ",
               num_classes, " but ", weights, " has ", info.num_classes, " classes");
    if (arch.empty()) arch = info.arch.empty() ? "resnet50" : info.arch;
    if (num_classes == 0) num_classes = info.num_classes ? info.num_classes : 1000;
    models::ResNet net({arch, num_classes, 64, 0});
    // No head skipping here: predictions need the head the weights were trained with.
    const io::LoadReport report = io::load_weights(net, file.tensors, /*head_prefix=*/"");
    if (!report.unexpected_keys.empty())
      std::fprintf(stderr, "spml-predict: %zu keys of %s not used by the model (e.g. %s)\n",
                   report.unexpected_keys.size(), weights.c_str(), report.unexpected_keys.front().c_str());
    net.to(device);
    models::PredictOptions options;
    options.image_size = image_size;
    options.batch_size = batch_size;
    options.features = features;
    options.skip_errors = on_error == "skip";
    options.device = device;
    const models::PredictResult result = models::predict_images(net, images, options);
    for (const auto& [path, message] : result.errors)
      std::fprintf(stderr, "spml-predict: skipped %s\n", message.c_str());
    io::write_npy_tensor(out, result.outputs);
    if (options.skip_errors) {
      std::string list;
      for (const auto& p : result.paths) list += p + "\n";
      io::write_file_atomic(out + ".paths.txt", list);
    }
    std::printf("{\"rows\": %zu, \"skipped\": %zu, \"columns\": %lld, \"out\": \"%s\"}\n", result.paths.size(),
                result.errors.size(), static_cast<long long>(result.outputs.size(1)), out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-predict: error: %s\n", e.what());
    return 1;
  }
}
