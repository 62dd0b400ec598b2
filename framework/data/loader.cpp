// DataLoader (see loader.h): persistent worker threads take per-image tasks in epoch order from a shared cursor,
// bounded to `prefetch` batches ahead of the consumer; a ring of `prefetch` batch slots holds the decoded rows
// (a BatchTransfer's host slots for CUDA, a fresh CPU tensor per batch otherwise); the worker that finishes a batch
// queues its host-to-device copy at once (batch_transfer.h), so it overlaps the device's compute of the batch before;
// next() waits for batch k's slot, reports bad images in row order, and hands the batch over.
#include "framework/data/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "framework/core/runtime.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/data/batch_transfer.h"
#include "framework/image/image.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"

namespace spml::data {

namespace {

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Philox key of one random stream of an epoch: stream 0 = sample order, 1 = flips.
uint64_t stream_key(uint64_t seed, int epoch, uint64_t stream) {
  return mix64(mix64(seed) ^ ((uint64_t(uint32_t(epoch)) << 8) | stream));
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string join_path(const std::string& root, const std::string& rel) {
  if (root.empty() || (!rel.empty() && rel[0] == '/')) return rel;
  return root.back() == '/' ? root + rel : root + "/" + rel;
}

}  // namespace

std::vector<int64_t> shuffle_order(int64_t n, uint64_t seed, int epoch, bool shuffle) {
  SPML_CHECK(n >= 0, "shuffle_order: negative size ", n);
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[std::size_t(i)] = i;
  if (!shuffle) return order;
  const uint64_t key = stream_key(seed, epoch, 0);
  // Fisher-Yates from the last index down; j uniform in [0, i] from 64 Philox bits by multiply-shift
  // (Lemire), whose bias (i + 1) / 2^64 is far below anything observable.
  for (int64_t i = n - 1; i > 0; --i) {
    const kernels::Philox4x32 r = kernels::philox4x32_10(key, uint64_t(i));
    const uint64_t bits = (uint64_t(r.v[0]) << 32) | r.v[1];
    const auto j = int64_t((unsigned __int128)bits * (unsigned __int128)(uint64_t(i) + 1) >> 64);
    std::swap(order[std::size_t(i)], order[std::size_t(j)]);
  }
  return order;
}

bool flip_decision(uint64_t seed, int epoch, int64_t index) {
  return (kernels::philox4x32_10(stream_key(seed, epoch, 1), uint64_t(index)).v[0] >> 31) != 0;
}

void check_num_classes(const MultiLabelDataset& dataset, int64_t model_classes) {
  SPML_CHECK(dataset.num_classes() == model_classes, "class count mismatch: data set '", dataset.name, "' has ",
             dataset.num_classes(), " classes but the model's head has ", model_classes, " outputs");
}

// ------------------------------------------------------------------------------------------------ Impl
struct DataLoader::Impl {
  struct Slot {
    int64_t batch = -1;  // the batch this slot holds (-1: none this epoch)
    int64_t rows = 0;
    int64_t pending = 0;              // rows not finished yet
    Tensor images;                    // CPU device: [rows, 3, S, S], handed to the consumer
    std::vector<std::string> errors;  // per row: empty = fine, else the error message
    // With a transfer: a worker is queueing the slot's staging copy (outside the lock) / has queued it.
    bool staging = false, staged = false;
    std::string transfer_error;  // the staging copy failed: next() throws this
  };

  // immutable after construction
  std::vector<std::string> paths;
  std::string root;
  LoaderOptions opt;
  Tensor labels, observed;  // CPU float32 [N, C]
  int64_t n = 0, classes = 0, image_floats = 0;
  int num_workers = 1;

