// A per-op wall-clock profile on the host: every NvtxRange (each op's forward, each backward, the training
// phases) adds its self time (its time minus that of the ranges nested inside it) to a table by name. Off by
// default; `spml-bench --profile` turns it on around one training step. CUDA work is asynchronous, so on a GPU the
// table shows launch cost, not kernel time (use Nsight Systems there).
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace spml::profiler {

struct Entry {
  std::string name;
  int64_t calls = 0;
  double self_ms = 0;
  double gflop = 0;  // floating-point work the range reported (count_flops), e.g. convolutions
};

namespace detail {
extern std::atomic<bool> g_enabled;
void push(const char* name);
void pop();
}  // namespace detail

inline bool enabled() {
  return detail::g_enabled.load(std::memory_order_relaxed);
}
// Adds `flop` floating-point operations to the innermost open range (no-op when the profile is off).
void count_flops(double flop);
void set_enabled(bool on);
void reset();
// The table so far, largest self time first.
std::vector<Entry> entries();
// Prints the table (name, calls, self ms, share of the total, GFLOP/s where counted) to stdout.
void print(const std::string& title);

}  // namespace spml::profiler
