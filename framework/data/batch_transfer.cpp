// BatchTransfer implementations (see batch_transfer.h): the CUDA one (pinned host slots, a copy stream, device stages
// from the caching allocator, events for every cross-stream and host-reuse dependency) and the simulated one for tests.
#include "framework/data/batch_transfer.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "framework/cuda/cuda_runtime.h"
#include "kernels/common/error.h"

#if SPML_WITH_CUDA
#include <cuda_runtime_api.h>

#include "kernels/cuda/check.h"
#endif

namespace spml::data {

namespace {

#if SPML_WITH_CUDA
// Events per slot. An event that was never recorded counts as complete, so the first batch of a slot waits for nothing.
//   images_read: the last copy that reads the slot's host image rows (staging on the copy stream, or a direct copy on
//                the compute stream when the batch was compacted); workers wait for it before writing rows.
//   labels_read: the last copy (compute stream) that reads the slot's host labels area.
//   staged:      the staging copy into the device stage (copy stream); compute waits for it before reading the stage.
//   stage_read:  the compute stream's copy out of the stage; the next staging copy into it waits for this.
class CudaTransfer final : public BatchTransfer {
 public:
  CudaTransfer(const TransferShape& shape, int device) : shape_(shape), device_(device) {
    cuda_runtime::require_device(device, "DataLoader");
    cuda_runtime::DeviceGuard guard(device);
    slots_.resize(std::size_t(shape.slots));
    try {
      SPML_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
      for (Slot& s : slots_) {
        for (cudaEvent_t* e : {&s.images_read, &s.labels_read, &s.staged, &s.stage_read})
          SPML_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
        s.host = static_cast<float*>(cuda_runtime::pinned_allocate(std::size_t(shape.host_floats()) * sizeof(float)));
        s.stage = Tensor::empty({shape.batch_size * shape.image_floats}, DType::Float32, Device::cuda(device));
      }
      // The stages are caching-allocator blocks, ready in the compute stream's order: the copy stream, which writes
      // them first, starts after everything queued there so far.
      cudaEvent_t allocated = nullptr;
      SPML_CUDA_CHECK(cudaEventCreateWithFlags(&allocated, cudaEventDisableTiming));
      SPML_CUDA_CHECK(cudaEventRecord(allocated, cuda_runtime::stream(device)));
      SPML_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, allocated, 0));
      SPML_CUDA_CHECK(cudaEventDestroy(allocated));
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaTransfer() override { release(); }

  float* host(int64_t slot) override { return slots_[std::size_t(slot)].host; }

  void wait_host_images_free(int64_t slot) override {
    SPML_CUDA_CHECK(cudaEventSynchronize(slots_[std::size_t(slot)].images_read));
  }
  void wait_host_labels_free(int64_t slot) override {
    SPML_CUDA_CHECK(cudaEventSynchronize(slots_[std::size_t(slot)].labels_read));
  }

  void stage_images(int64_t slot, int64_t rows) override {
    Slot& s = slots_[std::size_t(slot)];
    cuda_runtime::DeviceGuard guard(device_);
    SPML_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, s.stage_read, 0));
    SPML_CUDA_CHECK(
        cudaMemcpyAsync(s.stage.data_ptr(), s.host, image_bytes(rows), cudaMemcpyHostToDevice, copy_stream_));
    SPML_CUDA_CHECK(cudaEventRecord(s.staged, copy_stream_));
    SPML_CUDA_CHECK(cudaEventRecord(s.images_read, copy_stream_));
  }

