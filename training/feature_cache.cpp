// Cached backbone features and their batches (see feature_cache.h).
#include "training/feature_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "framework/autograd/autograd.h"
#include "framework/core/nvtx.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/sha256.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "training/trainer.h"

namespace spml::training {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json cache_key(const TrainConfig& config, const std::string& backbone, const std::string& split_name, int64_t rows) {
  return {
      {"backbone", backbone},      {"arch", config.arch}, {"width", config.width}, {"image_size", config.image_size},
      {"dataset", config.dataset}, {"data", config.data}, {"split", split_name},   {"rows", rows}};
}

}  // namespace

std::string backbone_key(const TrainConfig& config, const std::string& weights_sha256) {
  if (!weights_sha256.empty()) return "sha256:" + weights_sha256;
  return "random-init:" + std::to_string(stream_seed(config, config.init_seed));
}

std::string feature_cache_path(const TrainConfig& config, const std::string& backbone, const std::string& split_name) {
  const std::string folder = config.feature_cache.empty() ? config.data + "/feature_cache" : config.feature_cache;
  const std::string digest = io::sha256_hex(backbone.data(), backbone.size()).substr(0, 16);
  return folder + "/" + config.dataset + "-" + config.arch + "-w" + std::to_string(config.width) + "-" +
         std::to_string(config.image_size) + "px-" + digest + "-" + split_name + ".npy";
}

Tensor split_features(models::ResNet& net, const data::MultiLabelSplit& split, const std::string& split_name,
                      const std::string& image_root, const TrainConfig& config, Device device,
                      const std::string& backbone, const std::function<void(const std::string&)>& log) {
  const std::string path = feature_cache_path(config, backbone, split_name), sidecar = path + ".json";
  const json key = cache_key(config, backbone, split_name, split.size());
  if (fs::exists(path) && fs::exists(sidecar)) {
    json stored;
    try {
      stored = json::parse(io::read_text_file(sidecar));
    } catch (const std::exception& e) {
      SPML_FAIL("feature cache ", sidecar, " is not valid JSON (", e.what(), "): delete it and ", path);
    }
    SPML_CHECK(stored == key, "feature cache ", path, " was made for ", stored.dump(), ", not for ", key.dump(),
               ": delete it (or give --feature-cache another folder)");
    Tensor features = io::read_npy_tensor(path);
    SPML_CHECK(features.dim() == 2 && features.size(0) == split.size() && features.size(1) == net.feature_dim() &&
                   features.dtype() == DType::Float32,
               "feature cache ", path, " holds ", features.description(), ", expected float32 [", split.size(), ", ",
               net.feature_dim(), "]: delete it");
    log("features: " + split_name + " from the cache " + path);
    return features;
  }
  NvtxRange range("extract_features");
  const auto start = std::chrono::steady_clock::now();
  net.eval();
  autograd::NoGradGuard no_grad;
  data::DataLoader loader(split, image_root, eval_loader_options(config, device));
  loader.start_epoch(0);
  const int64_t dim = net.feature_dim();
  Tensor features = Tensor::empty({split.size(), dim});
  float* out = features.data<float>();
  const DType dtype = train_dtype(config);
  data::Batch batch;
  while (loader.next(batch)) {
    const Tensor images = batch.images.dtype() == dtype ? batch.images : batch.images.to(dtype);
    const Tensor f = net.features(images).to(Device::cpu()).to(DType::Float32);
    const float* src = f.data<float>();
    const int64_t* rows = batch.indices.data<int64_t>();
    for (int64_t i = 0; i < f.size(0); ++i) std::copy(src + i * dim, src + (i + 1) * dim, out + rows[i] * dim);
  }
  fs::create_directories(fs::path(path).parent_path());
  io::write_npy_tensor(path, features);  // the features first: a sidecar always names a complete file
  io::write_file_atomic(sidecar, key.dump(2) + "\n");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", seconds);
  log("features: " + split_name + " extracted (" + std::to_string(split.size()) + " x " + std::to_string(dim) + ", " +
      took + " s) into " + path);
  return features;
}

FeatureBatches::FeatureBatches(const Tensor& features, const data::MultiLabelSplit& split, int64_t batch_size,
                               uint64_t seed, Device device)
    : features_(features), split_(split), batch_size_(batch_size), seed_(seed), device_(device) {
  SPML_CHECK(features.dim() == 2 && features.size(0) == split.size(), "FeatureBatches: features ",
             features.description(), " do not have the split's ", split.size(), " rows");
  SPML_CHECK(batch_size >= 1, "FeatureBatches: batch size must be >= 1, got ", batch_size);
}

int64_t FeatureBatches::batches_per_epoch() const {
  return (split_.size() + batch_size_ - 1) / batch_size_;
}

void FeatureBatches::start_epoch(int epoch, int64_t first_batch) {
  const int64_t n = split_.size();
  // Rows sorted by a Philox key of (seed, epoch, row): a permutation that depends on nothing else.
  std::vector<std::pair<double, int64_t>> keyed(static_cast<std::size_t>(n));
  const uint64_t stream = seed_ * 1000003ull + uint64_t(epoch);
  for (int64_t i = 0; i < n; ++i) keyed[std::size_t(i)] = {kernels::philox_uniform(stream, uint64_t(i), 0, 1), i};
  std::sort(keyed.begin(), keyed.end());
  order_.resize(std::size_t(n));
  for (int64_t i = 0; i < n; ++i) order_[std::size_t(i)] = keyed[std::size_t(i)].second;
  next_batch_ = first_batch;
}

bool FeatureBatches::next(data::Batch& batch) {
  const int64_t n = split_.size(), begin = next_batch_ * batch_size_;
  if (begin >= n) return false;
  const int64_t count = std::min(batch_size_, n - begin), dim = features_.size(1), classes = split_.labels.size(1);
  Tensor images = Tensor::empty({count, dim}), labels = Tensor::empty({count, classes}),
         observed = Tensor::empty({count, classes}), indices = Tensor::empty({count}, DType::Int64);
  batch.paths.clear();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = order_[std::size_t(begin + i)];
    std::copy(features_.data<float>() + row * dim, features_.data<float>() + (row + 1) * dim,
              images.data<float>() + i * dim);
    std::copy(split_.labels.data<float>() + row * classes, split_.labels.data<float>() + (row + 1) * classes,
              labels.data<float>() + i * classes);
    std::copy(split_.observed.data<float>() + row * classes, split_.observed.data<float>() + (row + 1) * classes,
              observed.data<float>() + i * classes);
    indices.data<int64_t>()[i] = row;
    batch.paths.push_back(split_.image_paths[std::size_t(row)]);
  }
  batch.images = images.to(device_);
  batch.labels = labels.to(device_);
  batch.observed = observed.to(device_);
  batch.indices = indices;
  batch.batch_index = next_batch_++;
  return true;
}

}  // namespace spml::training
