// Wall-clock timing for benchmarks: median of repeated runs after warm-up, with a device sync per run.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace spml {

struct TimingStats {
  double median_ms = 0;
  double min_ms = 0;
  int repeats = 0;
};

// Runs fn `warmup` times, then `repeats` times timing each; `sync` (may be empty) runs before each clock read
// so asynchronous device work is counted.
inline TimingStats time_median(const std::function<void()>& fn, int repeats, int warmup,
                               const std::function<void()>& sync = {}) {
  for (int i = 0; i < warmup; ++i) fn();
  if (sync) sync();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    if (sync) sync();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  TimingStats s;
  s.repeats = repeats;
  s.median_ms = ms.empty() ? 0 : ms[ms.size() / 2];
  s.min_ms = ms.empty() ? 0 : ms.front();
  return s;
}

}  // namespace spml
