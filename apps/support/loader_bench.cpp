// run_loader_bench (see loader_bench.h): times DataLoader over the first N images with several thread counts and
// runs scripts/bench_pil_pipeline.py on the same files for a same-run PIL baseline.
#include "apps/support/loader_bench.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "framework/core/runtime.h"
#include "framework/data/loader.h"
#include "kernels/common/error.h"

namespace spml::apps {

namespace {

std::string default_script() {
  std::string file = __FILE__;  // <source>/apps/support/loader_bench.cpp
  for (int up = 0; up < 3; ++up) {
    const std::size_t slash = file.find_last_of('/');
    if (slash == std::string::npos) return "scripts/bench_pil_pipeline.py";
    file.resize(slash);
  }
  return file + "/scripts/bench_pil_pipeline.py";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string join_path(const std::string& root, const std::string& rel) {
  if (root.empty() || (!rel.empty() && rel[0] == '/')) return rel;
  return root.back() == '/' ? root + rel : root + "/" + rel;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

LoaderBenchResult run_loader_bench(const data::MultiLabelSplit& split, const std::string& image_root,
                                   const LoaderBenchOptions& options) {
  SPML_CHECK(split.size() > 0, "loader bench: the split is empty");
  SPML_CHECK(options.passes > 0, "loader bench: passes must be positive");
  const int64_t n = std::min<int64_t>(split.size(), std::max<int64_t>(1, options.max_images));
  data::MultiLabelSplit subset;
  subset.image_paths.assign(split.image_paths.begin(), split.image_paths.begin() + n);
  subset.labels = split.labels.to(Device::cpu()).slice(0, n).clone();
  subset.observed = split.observed.to(Device::cpu()).slice(0, n).clone();

  LoaderBenchResult result;
  result.images = n;
  std::printf(
      "loader bench: %lld images, %d x %d, decode + resize (bilinear) + flip (p = 0.5) + normalise; "
      "median of %d passes\n",
      (long long)n, options.image_size, options.image_size, options.passes);
  std::vector<int> counts;
  for (int t : options.threads) {
    const int resolved = t > 0 ? t : std::max(1, num_threads());
    if (std::find(counts.begin(), counts.end(), resolved) == counts.end()) counts.push_back(resolved);
  }
  for (int threads : counts) {
    data::LoaderOptions lo;
    lo.batch_size = options.batch_size;
    lo.image_size = options.image_size;
    lo.flip = true;
    lo.workers = threads;
    lo.prefetch = std::max(4, 2 * threads);
    data::DataLoader loader(subset, image_root, lo);
    std::vector<double> rates;
    for (int pass = 0; pass <= options.passes; ++pass) {  // pass 0 warms the file cache
      const auto start = std::chrono::steady_clock::now();
      loader.start_epoch(pass);
      data::Batch batch;
      int64_t images = 0;
      while (loader.next(batch)) images += batch.images.size(0);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (pass > 0) rates.push_back(double(images) / seconds);
    }
    const double rate = median(rates);
    result.images_per_second.emplace_back(threads, rate);
    std::printf("  spml DataLoader, %2d thread%s: %9.1f images/s\n", threads, threads == 1 ? " " : "s", rate);
  }
  std::fflush(stdout);

  // The PIL + NumPy baseline on the same files, one process.
  const std::string script = options.script.empty() ? default_script() : options.script;
  if (::access(options.python.c_str(), X_OK) != 0) {
    result.pil_status = "no Python interpreter at " + options.python;
  } else if (::access(script.c_str(), R_OK) != 0) {
    result.pil_status = "baseline script not found: " + script;
  } else {
    char list_path[] = "/tmp/spml_loader_bench_XXXXXX";
    const int fd = ::mkstemp(list_path);
    SPML_CHECK(fd >= 0, "loader bench: cannot create a temporary file list");
    ::close(fd);
    {
      std::ofstream list(list_path);
      for (const std::string& p : subset.image_paths) list << join_path(image_root, p) << "\n";
    }
    const std::string command = shell_quote(options.python) + " " + shell_quote(script) + " --list " +
                                shell_quote(list_path) + " --size " + std::to_string(options.image_size) +
                                " --passes " + std::to_string(options.passes) + " 2>&1";
    std::string output;
    int status = -1;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
      char buffer[4096];
      std::size_t got;
      while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, got);
      status = ::pclose(pipe);
    }
    std::remove(list_path);
    const int code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("images_per_second ", 0) == 0) result.pil_images_per_second = std::atof(line.c_str() + 18);
    }
    if (code == 0 && result.pil_images_per_second > 0) {
      result.pil_status = "ok";
    } else if (code == 3) {
      result.pil_status = "PIL/NumPy missing in " + options.python + ": " + output.substr(0, output.find('\n'));
    } else {
      result.pil_status = "baseline failed (exit " + std::to_string(code) + "): " + output;
    }
  }
  if (result.pil_status != "ok") {
    std::printf("  PIL baseline not run: %s (Debian: apt-get install python3-pil python3-numpy)\n",
                result.pil_status.c_str());
    return result;
  }
  std::printf("  PIL + NumPy (%s, one process): %9.1f images/s\n", options.python.c_str(),
              result.pil_images_per_second);
  for (const auto& [threads, rate] : result.images_per_second)
    std::printf("  ratio spml/PIL with %2d thread%s: %.2fx (higher is faster)\n", threads, threads == 1 ? " " : "s",
                rate / result.pil_images_per_second);
  std::fflush(stdout);
  return result;
}

}  // namespace spml::apps