  // shared state, guarded by mutex
  std::mutex mutex;
  std::condition_variable work_cv;  // workers wait for tasks
  std::condition_variable done_cv;  // consumer / start_epoch wait for workers
  bool stop = false;
  bool started = false;
  uint64_t generation = 0;
  int epoch = 0;
  std::vector<int64_t> order;
  std::vector<uint8_t> flips;  // by dataset index: mirrored this epoch
  int64_t total = 0;           // samples covered by this epoch's batches
  int64_t nbatches = 0;        // batches this epoch
  int64_t cursor = 0;          // next sample position a worker takes
  int64_t consumed = 0;        // batches handed out (or skipped) by next()
  int active = 0;              // tasks being processed outside the lock
  std::vector<Slot> slots;
  LoaderStats stats;

  // consumer-only state
  std::string error;  // set after next() threw: thrown again until start_epoch

  std::vector<std::thread> threads;
  // CUDA (or a simulated device in tests): the host slots and their copies; null for the CPU device.
  std::unique_ptr<BatchTransfer> transfer;

  ~Impl() { shutdown(); }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    work_cv.notify_all();
    for (std::thread& t : threads)
      if (t.joinable()) t.join();
    threads.clear();
    transfer.reset();  // waits for its copies
  }

  // Prepares `s` for batch b. Caller holds the mutex; batch b - prefetch (the slot's previous batch) was consumed.
  void init_slot(Slot& s, int64_t b) {
    s.batch = b;
    s.rows = std::min(opt.batch_size, total - b * opt.batch_size);
    s.pending = s.rows;
    s.errors.assign(std::size_t(s.rows), std::string());
    s.staging = s.staged = false;
    s.transfer_error.clear();
    if (!transfer) s.images = Tensor::empty({s.rows, 3, opt.image_size, opt.image_size});
  }

  int64_t slot_index(int64_t batch) const { return batch % opt.prefetch; }

  float* image_rows(Slot& s, int64_t b) { return transfer ? transfer->host(slot_index(b)) : s.images.data<float>(); }

  void worker_loop() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] {
        return stop || (started && cursor < total && cursor / opt.batch_size < consumed + opt.prefetch);
      });
      if (stop) return;
      const int64_t p = cursor++;
      const int64_t b = p / opt.batch_size, row = p % opt.batch_size;
      Slot& s = slots[std::size_t(slot_index(b))];
      std::string message;
      if (s.batch != b) {
        try {
          init_slot(s, b);
        } catch (const std::exception& e) {
          s.batch = b;  // the rows of this batch report the failure
          s.rows = std::min(opt.batch_size, total - b * opt.batch_size);
          s.pending = s.rows;
          s.errors.assign(std::size_t(s.rows), std::string());
          message = std::string("DataLoader: cannot prepare batch ") + std::to_string(b) + ": " + e.what();
        }
      }
      const uint64_t gen = generation;
      const int64_t index = order[std::size_t(p)];
      const bool flip = flips[std::size_t(index)] != 0;
      float* dst = message.empty() ? image_rows(s, b) + row * image_floats : nullptr;
      ++active;
      lock.unlock();

      const auto start = Clock::now();
      if (dst != nullptr && transfer) {
        // The slot's previous batch may still be copying out of these host rows (waited for outside the lock).
        try {
          transfer->wait_host_images_free(slot_index(b));
        } catch (const std::exception& e) {
          message =
              std::string("DataLoader: cannot reuse the host slot of batch ") + std::to_string(b) + ": " + e.what();
          dst = nullptr;
        }
      }
      if (dst != nullptr) {
        const std::string full = join_path(root, paths[std::size_t(index)]);
        try {
          image::Image img = image::decode_image(full);
          if (img.width != opt.image_size || img.height != opt.image_size)
            img = image::resize_bilinear(img, opt.image_size, opt.image_size);
          if (flip) image::flip_horizontal(img);
          image::to_normalized_chw(img, dst);
        } catch (const std::exception& e) {
          message =
              "DataLoader: cannot load image '" + full + "' (dataset index " + std::to_string(index) + "): " + e.what();
        } catch (...) {
          message = "DataLoader: cannot load image '" + full + "' (dataset index " + std::to_string(index) +
                    "): unknown exception";
        }
      }
      const double elapsed = seconds_since(start);

      lock.lock();
      if (gen == generation) {
        s.errors[std::size_t(row)] = message;
        --s.pending;
        if (message.empty()) ++stats.images_decoded;
        stats.decode_seconds += elapsed;
        if (s.pending == 0 && transfer) stage_if_complete(s, b, lock);
      }
      --active;
      done_cv.notify_all();
    }
  }

  // The last row of batch b is in: queue its copy to the device now (overlapping the device's compute of the batches
  // before) unless rows failed, which next() compacts on the host first. Called with the lock held, as an active task
  // (start_epoch waits for it); the copy is queued outside the lock.
  void stage_if_complete(Slot& s, int64_t b, std::unique_lock<std::mutex>& lock) {
    for (const std::string& e : s.errors)
      if (!e.empty()) return;
    s.staging = true;
    lock.unlock();
    std::string failure;
    try {
      transfer->stage_images(slot_index(b), s.rows);
    } catch (const std::exception& e) {
      failure = std::string("DataLoader: cannot copy batch ") + std::to_string(b) + " to " + opt.device.str() + ": " +
                e.what();
    }
    lock.lock();
    s.staging = false;
    s.staged = failure.empty();
    s.transfer_error = failure;
    if (failure.empty()) ++stats.batches_staged;
  }

  void start_threads() {
    threads.reserve(std::size_t(num_workers));
    for (int i = 0; i < num_workers; ++i) threads.emplace_back([this] { worker_loop(); });
  }
};

