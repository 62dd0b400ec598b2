// The framework's CUDA runtime layer: device probing, one stream and one cuBLAS/cuDNN handle per device, the
// caching device allocator and the pinned host allocator (see cuda_runtime.h). Built with SPML_WITH_CUDA=0,
// every entry point exists and reports "built without CUDA".
#include "framework/cuda/cuda_runtime.h"

#include <string>

#include "kernels/common/error.h"

#if SPML_WITH_CUDA
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iomanip>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/cuda/check.h"
#endif

namespace spml::cuda_runtime {

#if SPML_WITH_CUDA

namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;
constexpr std::size_t kSmallGranule = 512;       // sizes up to kSmallLimit round to this
constexpr std::size_t kLargeGranule = 2 * kMiB;  // larger sizes round to this
constexpr std::size_t kSmallLimit = kMiB;

// Zero-byte requests get a real (smallest) block, so every allocation is a distinct non-null pointer.
std::size_t round_size(std::size_t bytes, const char* what) {
  if (bytes == 0) bytes = 1;
  const std::size_t granule = bytes <= kSmallLimit ? kSmallGranule : kLargeGranule;
  SPML_CHECK(bytes <= ~std::size_t(0) - granule, what, ": request of ", bytes, " bytes is too large");
  return (bytes + granule - 1) / granule * granule;
}

// A cached block serves a request when it is at least as large and wastes at most half of itself.
bool fits(std::size_t block, std::size_t request) {
  return block >= request && block / 2 <= request;
}

std::string mib(std::size_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << double(bytes) / double(kMiB) << " MiB";
  return out.str();
}

struct DeviceState {
  std::once_flag stream_once, cublas_once, cudnn_once;
  std::atomic<cudaStream_t> stream{nullptr};
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;

  std::mutex mutex;                                    // guards everything below
  std::multimap<std::size_t, void*> free_blocks;       // cached blocks by size (best fit = lower_bound)
  std::unordered_map<void*, std::size_t> live_blocks;  // handed-out blocks and their sizes
  AllocatorStats stats;
};

struct Probe {
  int count = 0;
  std::string reason;             // why there is no usable device; empty when count > 0
  DeviceState* states = nullptr;  // one per device, never freed: streams and handles live for the process
};

// Why the runtime found no device when the driver is the cause: none installed, or older than this build's runtime
// (the runtime's own message, "CUDA driver version is insufficient", does not say which versions).
std::string driver_note(cudaError_t status) {
  int driver = 0, runtime = 0;
  (void)cudaDriverGetVersion(&driver);
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaGetLastError();
  auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  if (driver == 0) return ": no NVIDIA driver is loaded";
  if (status == cudaErrorInsufficientDriver || driver < runtime)
    return ": the driver supports CUDA " + version(driver) + ", this build's runtime is CUDA " + version(runtime) +
           " (install a newer driver)";
  return "";
}

// Never destroyed (like the states): storage freed by static destructors at exit still finds the pools.
const Probe& probe() {
  static std::once_flag once;
  static Probe* probed = new Probe;
  std::call_once(once, [] {
    Probe& result = *probed;
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();  // a failed probe must not leave an error behind for the next checked call
      result.reason = std::string("no CUDA device (") + cudaGetErrorString(status) + ")" + driver_note(status);
    } else if (count <= 0) {
      result.reason = "no CUDA device (the runtime reports 0 devices)";
    } else {
      result.count = count;
      result.states = new DeviceState[count];
    }
  });
  return *probed;
}

DeviceState& device_state(int device, const char* what) {
  require_device(device, what);
  return probe().states[device];
}

cudaStream_t stream_of(DeviceState& state, int device) {
  std::call_once(state.stream_once, [&] {
    DeviceGuard guard(device);
    cudaStream_t created = nullptr;
    SPML_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    // Kernels' per-call scratch memory (kernels/cuda/stream_workspace.cuh) comes from the device's default
    // stream-ordered pool, which by default returns its memory to the driver at every synchronisation; kept
    // instead, a workspace of the same size is a pool hit at every step.
    cudaMemPool_t pool = nullptr;
    SPML_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep_all = UINT64_MAX;
    SPML_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
    state.stream.store(created);
  });
  return state.stream.load();
}

