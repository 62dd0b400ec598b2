// spml-sweep's logic (docs/sweep.md): a hyper-parameter grid over spml-train runs with Cole et al.'s selection
// protocol. Every cell of the grid is one training run in SWEEPDIR/<cell name>, trained one after another in
// process with run_training; a finished cell (test.json) is reused, a started one (config.json) resumed, a failing
// one recorded with its message while the sweep goes on. The chosen cell is the finished one with the best
// best_val_mAP (ties: the first in grid order); its test mAP (test.json's, at its best val epoch) is the sweep's
// result. SWEEPDIR/sweep.json, report.md and report.svg are rewritten atomically after every cell.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "training/train_config.h"
#include "training/trainer.h"

namespace spml::training {

// One --grid KEY=V1,V2,... argument.
struct GridAxis {
  std::string argument;             // as given, for error messages
  std::string key;                  // the TrainConfig JSON key (lr, batch_size, beta, ...)
  std::vector<std::string> values;  // each value's JSON text: 0.001, 16, "an", [0,2,-2,-2]
  std::vector<std::string> labels;  // as shown in tables and names: 0.001, 16, an, 0 2 -2 -2
};

// Parses "KEY=V1,V2,...". Values are JSON scalars: numbers (1e-3 reads as 0.001), true/false, else strings (a
// string key takes the text as written). A vector key (beta, alpha, q2q3) separates its values by ';' and the
// components of one value by spaces or commas ("beta=0 2 -2 -2;0 10 -2 -8"), each value with the key's number of
// components. Each value is type-checked by train_config_from_json on {KEY: value}. Throws spml::Error naming the
// argument for: no '=', an unknown key, an empty or repeated value, a value of the wrong type, and the keys a
// sweep cannot vary (out: the cells' folders; threads, device, cpu_kernels: set once for the process).
GridAxis parse_grid_argument(const std::string& argument);

// The part of a cell name a text becomes: every character outside [A-Za-z0-9._=-] replaced by '_'.
std::string filesystem_safe(const std::string& text);

struct GridCell {
  std::string name;                // "lr=0.001_batch_size=16": KEY=label per axis, joined by '_', filesystem-safe
  std::vector<std::size_t> index;  // the value's index per axis
  std::string values_json;         // {"lr": 0.001, "batch_size": 16}
};

// The cells in grid order: the first axis varies slowest. Throws spml::Error for no axis, a key given twice, or
// two cells whose names coincide once made filesystem-safe (e.g. strings "a b" and "a_b").
std::vector<GridCell> expand_grid(const std::vector<GridAxis>& grid);

struct SweepOptions {
  // The spml-train flags as resolve_train_config takes them: their values (only those named in `given` count),
  // the JSON keys given, and --config ("" = none).
  TrainConfig flags;
  std::vector<std::string> given;
  std::string config_file;
  std::vector<GridAxis> grid;
  std::string out;           // SWEEPDIR
  std::string device;        // "" = each cell's own; else replaces it (the app's resolved --device, e.g. cuda:0)
  std::string command_line;  // recorded in report.md, sweep.json and each cell's run.json
  // stop_requested (polled after every step and between cells), log (default stderr; each cell's lines carry its
  // name) and progress_on_tty are passed on to every cell's run_training.
  TrainCallbacks callbacks;
};

// A cell's configuration: resolve_train_config over the flags with the cell's values laid over them as if they were
// given on the command line, so that defaults that follow the data set, loss and mode follow the cell's; out =
// SWEEPDIR/<cell name>; device = options.device when set.
TrainConfig cell_train_config(const SweepOptions& options, const GridCell& cell);

enum class CellStatus { pending, finished, failed, interrupted };
const char* cell_status_name(CellStatus status);  // "pending", "finished", "failed", "interrupted"

struct CellResult {
  GridCell cell;
  std::string dir;  // SWEEPDIR/<cell name>
  CellStatus status = CellStatus::pending;
  std::string error;     // failed: the exception's message
  bool reused = false;   // finished before this sweep started (test.json present): not retrained
  bool resumed = false;  // continued from the folder's config.json / last.ckpt
  // From test.json when finished; before that (interrupted, failed after some epochs) the best epoch so far from
  // metrics.jsonl and no test mAP. NaN / 0 where nothing is known.
  double best_val_map = std::numeric_limits<double>::quiet_NaN();
  double test_map = std::numeric_limits<double>::quiet_NaN();
  int best_epoch = 0;
  int epochs_run = 0;
  double seconds = std::numeric_limits<double>::quiet_NaN();  // training time summed over the epochs (test.json's)
  double wall_seconds = 0;                                    // time this sweep spent on the cell (0 when reused)
};

struct SweepResult {
  std::vector<CellResult> cells;  // grid order
  int chosen = -1;                // index into cells; -1: no cell finished
  bool interrupted = false;       // stopped by stop_requested (the cells after it are pending)
  int finished() const;
  int failed() const;
};

// The selection rule: the index of the finished cell with the highest finite best_val_map, the first in grid order
// among equal ones; -1 when none.
int choose_cell(const std::vector<CellResult>& cells);

// The outputs, from the options and the cells so far.
std::string sweep_json(const SweepOptions& options, const SweepResult& result);
// Markdown: the grid as a table (2 axes: rows = the first key, columns = the second, "val mAP (test mAP)" per cell,
// "failed: <error>" for failed cells; otherwise one row per cell), the chosen cell in bold and named below with its
// test mAP, a table of every cell's details, and the command line.
std::string sweep_report_markdown(const SweepOptions& options, const SweepResult& result);
// SVG: a heat map of best val mAP (2 axes) or a bar per cell (1 or 3+), the chosen cell outlined.
std::string sweep_report_svg(const SweepOptions& options, const SweepResult& result);
// Writes SWEEPDIR/sweep.json, report.md and report.svg, each atomically.
void write_sweep_outputs(const SweepOptions& options, const SweepResult& result);
// The line spml-sweep prints at the end: {"sweep", "cells", "finished", "failed", "chosen", "best_val_mAP",
// "test_mAP"} (null for chosen and the mAPs when no cell finished; "interrupted": true when stopped).
std::string sweep_summary_line(const SweepOptions& options, const SweepResult& result);

// Runs the sweep: takes SWEEPDIR's lock (SWEEPDIR/.lock: one sweep per folder), then each cell in grid order:
// test.json present -> reused (its config.json must match the cell's configuration but for threads, workers,
// device, cpu_kernels, on_bad_image and on_nonfinite); config.json present -> resumed (resume_config's rules);
// else a fresh run. An exception fails the cell (its message kept) and the sweep continues; stop_requested ends
// the sweep after the current step (the cell interrupted, resumable). The outputs are written before the first cell
// and after every cell. Throws spml::Error only for the grid, SWEEPDIR or a failed write of the outputs.
SweepResult run_sweep(const SweepOptions& options);

}  // namespace spml::training