  TransferredBatch hand_out(int64_t slot, int64_t rows, bool staged) override {
    Slot& s = slots_[std::size_t(slot)];
    const Device dev = Device::cuda(device_);
    cuda_runtime::DeviceGuard guard(device_);
    cudaStream_t compute = cuda_runtime::stream(device_);
    // Fresh blocks from the caching allocator are ready in the compute stream's order, so every write into them is
    // queued there: a device-to-device copy out of the stage (microseconds) instead of handing the stage itself out,
    // which the next batch of this slot overwrites.
    TransferredBatch out;
    out.images = Tensor::empty({rows, 3, shape_.image_size, shape_.image_size}, DType::Float32, dev);
    out.labels = Tensor::empty({rows, shape_.classes}, DType::Float32, dev);
    out.observed = Tensor::empty({rows, shape_.classes}, DType::Float32, dev);
    if (staged) {
      SPML_CUDA_CHECK(cudaStreamWaitEvent(compute, s.staged, 0));
      SPML_CUDA_CHECK(cudaMemcpyAsync(out.images.data_ptr(), s.stage.data_ptr(), image_bytes(rows),
                                      cudaMemcpyDeviceToDevice, compute));
      SPML_CUDA_CHECK(cudaEventRecord(s.stage_read, compute));
    } else {
      SPML_CUDA_CHECK(
          cudaMemcpyAsync(out.images.data_ptr(), s.host, image_bytes(rows), cudaMemcpyHostToDevice, compute));
      SPML_CUDA_CHECK(cudaEventRecord(s.images_read, compute));
    }
    const float* labels = s.host + shape_.batch_size * shape_.image_floats;
    const float* observed = labels + shape_.batch_size * shape_.classes;
    SPML_CUDA_CHECK(
        cudaMemcpyAsync(out.labels.data_ptr(), labels, out.labels.nbytes(), cudaMemcpyHostToDevice, compute));
    SPML_CUDA_CHECK(
        cudaMemcpyAsync(out.observed.data_ptr(), observed, out.observed.nbytes(), cudaMemcpyHostToDevice, compute));
    SPML_CUDA_CHECK(cudaEventRecord(s.labels_read, compute));
    return out;
  }

  // The next staging copy into the slot queues behind this one on the same copy stream: nothing to do.
  void abandon(int64_t) override {}

  void drain() override {
    if (copy_stream_ != nullptr) SPML_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));
    for (Slot& s : slots_)
      for (cudaEvent_t e : {s.images_read, s.labels_read, s.stage_read})
        if (e != nullptr) SPML_CUDA_CHECK(cudaEventSynchronize(e));
  }

 private:
  struct Slot {
    float* host = nullptr;  // pinned: images [B, 3, S, S], labels [B, C], observed [B, C]
    Tensor stage;           // device: images [B * 3 * S * S]
    cudaEvent_t images_read = nullptr, labels_read = nullptr, staged = nullptr, stage_read = nullptr;
  };

  std::size_t image_bytes(int64_t rows) const { return std::size_t(rows * shape_.image_floats) * sizeof(float); }

  // Destructors must not throw: errors are ignored here (a device fault has been reported by the op that hit it).
  void release() noexcept {
    cuda_runtime::DeviceGuard guard(device_);
    if (copy_stream_ != nullptr) (void)cudaStreamSynchronize(copy_stream_);
    for (Slot& s : slots_) {
      for (cudaEvent_t* e : {&s.images_read, &s.labels_read, &s.staged, &s.stage_read}) {
        if (*e == nullptr) continue;
        (void)cudaEventSynchronize(*e);
        (void)cudaEventDestroy(*e);
        *e = nullptr;
      }
      if (s.host != nullptr) {
        try {
          cuda_runtime::pinned_free(s.host);
        } catch (...) {
        }
        s.host = nullptr;
      }
      s.stage = Tensor();
    }
    if (copy_stream_ != nullptr) (void)cudaStreamDestroy(copy_stream_);
    copy_stream_ = nullptr;
  }

  TransferShape shape_;
  int device_ = 0;
  cudaStream_t copy_stream_ = nullptr;
  std::vector<Slot> slots_;
};
#endif