// Returns the device's cached blocks to the driver. Caller holds state.mutex.
void release_cached_locked(DeviceState& state, int device) {
  if (state.free_blocks.empty()) return;
  DeviceGuard guard(device);
  // Blocks are freed in stream order: wait until work queued before their release has finished with them.
  if (cudaStream_t s = state.stream.load()) SPML_CUDA_CHECK(cudaStreamSynchronize(s));
  while (!state.free_blocks.empty()) {
    const auto it = state.free_blocks.begin();
    const std::size_t size = it->first;
    void* ptr = it->second;
    state.free_blocks.erase(it);
    state.stats.reserved_bytes -= size;
    SPML_CUDA_CHECK(cudaFree(ptr));
  }
}

// --- pinned host memory ---------------------------------------------------------------------------
// A freed pinned block may still be the source or target of an asynchronous copy, so it carries one event
// per device stream recorded at free time; reuse waits for them before handing the block out again.
struct PinnedCached {
  void* ptr;
  std::vector<cudaEvent_t> events;
};

struct PinnedPool {
  std::mutex mutex;
  std::multimap<std::size_t, PinnedCached> free_blocks;
  std::unordered_map<void*, std::size_t> live_blocks;
};

PinnedPool& pinned_pool() {
  static PinnedPool* pool = new PinnedPool;  // never destroyed: blocks may outlive static destruction order
  return *pool;
}

void wait_and_destroy(std::vector<cudaEvent_t>& events) {
  for (cudaEvent_t event : events) {
    SPML_CUDA_CHECK(cudaEventSynchronize(event));
    SPML_CUDA_CHECK(cudaEventDestroy(event));
  }
  events.clear();
}

void release_pinned_locked(PinnedPool& pool) {
  while (!pool.free_blocks.empty()) {
    auto node = pool.free_blocks.extract(pool.free_blocks.begin());
    wait_and_destroy(node.mapped().events);
    SPML_CUDA_CHECK(cudaFreeHost(node.mapped().ptr));
  }
}

void require_available(const char* what) {
  SPML_CHECK(is_available(), what, ": ", probe().reason);
}

bool is_pinned_host(const void* ptr) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

}  // namespace

DeviceGuard::DeviceGuard(int device) : device_(device) {
  SPML_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) SPML_CUDA_CHECK(cudaSetDevice(device_));
}
DeviceGuard::~DeviceGuard() {
  if (previous_ != device_) (void)cudaSetDevice(previous_);
}

bool is_available() {
  return probe().count > 0;
}

int device_count() {
  return probe().count;
}

std::string unavailable_reason() {
  return probe().reason;
}

void require_device(int index, const char* what) {
  const Probe& p = probe();
  SPML_CHECK(p.count > 0, what, ": CUDA device ", index, " requested but ", p.reason);
  SPML_CHECK(index >= 0 && index < p.count, what, ": CUDA device index ", index, " out of range (", p.count,
             p.count == 1 ? " device)" : " devices)");
}

std::string device_name(int index) {
  require_device(index, "cuda_runtime::device_name");
  cudaDeviceProp prop{};
  SPML_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
}

void synchronize(int index) {
  DeviceState& state = device_state(index, "cuda_runtime::synchronize");
  SPML_CUDA_CHECK(cudaStreamSynchronize(stream_of(state, index)));
}

cudaStream_t stream(int device) {
  return stream_of(device_state(device, "cuda_runtime::stream"), device);
}

cublasHandle_t cublas_handle(int device) {
  DeviceState& state = device_state(device, "cuda_runtime::cublas_handle");
  std::call_once(state.cublas_once, [&] {
    cudaStream_t s = stream_of(state, device);
    DeviceGuard guard(device);
    cublasHandle_t handle = nullptr;
    SPML_CUBLAS_CHECK(cublasCreate(&handle));
    const cublasStatus_t status = cublasSetStream(handle, s);
    if (status != CUBLAS_STATUS_SUCCESS) (void)cublasDestroy(handle);
    SPML_CUBLAS_CHECK(status);
    state.cublas = handle;
  });
  return state.cublas;
}