// ------------------------------------------------------------------------------------------------ DataLoader
DataLoader::DataLoader(const MultiLabelSplit& split, std::string image_root, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  SPML_CHECK(options.batch_size > 0, "DataLoader: batch_size must be positive, got ", options.batch_size);
  SPML_CHECK(options.image_size > 0, "DataLoader: image_size must be positive, got ", options.image_size);
  SPML_CHECK(options.prefetch > 0, "DataLoader: prefetch must be at least 1, got ", options.prefetch);
  SPML_CHECK(options.workers >= 0, "DataLoader: workers must be >= 0 (0 = num_threads()), got ", options.workers);
  const int64_t n = split.size();
  SPML_CHECK(split.labels.defined() && split.observed.defined(), "DataLoader: the split has no label tensors");
  SPML_CHECK(split.labels.dim() == 2 && split.labels.size(0) == n, "DataLoader: labels ",
             shape_str(split.labels.shape()), " do not match ", n, " image paths");
  SPML_CHECK(split.observed.shape() == split.labels.shape(), "DataLoader: observed labels ",
             shape_str(split.observed.shape()), " differ from labels ", shape_str(split.labels.shape()));
  if (options.device.is_cuda()) cuda_runtime::require_device(options.device.index, "DataLoader");
  SPML_CHECK(options.simulated_copy_delay_us < 0 || options.device.is_cpu(),
             "DataLoader: simulated_copy_delay_us is for the CPU device (tests); got device ", options.device.str());
  if (options.schedule)
    SPML_CHECK(options.schedule->size == n, "DataLoader: the order file was made for ", options.schedule->size,
               " rows, the split has ", n);
  d.paths = split.image_paths;
  d.root = std::move(image_root);
  d.opt = options;
  d.n = n;
  d.classes = split.labels.size(1);
  d.image_floats = 3 * int64_t(options.image_size) * options.image_size;
  const Tensor lab = split.labels.to(Device::cpu()), obs = split.observed.to(Device::cpu());
  d.labels = lab.dtype() == DType::Float32 ? lab : lab.to(DType::Float32);
  d.observed = obs.dtype() == DType::Float32 ? obs : obs.to(DType::Float32);
  d.num_workers = options.workers > 0 ? options.workers : std::max(1, num_threads());
  d.slots.resize(std::size_t(options.prefetch));
  TransferShape shape;
  shape.slots = options.prefetch;
  shape.batch_size = options.batch_size;
  shape.image_floats = d.image_floats;
  shape.classes = d.classes;
  shape.image_size = options.image_size;
  if (options.device.is_cuda()) {
    d.transfer = make_cuda_transfer(shape, options.device.index);
  } else if (options.simulated_copy_delay_us >= 0) {
    d.transfer = make_simulated_transfer(shape, options.simulated_copy_delay_us);
  }
}

