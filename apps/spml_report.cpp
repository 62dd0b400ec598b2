// spml-report: compares training run folders. Prints a Markdown table of the runs and, when some
// (data set, arch, loss) has two or more finished runs (seeds), a blank line and their mean ± std test mAP;
// writes the val-mAP curves of all runs as one SVG plot and optionally the printed text as a Markdown file.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "framework/core/runtime.h"
#include "framework/io/file.h"
#include "kernels/common/error.h"
#include "training/plot.h"
#include "training/report.h"

namespace {

// The by-loss table only repeats the runs table when every group is a single run, so it is left out then.
bool some_group_has_several_runs(const std::vector<spml::training::RunSummary>& runs) {
  std::map<std::tuple<std::string, std::string, std::string>, int> tested_runs;
  for (const auto& r : runs)
    if (std::isfinite(r.test_map) && ++tested_runs[{r.dataset, r.arch, r.loss}] >= 2) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-report: tables and a val-mAP plot of training run folders"};
  std::vector<std::string> run_dirs;
  std::string plot_path = "spml-report.svg", markdown_path;
  app.add_option("rundirs", run_dirs, "run folders (config.json, metrics.jsonl, test.json)")->required();
  app.add_option("--plot", plot_path, "SVG of val mAP per epoch, a line per run")->capture_default_str();
  app.add_option("--markdown", markdown_path, "also write the printed tables to this Markdown file");
  std::string paired;
  app.add_option("--paired", paired,
                 "A,B: also the per-seed paired difference of test mAP, loss A minus loss B (e.g. gr,an; *,an: every "
                 "loss minus an)");
  CLI11_PARSE(app, argc, argv);
  try {
    using namespace spml::training;
    std::vector<RunSummary> runs;
    for (const std::string& dir : run_dirs) runs.push_back(load_run_summary(dir));
    std::string text = runs_markdown_table(runs);
    if (some_group_has_several_runs(runs)) text += "\n" + runs_by_loss_markdown_table(runs);
    if (!paired.empty()) {
      const std::size_t comma = paired.find(',');
      if (comma == std::string::npos || comma == 0 || comma + 1 == paired.size() ||
          paired.find(',', comma + 1) != std::string::npos)
        throw spml::Error("--paired expects two losses as A,B (e.g. gr,an), got '" + paired + "'");
      const std::string a = paired.substr(0, comma), b = paired.substr(comma + 1);
      std::vector<std::string> firsts{a};
      if (a == "*") {  // every other loss of the runs against b, in the runs' order
        firsts.clear();
        for (const RunSummary& r : runs)
          if (r.loss != b && std::find(firsts.begin(), firsts.end(), r.loss) == firsts.end()) firsts.push_back(r.loss);
      }
      for (const std::string& first : firsts) {
        const std::string table = paired_difference_markdown_table(runs, first, b);
        text +=
            "\n" + (table.empty() ? "(--paired " + first + "," + b + ": no seed has both losses finished)\n" : table);
      }
    }
    if (has_several_implementations(runs)) {
      const std::string table = implementation_difference_markdown_table(runs);
      if (!table.empty()) text += "\n" + table;
    }
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    // Wide: the legend column (a third of the width) holds run names such as fashion-mosaic-an_ls-s0.
    write_svg(plot_path, {val_map_panel(runs)}, 960, 440);
    std::fprintf(stderr, "spml-report: wrote the plot to %s\n", plot_path.c_str());
    if (!markdown_path.empty()) {
      spml::io::write_file_atomic(markdown_path, text);
      std::fprintf(stderr, "spml-report: wrote the tables to %s\n", markdown_path.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-report: error: %s\n", e.what());
    return 1;
  }
}
