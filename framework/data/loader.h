// Multi-threaded, deterministic image data loader for MultiLabelSplit (docs/method.md section 7; docs/design.md section
// 11): decode -> resize to S x S (Pillow bilinear, aspect ratio ignored) -> optional random horizontal flip -> ImageNet
// normalisation, batched in order on worker threads, in pinned host memory and copied asynchronously when the device is
// CUDA.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "framework/core/tensor.h"
#include "framework/data/dataset.h"
#include "framework/data/sample_schedule.h"

namespace spml::data {

struct LoaderOptions {
  int64_t batch_size = 8;
  int image_size = 448;  // S: every image is resized to S x S with image::resize_bilinear (aspect ratio ignored)
  // Order: a permutation per epoch from (seed, epoch) when true, dataset order otherwise. The generator is
  // Philox4x32-10 (kernels/common/philox.h) keyed by SplitMix64(seed, epoch); Fisher-Yates from the last index down
  // (see shuffle_order), so the order is the same on every platform and standard library.
  bool shuffle = false;
  // Random horizontal flip with p = 0.5 (training only), decided per (seed, epoch, dataset index): the same
  // images flip whatever the number of workers or their timing (see flip_decision).
  bool flip = false;
  bool drop_last = false;  // false: the last partial batch is kept (docs/method.md section 7)
  uint64_t seed = 0;       // the order stream's seed (and the flips' unless flip_seed is set)
  int64_t flip_seed = -1;  // the flip stream's seed; -1: `seed`
  // Explicit orders and flips per epoch (an order file); when set it replaces shuffle, flip and the seeds, and
  // start_epoch(e) needs 1 <= e <= schedule->epochs(). Its size must be the split's.
  std::shared_ptr<const SampleSchedule> schedule;
  int workers = 0;   // decoding threads; 0 = spml::num_threads() (the project's thread policy)
  int prefetch = 4;  // bounded queue: at most this many batches decoded ahead of the consumer (>= 1)
  Device device = Device::cpu();
  // false: the first bad image (in batch order) makes next() throw spml::Error naming its path.
  // true: the sample is dropped from its batch with a warning on stderr and counted in stats().skipped
  // (a batch whose every image failed is skipped entirely, so next() may yield fewer than batches_per_epoch()).
  bool skip_bad_images = false;
  // Tests only (CPU device): >= 0 sends the batches through the CUDA device's transfer logic with a simulated copy
  // engine whose copies start this many microseconds late (framework/data/batch_transfer.h).
  int simulated_copy_delay_us = -1;
};

struct Batch {
  Tensor images;                   // [B, 3, S, S] float32, ImageNet-normalised, on the loader's device
  Tensor labels;                   // [B, C] float32 clean labels, on the device
  Tensor observed;                 // [B, C] float32 observed (single-positive) labels, on the device
  Tensor indices;                  // [B] int64 dataset indices (rows of the split), CPU
  std::vector<std::string> paths;  // image paths as given in the split (relative to the image root)
  int64_t batch_index = 0;         // position in the epoch (0-based)
};

struct LoaderStats {
  int64_t images_decoded = 0;  // successfully decoded and processed (all epochs)
  int64_t images_skipped = 0;  // dropped bad images (skip_bad_images)
  int64_t batches = 0;         // batches returned by next()
  double wait_seconds = 0;     // time the consumer spent blocked in next() waiting for workers
  double decode_seconds = 0;   // summed over workers: decode + resize + flip + normalise
  int64_t batches_staged = 0;  // CUDA: batches whose host-to-device copy a worker queued when its last row was in
};

// Usage: DataLoader loader(split, root, opts); for each epoch: loader.start_epoch(e); while (loader.next(b)) ...
// Workers start with the first start_epoch and live until destruction. Batches come out in order (batch k of the
// epoch's permutation) although workers decode images in parallel. Destroying the loader mid-epoch or after an
// error stops and joins every worker. Not thread-safe: one consumer thread calls start_epoch/next/stats.
// CUDA device: each batch is assembled in pinned host memory; the worker that finishes it queues its copy into a
// device stage on the loader's copy stream at once, so batch k + 1 is copied while the device computes batch k; next()
// gives it fresh device tensors, filled from the stage on the compute stream (cuda_runtime::stream) after an event
// wait. A slot's host rows and stage are reused only after the copies that read them (framework/data/batch_transfer.h).
class DataLoader {
 public:
  // The split and image root are copied (paths) / shared (label tensors, moved to the CPU); throws spml::Error for
  // invalid options, a split whose label shapes disagree with its paths, or an unusable CUDA device.
  DataLoader(const MultiLabelSplit& split, std::string image_root, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts (or restarts) epoch `epoch`: any batches of the previous epoch still in flight are abandoned.
  // first_batch > 0 starts the epoch's batch sequence there (a run resumed mid-epoch): the batches are exactly
  // those an uninterrupted epoch yields from that position on, and the skipped ones are not decoded.
  void start_epoch(int epoch, int64_t first_batch = 0);
  // The next batch of the current epoch in order; false at the end of the epoch (or before any start_epoch).
  // Rethrows a worker's error (spml::Error naming the image path); after an error every call throws it again
  // until the next start_epoch.
  bool next(Batch& out);
  // Blocks until every copy queued for the batches handed out so far has finished (the CUDA copy stream and the
  // compute stream's copies; the simulated copy engine of tests). Not needed before device work, which waits on the
  // device; a no-op for the CPU device.
  void synchronize();
  int64_t batches_per_epoch() const;
  int64_t size() const;  // samples in the split
  int workers() const;   // resolved thread count
  const LoaderOptions& options() const;
  LoaderStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The epoch's sample order: identity when !shuffle, else the Philox/Fisher-Yates permutation of [0, n).
std::vector<int64_t> shuffle_order(int64_t n, uint64_t seed, int epoch, bool shuffle);
// Whether dataset index `index` is flipped in `epoch` (p = 0.5).
bool flip_decision(uint64_t seed, int epoch, int64_t index);

// Throws spml::Error naming both numbers when the data set's class count differs from the model head's.
void check_num_classes(const MultiLabelDataset& dataset, int64_t model_classes);

}  // namespace spml::data