DataLoader::~DataLoader() = default;

int64_t DataLoader::size() const {
  return impl_->n;
}
int DataLoader::workers() const {
  return impl_->num_workers;
}
const LoaderOptions& DataLoader::options() const {
  return impl_->opt;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t b = impl_->opt.batch_size;
  return impl_->opt.drop_last ? impl_->n / b : (impl_->n + b - 1) / b;
}

LoaderStats DataLoader::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

void DataLoader::start_epoch(int epoch, int64_t first_batch) {
  Impl& d = *impl_;
  SPML_CHECK(epoch >= 0, "DataLoader::start_epoch: negative epoch ", epoch);
  SPML_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(), "DataLoader::start_epoch: first batch ",
             first_batch, " outside [0, ", batches_per_epoch(), "]");
  std::vector<int64_t> order;
  std::vector<uint8_t> flips(std::size_t(d.n), 0);
  if (d.opt.schedule) {
    SPML_CHECK(epoch >= 1 && epoch <= d.opt.schedule->epochs(), "DataLoader::start_epoch: epoch ", epoch,
               " is not covered by the order file's ", d.opt.schedule->epochs(), " epochs");
    order = d.opt.schedule->orders[std::size_t(epoch - 1)];
    flips = d.opt.schedule->flips[std::size_t(epoch - 1)];
  } else {
    order = shuffle_order(d.n, d.opt.seed, epoch, d.opt.shuffle);
    const uint64_t flip_seed = d.opt.flip_seed >= 0 ? uint64_t(d.opt.flip_seed) : d.opt.seed;
    if (d.opt.flip)
      for (int64_t i = 0; i < d.n; ++i) flips[std::size_t(i)] = flip_decision(flip_seed, epoch, i) ? 1 : 0;
  }
  {
    std::unique_lock<std::mutex> lock(d.mutex);
    ++d.generation;  // tasks of the previous epoch finishing now are dropped
    d.cursor = d.total;
    d.done_cv.wait(lock, [&] { return d.active == 0; });
    for (std::size_t i = 0; i < d.slots.size(); ++i) {
      Impl::Slot& s = d.slots[i];
      if (s.staged) d.transfer->abandon(int64_t(i));
      s.batch = -1;
      s.staged = false;
      s.images = Tensor();
    }
    d.order = std::move(order);
    d.flips = std::move(flips);
    d.epoch = epoch;
    d.nbatches = batches_per_epoch();
    d.total = d.opt.drop_last ? d.nbatches * d.opt.batch_size : d.n;
    d.cursor = std::min(d.total, first_batch * d.opt.batch_size);
    d.consumed = first_batch;
    d.started = true;
    d.error.clear();
  }
  if (d.threads.empty()) d.start_threads();
  d.work_cv.notify_all();
}

void DataLoader::synchronize() {
  if (impl_->transfer) impl_->transfer->drain();
}

