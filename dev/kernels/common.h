// Helpers shared by the kernel-study programs of dev/kernels (llm.c dev/cuda style): a tiny argv parser, CPU
// timing medians, error statistics against a float64 reference, and the CUDA device probe and peak bandwidth.
// Plain C++ on purpose: the CUDA parts use only the runtime API, so the .cpp files can call them too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if SPML_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace spml::dev {

// --name VALUE options and --flag switches; --help prints the usage and exits 0, anything unknown exits 2.
class ArgParser {
 public:
  ArgParser(const char* program, const char* summary) : program_(program), summary_(summary) {}
  void option(const char* name, int64_t* out, const char* help) { options_.push_back({name, help, out, nullptr}); }
  void flag(const char* name, bool* out, const char* help) { options_.push_back({name, help, nullptr, out}); }

  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
        usage(stdout);
        std::exit(0);
      }
      const Option* o = find(argv[i]);
      if (o == nullptr) fail("unknown argument '", argv[i], "'");
      if (o->flag != nullptr) {
        *o->flag = true;
        continue;
      }
      if (i + 1 >= argc) fail(o->name, " needs a value", "");
      char* end = nullptr;
      const long long value = std::strtoll(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0') fail(o->name, ": not an integer: ", argv[i]);
      *o->value = int64_t(value);
    }
  }

 private:
  struct Option {
    const char* name;
    const char* help;
    int64_t* value;
    bool* flag;
  };
  const Option* find(const char* arg) const {
    for (const Option& o : options_)
      if (std::strcmp(o.name, arg) == 0) return &o;
    return nullptr;
  }
  void usage(FILE* f) const {
    std::fprintf(f, "%s: %s\noptions:\n", program_, summary_);
    for (const Option& o : options_) {
      if (o.value != nullptr)
        std::fprintf(f, "  %-12s N  %s (default %lld)\n", o.name, o.help, static_cast<long long>(*o.value));
      else
        std::fprintf(f, "  %-14s %s\n", o.name, o.help);
    }
  }
  [[noreturn]] void fail(const char* a, const char* b, const char* c) const {
    std::fprintf(stderr, "%s: %s%s%s\n", program_, a, b, c);
    usage(stderr);
    std::exit(2);
  }
  const char* program_;
  const char* summary_;
  std::vector<Option> options_;
};

// Median wall-clock milliseconds of `reps` calls after `warmup` untimed ones.
template <class F>
double cpu_median_ms(F&& f, int reps, int warmup = 1) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < std::max(reps, 1); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// Error of `got` against the float64 reference `ref`, both [n]. Scaled by the reference's largest magnitude:
// gradients of mean losses are O(1 / N) and cancel to ~0 in places, where an element-wise relative error is noise.
struct ErrorStats {
  double max_abs = 0;  // max |got - ref|
  double max_rel = 0;  // max |got - ref| / max(|ref|, 1e-3 * scale): relative, floored at small entries
  double scale = 0;    // max |ref|
  bool finite = true;
  // Passes when max_abs <= tol * scale (every element within tol of the tensor's magnitude).
  bool ok(double tol) const { return finite && max_abs <= tol * std::max(scale, 1e-300); }
  void merge(const ErrorStats& o) {
    max_abs = std::max(max_abs, o.max_abs);
    max_rel = std::max(max_rel, o.max_rel);
    scale = std::max(scale, o.scale);
    finite = finite && o.finite;
  }
};

template <class T>
ErrorStats compare(const double* ref, const T* got, int64_t n) {
  ErrorStats s;
  for (int64_t i = 0; i < n; ++i) s.scale = std::max(s.scale, std::fabs(ref[i]));
  const double floor = std::max(1e-3 * s.scale, 1e-300);
  for (int64_t i = 0; i < n; ++i) {
    const double g = double(got[i]);
    if (!std::isfinite(g)) s.finite = false;
    const double d = std::fabs(g - ref[i]);
    s.max_abs = std::max(s.max_abs, d);
    s.max_rel = std::max(s.max_rel, d / std::max(std::fabs(ref[i]), floor));
  }
  return s;
}

inline double relative_error(double got, double ref) {
  return std::fabs(got - ref) / std::max(std::fabs(ref), 1e-300);
}

// Why the GPU part cannot run here, or "" when it can (a CUDA build on a machine with a device and driver).
inline std::string gpu_unavailable_reason() {
#if SPML_WITH_CUDA
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no CUDA device (") + cudaGetErrorString(status) + ")";
  }
  if (count <= 0) return "no CUDA device (the runtime reports 0 devices)";
  return "";
#else
  return "built without CUDA (SPML_CUDA=OFF or nvcc/cuDNN not found)";
#endif
}

#if SPML_WITH_CUDA
struct DeviceInfo {
  std::string name;
  int sms = 0;
  double peak_gbs = 0;  // 0 when the runtime does not report the memory clock or bus width
};

// Peak DRAM bandwidth = 2 (double data rate) x memory clock x bus width. CUDA 13 removed
// cudaDeviceProp::memoryClockRate, so both come from cudaDeviceGetAttribute; either may be missing (0 or error).
inline DeviceInfo device_info(int device) {
  DeviceInfo info;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    info.name = prop.name;
    info.sms = prop.multiProcessorCount;
  }
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess) clock_khz = 0;
  if (cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) bus_bits = 0;
  (void)cudaGetLastError();
  if (clock_khz > 0 && bus_bits > 0) info.peak_gbs = 2.0 * double(clock_khz) * 1e3 * double(bus_bits) / 8.0 / 1e9;
  return info;
}

// Median milliseconds of `reps` launches on `stream`, each between its own pair of events (so a rep's time is
// the GPU's, not the host's launch rate), after `warmup` untimed ones.
template <class F>
double gpu_median_ms(F&& launch, int reps, cudaStream_t stream, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) launch();
  const int n = std::max(reps, 1);
  std::vector<cudaEvent_t> start(n), stop(n);
  for (int i = 0; i < n; ++i) {
    cudaEventCreate(&start[i]);
    cudaEventCreate(&stop[i]);
  }
  for (int i = 0; i < n; ++i) {
    cudaEventRecord(start[i], stream);
    launch();
    cudaEventRecord(stop[i], stream);
  }
  cudaStreamSynchronize(stream);
  std::vector<double> ms(n);
  for (int i = 0; i < n; ++i) {
    float t = 0;
    cudaEventElapsedTime(&t, start[i], stop[i]);
    ms[i] = t;
    cudaEventDestroy(start[i]);
    cudaEventDestroy(stop[i]);
  }
  std::nth_element(ms.begin(), ms.begin() + n / 2, ms.end());
  return ms[n / 2];
}

// Device name, SM count and peak bandwidth of the current device: the first line of a GPU part.
inline void print_device() {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) device = 0;
  const DeviceInfo info = device_info(device);
  if (info.peak_gbs > 0)
    std::printf("GPU %d: %s, %d SMs, peak memory bandwidth %.0f GB/s\n", device, info.name.c_str(), info.sms,
                info.peak_gbs);
  else
    std::printf("GPU %d: %s, %d SMs, peak memory bandwidth unknown (no memory clock / bus width attribute)\n", device,
                info.name.c_str(), info.sms);
}

// Percentage of the peak, or "-" when the peak is unknown.
inline std::string percent_of_peak(double gbs, double peak_gbs) {
  if (peak_gbs <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", 100.0 * gbs / peak_gbs);
  return buf;
}
#endif

}  // namespace spml::dev
