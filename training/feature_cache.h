// Cole et al.'s linear_fixed_features mode (docs/method.md section 7.2): the backbone's globally pooled features of a
// split, extracted once in eval mode without augmentation and cached as .npy under the feature cache folder, keyed by
// the weights' SHA-256 (or the random init's seed), the architecture and width, the image size, the data set and the
// split; and the shuffled batches of a split's cached features that the head trains on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "framework/core/tensor.h"
#include "framework/data/dataset.h"
#include "framework/data/loader.h"
#include "models/resnet.h"
#include "training/train_config.h"

namespace spml::training {

// What identifies a backbone's features: "sha256:<hex>" of the weights file, or "random-init:<seed>".
std::string backbone_key(const TrainConfig& config, const std::string& weights_sha256);

// The cache file of one split's features: <cache>/<dataset>-<arch>-w<width>-<size>px-<key digest>-<split>.npy (the
// cache folder: config.feature_cache, else <data>/feature_cache). A JSON sidecar (.json) holds the full key.
std::string feature_cache_path(const TrainConfig& config, const std::string& backbone, const std::string& split_name);

// The split's features [N, feature_dim] float32 on the CPU, rows in the split's order: read from the cache when its
// file and sidecar match (key and row count), else extracted with `net` (eval mode, no flip) on `device` and written
// atomically. `log` says which. A cache file that does not match its key is an error naming it.
Tensor split_features(models::ResNet& net, const data::MultiLabelSplit& split, const std::string& split_name,
                      const std::string& image_root, const TrainConfig& config, Device device,
                      const std::string& backbone, const std::function<void(const std::string&)>& log);

// A split's cached features in shuffled batches, the contract of data::DataLoader's start_epoch/next: each epoch a
// permutation of the rows from (seed, epoch) alone (Philox keys, so a resumed epoch repeats it), the last partial
// batch kept; Batch::images holds the features [B, F] on `device`.
class FeatureBatches {
 public:
  FeatureBatches(const Tensor& features, const data::MultiLabelSplit& split, int64_t batch_size, uint64_t seed,
                 Device device);
  int64_t batches_per_epoch() const;
  // Epoch `epoch` (1-based) from its batch `first_batch`.
  void start_epoch(int epoch, int64_t first_batch = 0);
  bool next(data::Batch& batch);

 private:
  Tensor features_;
  const data::MultiLabelSplit& split_;
  int64_t batch_size_;
  uint64_t seed_;
  Device device_;
  std::vector<int64_t> order_;
  int64_t next_batch_ = 0;
};

}  // namespace spml::training
