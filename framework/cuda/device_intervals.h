// Device-side interval timing for the training phases (docs/design.md section 12): on CUDA an interval is a pair of
// events on the device's compute stream, so its length is what the GPU spent between the two points, as Nsight's
// timeline shows it, not how long the host took to queue the work. Collection is lazy so that timing never adds a
// device sync to a step. On the CPU (and in a build without CUDA) on_device() is false and callers time on the host.
#pragma once

#include <deque>
#include <vector>

#include "framework/core/dtype.h"

namespace spml::cuda_runtime {

class DeviceIntervals {
 public:
  explicit DeviceIntervals(Device device);
  ~DeviceIntervals();
  DeviceIntervals(const DeviceIntervals&) = delete;
  DeviceIntervals& operator=(const DeviceIntervals&) = delete;

  bool on_device() const { return on_device_; }
  // Records the start of an interval on the device's stream; returns its handle for end().
  int begin();
  // Records the end of interval `handle`; its seconds are added to *total when collected (*total must outlive that).
  void end(int handle, double* total);
  // Adds every finished interval to its total; wait = true waits for the ones still running first (epoch ends).
  // Intervals finish in stream order, so collection stops at the first unfinished one.
  void collect(bool wait);
  // Intervals ended but not collected yet.
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Interval {
    void* start = nullptr;  // cudaEvent_t
    void* stop = nullptr;
    double* total = nullptr;
  };
  void* take_event();

  Device device_;
  bool on_device_ = false;
  std::vector<void*> free_events_;
  std::vector<Interval> open_;  // by handle
  std::deque<Interval> pending_;
};

}  // namespace spml::cuda_runtime