bool DataLoader::next(Batch& out) {
  Impl& d = *impl_;
  if (!d.error.empty()) throw Error(d.error);
  for (;;) {
    // Only this thread moves `consumed`, so the slot is known before locking: its labels area is rewritten below,
    // once the copy that read it for the slot's previous batch is done (waited for outside the lock).
    if (d.transfer && d.started && d.consumed < d.nbatches) d.transfer->wait_host_labels_free(d.slot_index(d.consumed));
    std::unique_lock<std::mutex> lock(d.mutex);
    if (!d.started || d.consumed >= d.nbatches) return false;
    const int64_t b = d.consumed;
    Impl::Slot& s = d.slots[std::size_t(d.slot_index(b))];
    const auto wait_start = Clock::now();
    d.done_cv.wait(lock, [&] { return s.batch == b && s.pending == 0 && !s.staging; });
    d.stats.wait_seconds += seconds_since(wait_start);
    if (!s.transfer_error.empty()) {
      d.error = s.transfer_error;
      d.cursor = d.total;
      ++d.generation;
      throw Error(d.error);
    }

    // Bad rows, in row order (deterministic whatever the worker timing).
    std::vector<int64_t> good;
    good.reserve(std::size_t(s.rows));
    for (int64_t r = 0; r < s.rows; ++r) {
      const std::string& message = s.errors[std::size_t(r)];
      if (message.empty()) {
        good.push_back(r);
        continue;
      }
      if (!d.opt.skip_bad_images) {
        d.error = message;
        d.cursor = d.total;  // stop handing out work for this epoch
        ++d.generation;
        throw Error(message);
      }
      std::fprintf(stderr, "warning: %s; skipping it\n", message.c_str());
      ++d.stats.images_skipped;
    }
    const int64_t rows = int64_t(good.size());
    const int64_t first = b * d.opt.batch_size;
    if (rows == 0) {  // every image of the batch failed (skip mode): go on with the next batch
      ++d.consumed;
      lock.unlock();
      d.work_cv.notify_all();
      continue;
    }

    // Compact good rows to the front (host rows; a batch that lost rows was not staged) and gather labels, indices
    // and paths. With a transfer the labels go straight into the slot's host labels area.
    Batch batch;
    batch.batch_index = b;
    batch.indices = Tensor::empty({rows}, DType::Int64);
    Tensor labels, observed;
    float *labels_dst = nullptr, *observed_dst = nullptr;
    float* image_base = d.image_rows(s, b);
    if (d.transfer) {
      labels_dst = image_base + d.opt.batch_size * d.image_floats;
      observed_dst = labels_dst + d.opt.batch_size * d.classes;
    } else {
      labels = Tensor::empty({rows, d.classes});
      observed = Tensor::empty({rows, d.classes});
      labels_dst = labels.data<float>();
      observed_dst = observed.data<float>();
    }
    int64_t* idx = batch.indices.data<int64_t>();
    const float* src_lab = d.labels.data<float>();
    const float* src_obs = d.observed.data<float>();
    const std::size_t row_bytes = std::size_t(d.classes) * sizeof(float);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t r = good[std::size_t(i)];
      const int64_t index = d.order[std::size_t(first + r)];
      idx[i] = index;
      batch.paths.push_back(d.paths[std::size_t(index)]);
      std::memcpy(labels_dst + i * d.classes, src_lab + index * d.classes, row_bytes);
      std::memcpy(observed_dst + i * d.classes, src_obs + index * d.classes, row_bytes);
      if (r != i)
        std::memmove(image_base + i * d.image_floats, image_base + r * d.image_floats,
                     std::size_t(d.image_floats) * sizeof(float));
    }

    if (!d.transfer) {
      batch.images = rows == s.rows ? s.images : s.images.slice(0, rows).clone();
      s.images = Tensor();
      batch.labels = labels;
      batch.observed = observed;
    } else {
      // Workers cannot touch this slot until `consumed` moves on, so the device copies are queued outside the lock.
      const bool staged = s.staged;
      s.staged = false;
      lock.unlock();
      TransferredBatch t = d.transfer->hand_out(d.slot_index(b), rows, staged);
      lock.lock();
      batch.images = std::move(t.images);
      batch.labels = std::move(t.labels);
      batch.observed = std::move(t.observed);
    }
    ++d.consumed;
    ++d.stats.batches;
    lock.unlock();
    d.work_cv.notify_all();
    out = std::move(batch);
    return true;
  }
}

}  // namespace spml::data
