// Loader throughput benchmark: images/s of decode + resize + flip + normalise through DataLoader with 1, 2 and all
// threads, against the same pipeline in PIL + NumPy (scripts/bench_pil_pipeline.py, one process) in the same run.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/data/dataset.h"

namespace spml::apps {

struct LoaderBenchOptions {
  int image_size = 448;
  std::vector<int> threads = {1, 2, 0};  // 0 = all (spml::num_threads()); duplicates are measured once
  int64_t max_images = 64;               // the first N images of the split
  int passes = 3;                        // timed passes per thread count (median), after one warm-up pass
  int64_t batch_size = 8;
  std::string python = "/usr/bin/python3";  // Debian's python3 with python3-pil and python3-numpy
  std::string script;                       // empty: <source tree>/scripts/bench_pil_pipeline.py
};

struct LoaderBenchResult {
  int64_t images = 0;
  std::vector<std::pair<int, double>> images_per_second;  // (threads, median images/s)
  double pil_images_per_second = 0;                       // 0 when the PIL baseline did not run
  std::string pil_status;                                 // "ok" or why the baseline did not run
};

// Prints one line per thread count, then the PIL baseline and the ratios (spml images/s over PIL's) to stdout.
// Throws spml::Error when an image cannot be loaded or the split is empty.
LoaderBenchResult run_loader_bench(const data::MultiLabelSplit& split, const std::string& image_root,
                                   const LoaderBenchOptions& options = {});

}  // namespace spml::apps