cudnnHandle_t cudnn_handle(int device) {
  DeviceState& state = device_state(device, "cuda_runtime::cudnn_handle");
  std::call_once(state.cudnn_once, [&] {
    cudaStream_t s = stream_of(state, device);
    DeviceGuard guard(device);
    cudnnHandle_t handle = nullptr;
    SPML_CUDNN_CHECK(cudnnCreate(&handle));
    const cudnnStatus_t status = cudnnSetStream(handle, s);
    if (status != CUDNN_STATUS_SUCCESS) (void)cudnnDestroy(handle);
    SPML_CUDNN_CHECK(status);
    state.cudnn = handle;
  });
  return state.cudnn;
}

void* device_allocate(std::size_t bytes, int device) {
  DeviceState& state = device_state(device, "cuda_runtime::device_allocate");
  const std::size_t size = round_size(bytes, "cuda_runtime::device_allocate");
  std::lock_guard<std::mutex> lock(state.mutex);
  ++state.stats.alloc_count;
  void* ptr = nullptr;
  std::size_t block = size;
  const auto cached = state.free_blocks.lower_bound(size);
  if (cached != state.free_blocks.end() && fits(cached->first, size)) {
    block = cached->first;
    ptr = cached->second;
    state.free_blocks.erase(cached);
    ++state.stats.cache_hits;
  } else {
    DeviceGuard guard(device);
    ++state.stats.cuda_malloc_count;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached_locked(state, device);
      ++state.stats.cuda_malloc_count;
      status = cudaMalloc(&ptr, size);
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        std::size_t free_bytes = 0, total_bytes = 0;
        if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
        SPML_FAIL("CUDA out of memory: asked for ", mib(size), " on device ", device, ", free ", mib(free_bytes),
                  " of ", mib(total_bytes), " (allocated ", mib(state.stats.allocated_bytes), ", reserved ",
                  mib(state.stats.reserved_bytes), ")");
      }
    }
    SPML_CUDA_CHECK(status);
    state.stats.reserved_bytes += size;
  }
  state.live_blocks.emplace(ptr, block);
  state.stats.allocated_bytes += block;
  state.stats.peak_allocated_bytes = std::max(state.stats.peak_allocated_bytes, state.stats.allocated_bytes);
  return ptr;
}

void device_free(void* ptr, int device) {
  if (ptr == nullptr) return;
  DeviceState& state = device_state(device, "cuda_runtime::device_free");
  std::lock_guard<std::mutex> lock(state.mutex);
  const auto it = state.live_blocks.find(ptr);
  SPML_CHECK(it != state.live_blocks.end(), "cuda_runtime::device_free: pointer ", ptr,
             " is not a live block of the allocator of device ", device);
  // Reuse is safe without events: every user of the block queues on the device's one stream.
  state.free_blocks.emplace(it->second, ptr);
  state.stats.allocated_bytes -= it->second;
  state.live_blocks.erase(it);
}

AllocatorStats allocator_stats(int device) {
  DeviceState& state = device_state(device, "cuda_runtime::allocator_stats");
  std::lock_guard<std::mutex> lock(state.mutex);
  return state.stats;
}

void reset_peak_stats(int device) {
  DeviceState& state = device_state(device, "cuda_runtime::reset_peak_stats");
  std::lock_guard<std::mutex> lock(state.mutex);
  state.stats.peak_allocated_bytes = state.stats.allocated_bytes;
}

void empty_cache() {
  const Probe& p = probe();
  for (int device = 0; device < p.count; ++device) {
    DeviceState& state = p.states[device];
    std::lock_guard<std::mutex> lock(state.mutex);
    release_cached_locked(state, device);
  }
}

void* pinned_allocate(std::size_t bytes) {
  require_available("cuda_runtime::pinned_allocate");
  const std::size_t size = round_size(bytes, "cuda_runtime::pinned_allocate");
  PinnedPool& pool = pinned_pool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  const auto cached = pool.free_blocks.lower_bound(size);
  if (cached != pool.free_blocks.end() && fits(cached->first, size)) {
    auto node = pool.free_blocks.extract(cached);
    wait_and_destroy(node.mapped().events);
    pool.live_blocks.emplace(node.mapped().ptr, node.key());
    return node.mapped().ptr;
  }
  void* ptr = nullptr;
  // Portable: usable for copies on every device's stream.
  cudaError_t status = cudaHostAlloc(&ptr, size, cudaHostAllocPortable);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    release_pinned_locked(pool);
    status = cudaHostAlloc(&ptr, size, cudaHostAllocPortable);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      SPML_FAIL("CUDA out of pinned host memory: asked for ", mib(size), " (after releasing the pinned cache)");
    }
  }
  SPML_CUDA_CHECK(status);
  pool.live_blocks.emplace(ptr, size);
  return ptr;
}