// The simulated copy engine: one host thread plays the device's queues in order (FIFO, like the copy stream followed
// by the compute stream's wait): a staging copy runs `delay_us` late and reads the host rows only then; a hand_out
// returns at once and its tensors are filled by a later job, as a device would, so readers call drain() first. It
// also checks the loader's side of the contract: a slot is staged at most once before its hand_out (abandon()
// excepted), and a staged hand_out follows a staging copy.
class SimulatedTransfer final : public BatchTransfer {
 public:
  SimulatedTransfer(const TransferShape& shape, int delay_us)
      : shape_(shape),
        delay_(delay_us),
        host_(std::size_t(shape.slots)),
        stage_(std::size_t(shape.slots)),
        staged_(std::size_t(shape.slots), false),
        host_reads_(std::size_t(shape.slots), 0) {
    for (auto& h : host_) h.assign(std::size_t(shape.host_floats()), 0.f);
    for (auto& s : stage_) s.assign(std::size_t(shape.batch_size * shape.image_floats), 0.f);
    thread_ = std::thread([this] { run(); });
  }
  ~SimulatedTransfer() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  float* host(int64_t slot) override { return host_[std::size_t(slot)].data(); }

  void wait_host_images_free(int64_t slot) override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return host_reads_[std::size_t(slot)] == 0; });
  }
  void wait_host_labels_free(int64_t) override {}  // hand_out reads the labels at once

  void stage_images(int64_t slot, int64_t rows) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      SPML_CHECK(!staged_[std::size_t(slot)], "simulated transfer: slot ", slot,
                 " staged again before its previous batch was handed out");
      staged_[std::size_t(slot)] = true;
      ++host_reads_[std::size_t(slot)];
      queue_.push_back({Job::Stage, slot, rows, Tensor()});
    }
    cv_.notify_all();
  }

  TransferredBatch hand_out(int64_t slot, int64_t rows, bool staged) override {
    TransferredBatch out;
    out.images = Tensor::empty({rows, 3, shape_.image_size, shape_.image_size});
    if (staged) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        SPML_CHECK(staged_[std::size_t(slot)], "simulated transfer: slot ", slot,
                   " handed out as staged but never staged");
        staged_[std::size_t(slot)] = false;
        queue_.push_back({Job::FromStage, slot, rows, out.images});
      }
      cv_.notify_all();
    } else {
      std::memcpy(out.images.data<float>(), host(slot), out.images.nbytes());
    }
    const float* labels = host(slot) + shape_.batch_size * shape_.image_floats;
    out.labels = Tensor::empty({rows, shape_.classes});
    out.observed = Tensor::empty({rows, shape_.classes});
    std::memcpy(out.labels.data<float>(), labels, out.labels.nbytes());
    std::memcpy(out.observed.data<float>(), labels + shape_.batch_size * shape_.classes, out.observed.nbytes());
    return out;
  }

  void abandon(int64_t slot) override {
    std::lock_guard<std::mutex> lock(mutex_);
    staged_[std::size_t(slot)] = false;
  }

  void drain() override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

 private:
  struct Job {
    enum Kind { Stage, FromStage } kind;
    int64_t slot, rows;
    Tensor out;  // FromStage: the handed-out images [rows, 3, S, S]
  };

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      Job job = queue_.front();
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      const std::size_t bytes = std::size_t(job.rows * shape_.image_floats) * sizeof(float);
      if (job.kind == Job::Stage) {
        if (delay_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_));
        std::memcpy(stage_[std::size_t(job.slot)].data(), host_[std::size_t(job.slot)].data(), bytes);
      } else {
        std::memcpy(job.out.data<float>(), stage_[std::size_t(job.slot)].data(), bytes);
      }
      lock.lock();
      if (job.kind == Job::Stage) --host_reads_[std::size_t(job.slot)];
      busy_ = false;
      cv_.notify_all();
    }
  }

  TransferShape shape_;
  int delay_ = 0;
  std::vector<std::vector<float>> host_, stage_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<bool> staged_;     // staged and not handed out (nor abandoned) yet
  std::vector<int> host_reads_;  // staging copies queued that have not read the host rows yet
  std::deque<Job> queue_;
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<BatchTransfer> make_cuda_transfer(const TransferShape& shape, int device) {
#if SPML_WITH_CUDA
  return std::make_unique<CudaTransfer>(shape, device);
#else
  (void)shape;
  SPML_FAIL("DataLoader: CUDA device cuda:", device, " requested but this build has no CUDA backend");
#endif
}

std::unique_ptr<BatchTransfer> make_simulated_transfer(const TransferShape& shape, int delay_us) {
  return std::make_unique<SimulatedTransfer>(shape, delay_us);
}

}  // namespace spml::data
