// The host-side op profile behind profiler.h: a per-thread stack of open ranges, a shared table of totals.
#include "framework/core/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

namespace spml::profiler {
namespace detail {
std::atomic<bool> g_enabled{false};
namespace {
using Clock = std::chrono::steady_clock;
struct Open {
  const char* name;
  Clock::time_point start;
  double child_ms;
  double flop;
};
thread_local std::vector<Open> t_stack;
std::mutex g_mutex;
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}
}  // namespace

void push(const char* name) {
  t_stack.push_back({name, Clock::now(), 0.0, 0.0});
}
void pop() {
  if (t_stack.empty()) return;  // profiling was switched on inside an open range
  const Open open = t_stack.back();
  t_stack.pop_back();
  const double total = std::chrono::duration<double, std::milli>(Clock::now() - open.start).count();
  if (!t_stack.empty()) t_stack.back().child_ms += total;
  std::lock_guard<std::mutex> lock(g_mutex);
  Entry& e = table()[open.name];
  e.name = open.name;
  e.calls += 1;
  e.self_ms += total - open.child_ms;
  e.gflop += open.flop * 1e-9;
}
}  // namespace detail

void count_flops(double flop) {
  if (enabled() && !detail::t_stack.empty()) detail::t_stack.back().flop += flop;
}

void set_enabled(bool on) {
  detail::g_enabled.store(on);
}
void reset() {
  std::lock_guard<std::mutex> lock(detail::g_mutex);
  detail::table().clear();
}
std::vector<Entry> entries() {
  std::lock_guard<std::mutex> lock(detail::g_mutex);
  std::vector<Entry> out;
  for (const auto& [name, e] : detail::table()) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.self_ms > b.self_ms; });
  return out;
}
void print(const std::string& title) {
  const std::vector<Entry> all = entries();
  double total = 0;
  for (const Entry& e : all) total += e.self_ms;
  std::printf("%s (host wall clock, self time per range; total %.1f ms)\n", title.c_str(), total);
  std::printf("  %-34s %7s %10s %7s %9s\n", "range", "calls", "self ms", "share", "GFLOP/s");
  for (const Entry& e : all) {
    std::printf("  %-34s %7lld %10.2f %6.1f%%", e.name.c_str(), static_cast<long long>(e.calls), e.self_ms,
                total > 0 ? 100.0 * e.self_ms / total : 0.0);
    if (e.gflop > 0 && e.self_ms > 0) std::printf(" %9.1f", e.gflop / (e.self_ms * 1e-3));
    std::printf("\n");
  }
}

}  // namespace spml::profiler