void pinned_free(void* ptr) {
  if (ptr == nullptr) return;
  require_available("cuda_runtime::pinned_free");
  PinnedPool& pool = pinned_pool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  const auto it = pool.live_blocks.find(ptr);
  SPML_CHECK(it != pool.live_blocks.end(), "cuda_runtime::pinned_free: pointer ", ptr, " is not a live pinned block");
  PinnedCached entry{ptr, {}};
  const Probe& p = probe();
  for (int device = 0; device < p.count; ++device) {
    cudaStream_t s = p.states[device].stream.load();
    if (s == nullptr) continue;  // no stream yet: nothing can be using the block there
    DeviceGuard guard(device);
    cudaEvent_t event = nullptr;
    SPML_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    entry.events.push_back(event);
    SPML_CUDA_CHECK(cudaEventRecord(event, s));
  }
  pool.free_blocks.emplace(it->second, std::move(entry));
  pool.live_blocks.erase(it);
}

void memcpy(void* dst, const void* src, std::size_t bytes, CopyKind kind, int device, bool synchronous) {
  DeviceState& state = device_state(device, "cuda_runtime::memcpy");
  if (bytes == 0) return;
  cudaStream_t s = stream_of(state, device);
  cudaMemcpyKind direction = cudaMemcpyDeviceToDevice;
  if (kind == CopyKind::HostToDevice) direction = cudaMemcpyHostToDevice;
  if (kind == CopyKind::DeviceToHost) direction = cudaMemcpyDeviceToHost;
  DeviceGuard guard(device);
  SPML_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, direction, s));
  // A pageable host destination is only written once the copy completes, so the caller must wait for it.
  // (A pageable source is staged before cudaMemcpyAsync returns, so host-to-device needs no wait.)
  if (synchronous || (kind == CopyKind::DeviceToHost && !is_pinned_host(dst))) {
    SPML_CUDA_CHECK(cudaStreamSynchronize(s));
  }
}

void memset_zero(void* dst, std::size_t bytes, int device) {
  DeviceState& state = device_state(device, "cuda_runtime::memset_zero");
  if (bytes == 0) return;
  cudaStream_t s = stream_of(state, device);
  DeviceGuard guard(device);
  SPML_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, s));
}

#else  // !SPML_WITH_CUDA

namespace {
[[noreturn]] void built_without_cuda(const char* what) {
  SPML_FAIL(what, ": built without CUDA");
}
}  // namespace

bool is_available() {
  return false;
}
int device_count() {
  return 0;
}
std::string unavailable_reason() {
  return "built without CUDA";
}
void require_device(int index, const char* what) {
  SPML_FAIL(what, ": CUDA device ", index, " requested but built without CUDA");
}
std::string device_name(int) {
  built_without_cuda("cuda_runtime::device_name");
}
void synchronize(int) {
  built_without_cuda("cuda_runtime::synchronize");
}
DeviceGuard::DeviceGuard(int device) : device_(device), previous_(device) {}
DeviceGuard::~DeviceGuard() = default;
void* device_allocate(std::size_t, int) {
  built_without_cuda("cuda_runtime::device_allocate");
}
void device_free(void*, int) {
  built_without_cuda("cuda_runtime::device_free");
}
AllocatorStats allocator_stats(int) {
  built_without_cuda("cuda_runtime::allocator_stats");
}
void reset_peak_stats(int) {
  built_without_cuda("cuda_runtime::reset_peak_stats");
}
void empty_cache() {}  // nothing is cached without CUDA; a no-op, as in a CUDA build without a device
void* pinned_allocate(std::size_t) {
  built_without_cuda("cuda_runtime::pinned_allocate");
}
void pinned_free(void*) {
  built_without_cuda("cuda_runtime::pinned_free");
}
void memcpy(void*, const void*, std::size_t, CopyKind, int, bool) {
  built_without_cuda("cuda_runtime::memcpy");
}
void memset_zero(void*, std::size_t, int) {
  built_without_cuda("cuda_runtime::memset_zero");
}

#endif  // SPML_WITH_CUDA

}  // namespace spml::cuda_runtime
