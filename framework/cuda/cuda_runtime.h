// The CUDA side of the framework: device discovery, one stream and one cuBLAS/cuDNN handle per device, the
// caching device allocator and the pinned host allocator. Every function exists in a build without CUDA;
// there they report "built without CUDA" (or false/0 for the queries).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#if SPML_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#endif

namespace spml::cuda_runtime {

// True when this build has CUDA, a driver is loaded and at least one device exists (probed once; a
// CUDA build on a machine without a driver answers false instead of failing).
bool is_available();
int device_count();
// Why is_available() is false: "built without CUDA", "no CUDA device" or the runtime's message.
std::string unavailable_reason();
// Throws spml::Error naming `what` and the reason when device `index` cannot be used.
void require_device(int index, const char* what);
// Human-readable name and compute capability of a device ("NVIDIA H100 80GB HBM3 (sm_90)").
std::string device_name(int index);
// Blocks until all work queued on the device's stream is done.
void synchronize(int index);

// Makes `device` the calling thread's current CUDA device for the scope and restores the previous one after.
// Kernel launches, cuBLAS and cuDNN run on the current device, so every op on cuda:N runs under one (the
// dispatch point, framework/core/dispatch.h). Costs one cudaGetDevice when the device already is current; a
// no-op in a build without CUDA.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int device_ = 0;
  int previous_ = 0;
};

#if SPML_WITH_CUDA
// The stream all framework work on `device` is queued on (created non-blocking on first use).
cudaStream_t stream(int device);
// Handles bound to stream(device); created on first use and kept for the process.
cublasHandle_t cublas_handle(int device);
cudnnHandle_t cudnn_handle(int device);
#endif

// Caching device allocator: sizes rounded up (512 B granules below 1 MiB, 2 MiB above), freed blocks kept
// in per-device pools and reused for requests of the same rounded size class (best fit); blocks are used
// on the device's one stream, so reuse in stream order is safe. Out of memory retries once after freeing
// the cache, then throws with the bytes asked and the bytes free.
struct AllocatorStats {
  std::size_t allocated_bytes = 0;       // in live blocks (rounded sizes)
  std::size_t reserved_bytes = 0;        // held from cudaMalloc: live + cached
  std::size_t peak_allocated_bytes = 0;  // since start or the last reset_peak_stats()
  std::size_t alloc_count = 0;           // allocate() calls
  std::size_t cache_hits = 0;            // served from the cache without cudaMalloc
  std::size_t cuda_malloc_count = 0;     // cudaMalloc calls made
};
void* device_allocate(std::size_t bytes, int device);
void device_free(void* ptr, int device);
AllocatorStats allocator_stats(int device);
void reset_peak_stats(int device);
// Returns every cached (unused) block of every device to the driver.
void empty_cache();

// Page-locked host memory for fast, asynchronous host<->device copies (cached the same way).
void* pinned_allocate(std::size_t bytes);
void pinned_free(void* ptr);

// Copies `bytes` between host and device (or device and device) on the device's stream; waits for the
// copy when `synchronous` is true (host destinations that are not pinned always wait).
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy(void* dst, const void* src, std::size_t bytes, CopyKind kind, int device, bool synchronous = true);
void memset_zero(void* dst, std::size_t bytes, int device);

}  // namespace spml::cuda_runtime
