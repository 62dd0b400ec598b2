// DeviceIntervals (see device_intervals.h): CUDA events from a pool, recorded on cuda_runtime::stream(device).
#include "framework/cuda/device_intervals.h"

#include "framework/cuda/cuda_runtime.h"
#include "kernels/common/error.h"

#if SPML_WITH_CUDA
#include <cuda_runtime_api.h>

#include "kernels/cuda/check.h"
#endif

namespace spml::cuda_runtime {

#if SPML_WITH_CUDA
namespace {
cudaEvent_t as_event(void* e) {
  return static_cast<cudaEvent_t>(e);
}
}  // namespace
#endif

DeviceIntervals::DeviceIntervals(Device device) : device_(device), on_device_(device.is_cuda()) {
#if !SPML_WITH_CUDA
  on_device_ = false;
#endif
}

DeviceIntervals::~DeviceIntervals() {
#if SPML_WITH_CUDA
  if (!on_device_) return;
  DeviceGuard guard(device_.index);
  // Destructors must not throw: a failure here has been reported by the op that caused it.
  for (Interval& i : pending_) {
    (void)cudaEventSynchronize(as_event(i.stop));
    free_events_.push_back(i.start);
    free_events_.push_back(i.stop);
  }
  for (Interval& i : open_) {
    if (i.start != nullptr) free_events_.push_back(i.start);
    if (i.stop != nullptr) free_events_.push_back(i.stop);
  }
  for (void* e : free_events_) (void)cudaEventDestroy(as_event(e));
#endif
}

void* DeviceIntervals::take_event() {
#if SPML_WITH_CUDA
  if (!free_events_.empty()) {
    void* e = free_events_.back();
    free_events_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  SPML_CUDA_CHECK(cudaEventCreate(&e));  // timing enabled (the default flags)
  return e;
#else
  return nullptr;
#endif
}

int DeviceIntervals::begin() {
  SPML_CHECK(on_device_, "DeviceIntervals::begin on ", device_.str(), ": time on the host instead");
#if SPML_WITH_CUDA
  DeviceGuard guard(device_.index);
  Interval interval;
  interval.start = take_event();
  SPML_CUDA_CHECK(cudaEventRecord(as_event(interval.start), stream(device_.index)));
  for (std::size_t h = 0; h < open_.size(); ++h)
    if (open_[h].start == nullptr) {
      open_[h] = interval;
      return int(h);
    }
  open_.push_back(interval);
  return int(open_.size()) - 1;
#else
  return -1;
#endif
}

void DeviceIntervals::end(int handle, double* total) {
  SPML_CHECK(handle >= 0 && std::size_t(handle) < open_.size() && open_[std::size_t(handle)].start != nullptr,
             "DeviceIntervals::end: no open interval ", handle);
#if SPML_WITH_CUDA
  DeviceGuard guard(device_.index);
  Interval interval = open_[std::size_t(handle)];
  open_[std::size_t(handle)] = Interval{};
  interval.stop = take_event();
  interval.total = total;
  SPML_CUDA_CHECK(cudaEventRecord(as_event(interval.stop), stream(device_.index)));
  pending_.push_back(interval);
#else
  (void)total;
#endif
}

void DeviceIntervals::collect(bool wait) {
#if SPML_WITH_CUDA
  if (!on_device_ || pending_.empty()) return;
  DeviceGuard guard(device_.index);
  while (!pending_.empty()) {
    Interval& i = pending_.front();
    if (wait) {
      SPML_CUDA_CHECK(cudaEventSynchronize(as_event(i.stop)));
    } else {
      const cudaError_t status = cudaEventQuery(as_event(i.stop));
      if (status == cudaErrorNotReady) {
        (void)cudaGetLastError();  // "not ready" is an answer, not an error: keep it out of the next launch check
        return;
      }
      SPML_CUDA_CHECK(status);
    }
    float ms = 0;
    SPML_CUDA_CHECK(cudaEventElapsedTime(&ms, as_event(i.start), as_event(i.stop)));
    *i.total += double(ms) * 1e-3;
    free_events_.push_back(i.start);
    free_events_.push_back(i.stop);
    pending_.pop_front();
  }
#else
  (void)wait;
#endif
}

}  // namespace spml::cuda_runtime
