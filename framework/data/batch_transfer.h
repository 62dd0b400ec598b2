// How DataLoader's batches move from host slots to the device (docs/design.md section 11). Split from the loader so
// that the ordering rules can be tested without a GPU: the CUDA transfer (copy stream, events, device stages) and a
// simulated one (a host thread that performs the "asynchronous" copies late, for tests) follow the same contract.
//
// A slot holds one batch in flight. Its host buffer (pinned on CUDA) is images [B, 3, S, S] followed by labels [B, C]
// and observed [B, C]; its device stage holds images [B, 3, S, S]. The loader's rules:
//   - workers call wait_host_images_free(slot) before writing image rows into host(slot);
//   - the worker that finishes a batch whose rows all decoded calls stage_images(slot, rows) right away, so the
//     host-to-device copy of batch k + 1 runs while the device computes batch k;
//   - the consumer calls wait_host_labels_free(slot) before writing the labels area, then hand_out(), which gives the
//     batch fresh device tensors (from the stage, or straight from the host rows when the batch lost rows and was
//     compacted on the host).
#pragma once

#include <cstdint>
#include <memory>

#include "framework/core/tensor.h"

namespace spml::data {

struct TransferShape {
  int64_t slots = 1;         // the loader's prefetch
  int64_t batch_size = 1;    // B
  int64_t image_floats = 1;  // 3 * S * S
  int64_t classes = 1;       // C
  int image_size = 1;        // S
  int64_t host_floats() const { return batch_size * (image_floats + 2 * classes); }
};

struct TransferredBatch {
  Tensor images;    // [rows, 3, S, S] float32 on the transfer's device
  Tensor labels;    // [rows, C]
  Tensor observed;  // [rows, C]
};

class BatchTransfer {
 public:
  virtual ~BatchTransfer() = default;
  // host(slot): images, then labels, then observed (see above); stays valid for the transfer's life.
  virtual float* host(int64_t slot) = 0;
  // Blocks until no queued copy still reads the image rows of host(slot). Any thread; never under the loader's lock.
  virtual void wait_host_images_free(int64_t slot) = 0;
  // Blocks until no queued copy still reads the labels area of host(slot). The consumer thread.
  virtual void wait_host_labels_free(int64_t slot) = 0;
  // Queues the copy of the first `rows` image rows of host(slot) into the slot's device stage, after the stage's
  // previous hand_out has read it. Any thread, once per batch.
  virtual void stage_images(int64_t slot, int64_t rows) = 0;
  // The consumer's batch of `rows` rows, in device tensors of their own: images from the stage (`staged`) or from
  // host(slot)'s first rows (not staged), labels and observed from host(slot)'s labels area. The device's compute
  // waits for every copy it reads, on the device (the host does not wait).
  virtual TransferredBatch hand_out(int64_t slot, int64_t rows, bool staged) = 0;
  // The loader dropped the slot's staged batch without handing it out (an epoch restarted mid-way).
  virtual void abandon(int64_t slot) = 0;
  // Blocks until every queued copy finished (shutdown, tests).
  virtual void drain() = 0;
};

// CUDA device `device`: pinned host slots, device stages from the caching allocator, one copy stream; throws
// spml::Error in a build without CUDA.
std::unique_ptr<BatchTransfer> make_cuda_transfer(const TransferShape& shape, int device);
// Tests only: CPU tensors out; a host thread plays the device's queues in order: each staging copy starts `delay_us`
// microseconds late and reads the host rows only then (as a late DMA would), and a staged hand_out's images are
// filled by a later job, so a slot rewritten too early yields wrong images. Read handed-out images after drain().
std::unique_ptr<BatchTransfer> make_simulated_transfer(const TransferShape& shape, int delay_us);

}  // namespace spml::data
