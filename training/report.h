// Run reports: reads training run folders (config.json, metrics.jsonl, test.json) into summaries and turns them
// into Markdown tables and a val-mAP plot panel, for comparing losses across data sets, architectures and seeds.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "training/plot.h"

namespace spml::training {

// One line of metrics.jsonl: a finished epoch. mAP values are percent. A null in the file (how JSON writers spell
// NaN, e.g. a diverged loss) reads as NaN.
struct EpochMetrics {
  int epoch = 0;  // 1-based
  double train_loss = 0, val_map = 0, seconds = 0, images_per_s = 0;
};

struct RunSummary {
  std::string dir, name;  // name: the folder's last path component
  std::string dataset, arch, loss;
  // Who trained it: test.json's (else run.json's) "implementation", e.g. "pytorch-reference"
  // (scripts/torch_reference_train.py); "spml" when neither says.
  std::string implementation = "spml";
  int epochs = 0;  // planned
  int64_t seed = 0;
  std::vector<EpochMetrics> epochs_done;  // in file order
  bool finished = false;                  // test.json present
  // From test.json when finished; before that the best epoch so far (first of equal maxima), no test mAP, and
  // the sum of the finished epochs' seconds. NaN (and best_epoch 0) where nothing is known yet.
  double best_val_map = std::numeric_limits<double>::quiet_NaN();
  double test_map = std::numeric_limits<double>::quiet_NaN();
  int best_epoch = 0;
  double seconds_total = std::numeric_limits<double>::quiet_NaN();
};

// Reads RUNDIR/config.json (required: "dataset", "arch", "loss", "epochs", "seed"; other keys are ignored),
// RUNDIR/metrics.jsonl and RUNDIR/test.json (required: "test_mAP", "best_val_mAP", "best_epoch",
// "seconds_total"). metrics.jsonl and test.json may be missing (a run that has not finished an epoch, or the
// run). Throws spml::Error naming the file, and for metrics.jsonl the 1-based line, when config.json is missing
// or a file is not valid JSON or lacks a key or has one of the wrong type. Blank lines in metrics.jsonl are
// skipped.
RunSummary load_run_summary(const std::string& dir);

// The parse step of load_run_summary, from the files' texts (an empty optional: the file does not exist; run_json
// is read only when test_json is absent). Messages name dir + "/config.json" and so on, as load_run_summary does.
struct RunFolderTexts {
  std::string config_json;
  std::optional<std::string> metrics_jsonl, test_json, run_json;
};
RunSummary run_summary_from_texts(const std::string& dir, const RunFolderTexts& texts);

// metrics.jsonl's text: one JSON object per non-blank line; `source` (the file) and the 1-based line in messages.
std::vector<EpochMetrics> parse_metrics_jsonl(const std::string& text, const std::string& source);

// Markdown table, one row per run in the given order:
//   | run | loss | data set | arch | epochs | best val mAP | test mAP | time |
// epochs as done/planned, mAP with 2 decimals, time as "38s", "4m 12s" or "1h 2m 5s", and "-" where unknown.
// '|' in names is escaped.
std::string runs_markdown_table(const std::vector<RunSummary>& runs);

// The finished runs grouped by (data set, arch, loss), one row per group:
//   | loss | data set | arch | n | test mAP (mean ± std) |
// with the sample standard deviation (n - 1) over the group's runs (seeds), only the mean when n = 1; rows by
// mean test mAP descending (ties keep first-seen order). Runs without a test mAP are left out.
std::string runs_by_loss_markdown_table(const std::vector<RunSummary>& runs);

// With runs of more than one implementation, the runs table gains an "implementation" column and the by-loss table
// groups by (implementation, data set, arch, loss).
bool has_several_implementations(const std::vector<RunSummary>& runs);

// The paired difference loss_a - loss_b of test mAP: per (implementation, data set, arch), the seeds where both
// losses finished, one row per group:
//   | implementation | data set | arch | n | <a> - <b> per seed | mean ± std |
// per seed as "+2.61 (s0)", the sample std (n - 1), only the mean when n = 1. "" when no seed has both.
std::string paired_difference_markdown_table(const std::vector<RunSummary>& runs, const std::string& loss_a,
                                             const std::string& loss_b);

// Implementations compared: for each (data set, arch, loss) with finished "spml" runs and runs of another
// implementation, one row per other implementation:
//   | loss | data set | arch | spml (n) | <other> (n) | difference | |difference| / SE |
// mean ± std per side, the difference of means spml - other with its standard error
// SE = sqrt(s_a^2 / n_a + s_b^2 / n_b) ("-" when a side has fewer than 2 runs). "" when nothing compares.
std::string implementation_difference_markdown_table(const std::vector<RunSummary>& runs);

// The report tables' cell formats, shared with spml-sweep's report (training/sweep.h): a number with 2 decimals,
// a duration as "38s", "4m 12s" or "1h 2m 5s", and text with '|' escaped and line breaks as spaces; each "-" for a
// non-finite number or empty text.
std::string two_decimals(double value);
std::string duration_text(double seconds);
std::string markdown_cell(const std::string& text);

// "val mAP per epoch": one series per run (label: the run name, x: epoch, y: val mAP), in the given order; a run
// without finished epochs is an empty series (in the legend, no line).
PlotPanel val_map_panel(const std::vector<RunSummary>& runs);

}  // namespace spml::training
