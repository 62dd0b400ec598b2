// spml-sweep's logic (see sweep.h): grid parsing and naming, the cells' configurations, running them with reuse,
// resume and failure capture, the selection, and sweep.json / report.md / report.svg.
#include "training/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "framework/io/file.h"
#include "kernels/common/error.h"
#include "training/plot.h"
#include "training/report.h"
#include "training/run_folder.h"

namespace spml::training {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Keys a sweep cannot vary: the cells' folders, and the process-wide settings the app applies once.
const std::set<std::string> kFixedKeys = {"out", "threads", "device", "cpu_kernels"};
// Keys a cell's folder may differ in from the sweep's settings and still be reused or resumed (resume_config's).
const std::set<std::string> kRuntimeKeys = {"threads",      "workers",      "device", "cpu_kernels",
                                            "on_bad_image", "on_nonfinite", "out",    "checkpoint_minutes"};

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

const json& default_config_json() {
  static const json defaults = json::parse(train_config_to_json(TrainConfig{}));
  return defaults;
}

// A number as JSON reads it, else as strtod does when the text is only digits, signs, '.', 'e' ("+1", ".5");
// nothing otherwise.
std::optional<json> parse_number(const std::string& text) {
  json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_number()) return v;
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(d)) return std::nullopt;
  return json(d);
}

// How a value is shown: strings as they are, numbers and booleans as JSON writes them, vectors' components spaced.
std::string value_label(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string label;
    for (const json& e : v) label += (label.empty() ? "" : " ") + e.dump();
    return label;
  }
  return v.dump();
}

std::string markdown_row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& c : cells) row += " " + c + " |";
  return row + "\n";
}

std::string bold(const std::string& text, bool on) {
  return on ? "**" + text + "**" : text;
}

// "val mAP (test mAP)" of a finished cell; what happened to the others.
std::string cell_outcome_text(const CellResult& c, bool with_error) {
  switch (c.status) {
    case CellStatus::finished:
      return two_decimals(c.best_val_map) + " (" + two_decimals(c.test_map) + ")";
    case CellStatus::failed:
      return with_error ? "failed: " + c.error : "failed";
    case CellStatus::interrupted:
      return std::isfinite(c.best_val_map) ? "interrupted (val " + two_decimals(c.best_val_map) + " so far)"
                                           : "interrupted";
    case CellStatus::pending:
      break;
  }
  return "pending";
}

std::string status_text(const CellResult& c) {
  switch (c.status) {
    case CellStatus::finished:
      return c.reused ? "finished (reused)" : c.resumed ? "finished (resumed)" : "finished";
    case CellStatus::failed:
      return "failed: " + c.error;
    case CellStatus::interrupted:
      return "interrupted (resumable)";
    case CellStatus::pending:
      break;
  }
  return "pending";
}

template <class Json = json>
Json number_or_null(double value) {
  return std::isfinite(value) ? Json(value) : Json(nullptr);
}

std::string grid_summary(const std::vector<GridAxis>& grid) {
  std::string text;
  for (const GridAxis& axis : grid) {
    std::string values;
    for (const std::string& label : axis.labels) values += (values.empty() ? "" : ", ") + label;
    text += (text.empty() ? "" : " \xC3\x97 ") + ("`" + axis.key + "` = " + values);
  }
  return text;
}

// What the run folder says so far about a cell that did not finish (best epoch so far, epochs, seconds); nothing
// when it holds no readable run.
void read_partial(CellResult& c) {
  if (!fs::exists(fs::path(c.dir) / "config.json")) return;
  try {
    const RunSummary s = load_run_summary(c.dir);
    c.best_val_map = s.best_val_map;
    c.best_epoch = s.best_epoch;
    c.epochs_run = int(s.epochs_done.size());
    c.seconds = s.seconds_total;
  } catch (const std::exception&) {
    // The cell's own error (or its interruption) is what the report shows.
  }
}

std::vector<std::string> all_config_keys() {
  std::vector<std::string> keys;
  for (const auto& item : default_config_json().items()) keys.push_back(item.key());
  return keys;
}

// A finished folder is reused only when it ran the cell's settings (but for the runtime ones).
void check_reusable(const std::string& dir, const TrainConfig& config) {
  const std::string path = (fs::path(dir) / "config.json").string();
  SPML_CHECK(fs::exists(path), dir, " holds test.json but no config.json: not a run folder spml-sweep can reuse");
  const TrainConfig stored = train_config_from_json(io::read_text_file(path), path, TrainConfig{});
  std::string differing;
  for (const std::string& key : train_config_differences(stored, config))
    if (!kRuntimeKeys.count(key)) differing += (differing.empty() ? "--" : ", --") + key;
  SPML_CHECK(differing.empty(), path, " (a finished cell) differs from this sweep's settings in ", differing,
             "; a finished cell is reused only with the same settings: use another --out, or remove ", dir,
             " to train it again");
}

void run_cell(const SweepOptions& options, std::size_t index, std::size_t count, CellResult& c,
              const std::function<void(const std::string&)>& log) {
  const auto start = Clock::now();
  const std::string tag = "cell " + std::to_string(index + 1) + "/" + std::to_string(count) + " " + c.cell.name;
  try {
    TrainConfig config = cell_train_config(options, c.cell);
    const fs::path dir(c.dir);
    if (fs::exists(dir / "test.json")) {
      check_reusable(c.dir, config);
      const RunSummary s = load_run_summary(c.dir);
      c.status = CellStatus::finished;
      c.reused = true;
      c.best_val_map = s.best_val_map;
      c.test_map = s.test_map;
      c.best_epoch = s.best_epoch;
      c.epochs_run = int(s.epochs_done.size());
      c.seconds = s.seconds_total;
      log("spml-sweep: " + tag + ": reused (" + (dir / "test.json").string() + " present): best val mAP " +
          two_decimals(c.best_val_map) + ", test mAP " + two_decimals(c.test_map));
      return;
    }
    const bool resume = fs::exists(dir / "config.json");
    if (resume) {
      config = resume_config(c.dir, config, all_config_keys());
      config.out = c.dir;
      c.resumed = true;
    }
    log("spml-sweep: " + tag + ": " + (resume ? "resuming " : "fresh run into ") + c.dir);
    TrainCallbacks callbacks = options.callbacks;
    const std::string prefix = "[" + c.cell.name + "] ";
    callbacks.log = [&log, prefix](const std::string& line) { log(prefix + line); };
    callbacks.command_line = options.command_line + " (cell " + c.cell.name + ")";
    const TrainOutcome outcome = run_training(config, resume, callbacks);
    if (outcome.interrupted) {
      c.status = CellStatus::interrupted;
      read_partial(c);
      log("spml-sweep: " + tag + ": interrupted (resumable: run the same spml-sweep command again)");
    } else {
      c.status = CellStatus::finished;
      c.best_val_map = outcome.best_val_map;
      c.test_map = outcome.test_map;
      c.best_epoch = outcome.best_epoch;
      c.epochs_run = outcome.epochs_run;
      c.seconds = 0;
      for (const EpochRecord& r : outcome.history) c.seconds += r.seconds;
      log("spml-sweep: " + tag + ": finished: best val mAP " + two_decimals(c.best_val_map) + " at epoch " +
          std::to_string(c.best_epoch) + ", test mAP " + two_decimals(c.test_map));
    }
  } catch (const std::exception& e) {
    c.status = CellStatus::failed;
    c.error = e.what();
    read_partial(c);
    log("spml-sweep: " + tag + ": FAILED: " + c.error);
  }
  c.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

GridAxis parse_grid_argument(const std::string& argument) {
  const std::string where = "--grid " + argument;
  const std::size_t eq = argument.find('=');
  SPML_CHECK(eq != std::string::npos, where, ": expected KEY=V1,V2,... (e.g. --grid lr=1e-4,3e-4)");
  GridAxis axis;
  axis.argument = argument;
  axis.key = trimmed(argument.substr(0, eq));
  SPML_CHECK(!axis.key.empty(), where, ": no key before '=' (expected KEY=V1,V2,...)");
  if (kFixedKeys.count(axis.key)) {
    std::string flag = axis.key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    SPML_FAIL(where, ": ", axis.key,
              axis.key == "out" ? " cannot be swept (each cell's folder is SWEEPDIR/<cell name>)"
                                : " is set once for the whole sweep (give --" + flag + " instead)");
  }
  const json& defaults = default_config_json();
  const auto known = defaults.find(axis.key);
  // An unknown key: train_config_from_json's message, naming the argument.
  if (known == defaults.end()) {
    train_config_from_json(json{{axis.key, 0}}.dump(), where, TrainConfig{});
    SPML_FAIL(where, ": unknown key \"", axis.key, "\"");
  }
  const bool vector_key = known->is_array(), string_key = known->is_string();
  const std::string list = argument.substr(eq + 1);
  const std::vector<std::string> texts = split(list, vector_key ? ';' : ',');
  std::set<std::string> seen;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string text = trimmed(texts[i]);
    SPML_CHECK(!text.empty(), where, ": value ", i + 1, " is empty",
               vector_key ? " (a vector key's values are separated by ';', their components by spaces)" : "");
    json value;
    if (vector_key) {
      value = json::array();
      std::string components = text;
      std::replace(components.begin(), components.end(), ',', ' ');
      std::size_t pos = 0;
      while ((pos = components.find_first_not_of(" \t", pos)) != std::string::npos) {
        const std::size_t end = components.find_first_of(" \t", pos);
        const std::string component = components.substr(pos, end == std::string::npos ? end : end - pos);
        const std::optional<json> number = parse_number(component);
        SPML_CHECK(number.has_value(), where, ": value '", text, "': component '", component, "' is not a number");
        value.push_back(*number);
        pos = end;
      }
      SPML_CHECK(value.size() == known->size(), where, ": value '", text, "' has ", value.size(), " components but ",
                 axis.key, " takes ", known->size(),
                 " (separate the values by ';' and the components by spaces, e.g. beta=0 2 -2 -2;0 10 -2 -8)");
    } else if (string_key) {
      value = text.front() == '"' ? json::parse(text, nullptr, /*allow_exceptions=*/false) : json(text);
      if (value.is_discarded()) value = json(text);
    } else {
      const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_boolean() || parsed.is_string() || parsed.is_null())
        value = parsed;
      else if (const std::optional<json> number = parse_number(text))
        value = *number;
      else
        value = json(text);  // the type check below names it
    }
    // The type check (and range of integers) of config.json's reader.
    train_config_from_json(json{{axis.key, value}}.dump(), where, TrainConfig{});
    SPML_CHECK(seen.insert(value.dump()).second, where, ": value '", text, "' is given twice");
    axis.values.push_back(value.dump());
    axis.labels.push_back(value_label(value));
  }
  return axis;
}

std::string filesystem_safe(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '=' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

std::vector<GridCell> expand_grid(const std::vector<GridAxis>& grid) {
  SPML_CHECK(!grid.empty(), "spml-sweep: no --grid KEY=V1,V2,... given: nothing to sweep");
  std::set<std::string> keys;
  for (const GridAxis& axis : grid) {
    SPML_CHECK(!axis.values.empty() && axis.values.size() == axis.labels.size(), "--grid ", axis.argument,
               ": no values");
    SPML_CHECK(keys.insert(axis.key).second, "--grid ", axis.argument, ": the key ", axis.key,
               " is already swept by another --grid (give all its values in one)");
  }
  std::vector<GridCell> cells;
  std::vector<std::size_t> index(grid.size(), 0);
  std::set<std::string> names;
  for (;;) {
    GridCell cell;
    cell.index = index;
    json values = json::object();
    std::string name;
    for (std::size_t a = 0; a < grid.size(); ++a) {
      name += (a ? "_" : "") + grid[a].key + "=" + grid[a].labels[index[a]];
      values[grid[a].key] = json::parse(grid[a].values[index[a]]);
    }
    cell.name = filesystem_safe(name);
    cell.values_json = values.dump();
    SPML_CHECK(names.insert(cell.name).second, "--grid: two cells are both named ", cell.name,
               " once made filesystem-safe (characters outside [A-Za-z0-9._=-] become '_'): give values that "
               "differ in letters, digits, '.', '_', '=' or '-'");
    cells.push_back(std::move(cell));
    // The last axis varies fastest.
    std::size_t a = grid.size();
    while (a > 0) {
      --a;
      if (++index[a] < grid[a].values.size()) break;
      index[a] = 0;
      if (a == 0) return cells;
    }
  }
}

TrainConfig cell_train_config(const SweepOptions& options, const GridCell& cell) {
  // The cell's values become flag values, given on the command line: resolve_train_config then picks the data set's,
  // loss's and mode's defaults from them, and they override --config like any flag.
  TrainConfig flags = train_config_from_json(cell.values_json, "the grid cell " + cell.name, options.flags);
  flags.out = (fs::path(options.out) / cell.name).string();
  std::vector<std::string> given = options.given;
  const auto add = [&](const std::string& key) {
    if (std::find(given.begin(), given.end(), key) == given.end()) given.push_back(key);
  };
  const json values = json::parse(cell.values_json);
  for (const auto& item : values.items()) add(item.key());
  add("out");
  TrainConfig config = resolve_train_config(flags, given, options.config_file);
  if (!options.device.empty()) config.device = options.device;
  return config;
}

const char* cell_status_name(CellStatus status) {
  switch (status) {
    case CellStatus::finished:
      return "finished";
    case CellStatus::failed:
      return "failed";
    case CellStatus::interrupted:
      return "interrupted";
    case CellStatus::pending:
      break;
  }
  return "pending";
}

int SweepResult::finished() const {
  return int(
      std::count_if(cells.begin(), cells.end(), [](const CellResult& c) { return c.status == CellStatus::finished; }));
}

int SweepResult::failed() const {
  return int(
      std::count_if(cells.begin(), cells.end(), [](const CellResult& c) { return c.status == CellStatus::failed; }));
}

int choose_cell(const std::vector<CellResult>& cells) {
  int chosen = -1;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const CellResult& c = cells[i];
    if (c.status != CellStatus::finished || !std::isfinite(c.best_val_map)) continue;
    if (chosen < 0 || c.best_val_map > cells[std::size_t(chosen)].best_val_map) chosen = int(i);
  }
  return chosen;
}

std::string sweep_json(const SweepOptions& options, const SweepResult& result) {
  using json = nlohmann::ordered_json;  // keys in the order written
  json grid = json::array();
  for (const GridAxis& axis : options.grid) {
    json values = json::array();
    for (const std::string& v : axis.values) values.push_back(json::parse(v));
    grid.push_back({{"key", axis.key}, {"values", values}});
  }
  json cells = json::array();
  for (const CellResult& c : result.cells)
    cells.push_back({{"name", c.cell.name},
                     {"dir", c.dir},
                     {"values", json::parse(c.cell.values_json)},
                     {"status", cell_status_name(c.status)},
                     {"error", c.status == CellStatus::failed ? json(c.error) : json(nullptr)},
                     {"reused", c.reused},
                     {"resumed", c.resumed},
                     {"best_val_mAP", number_or_null<json>(c.best_val_map)},
                     {"best_epoch", c.best_epoch},
                     {"test_mAP", number_or_null<json>(c.test_map)},
                     {"epochs_run", c.epochs_run},
                     {"seconds", number_or_null<json>(c.seconds)},
                     {"wall_seconds", c.wall_seconds}});
  json chosen = nullptr;
  if (result.chosen >= 0) {
    const CellResult& c = result.cells[std::size_t(result.chosen)];
    chosen = {{"name", c.cell.name},
              {"dir", c.dir},
              {"values", json::parse(c.cell.values_json)},
              {"best_val_mAP", number_or_null<json>(c.best_val_map)},
              {"best_epoch", c.best_epoch},
              {"test_mAP", number_or_null<json>(c.test_map)}};
  }
  const json doc = {
      {"sweep", options.out},
      {"command_line", options.command_line},
      {"grid", grid},
      {"selection",
       "the finished cell with the highest best_val_mAP (ties: the first in grid order); its test_mAP is test.json's, "
       "measured once with the weights of its best val epoch"},
      {"cells", cells},
      {"finished", result.finished()},
      {"failed", result.failed()},
      {"interrupted", result.interrupted},
      {"chosen", chosen}};
  return doc.dump(2) + "\n";
}

std::string sweep_report_markdown(const SweepOptions& options, const SweepResult& result) {
  const std::size_t n = result.cells.size();
  const int pending = int(std::count_if(result.cells.begin(), result.cells.end(),
                                        [](const CellResult& c) { return c.status == CellStatus::pending; }));
  std::string text = "# spml-sweep: " + options.out + "\n\n";
  text += "Grid: " + grid_summary(options.grid) + ": " + std::to_string(n) + " cells, " +
          std::to_string(result.finished()) + " finished, " + std::to_string(result.failed()) + " failed" +
          (result.interrupted ? ", interrupted" : "") +
          (pending > 0 ? ", " + std::to_string(pending) + " pending" : "") + ".\n\n";
  text +=
      "Selection (Cole et al.): the finished cell with the best val mAP (ties: the first in grid order); its test mAP "
      "is measured once, with the weights of its best val epoch. mAP in percent.\n\n";

  if (options.grid.size() == 2) {
    const GridAxis &rows = options.grid[0], &columns = options.grid[1];
    text += "Each cell: best val mAP (test mAP at that epoch).\n\n";
    std::vector<std::string> header = {markdown_cell(rows.key) + " \xE2\x86\x93 " + markdown_cell(columns.key) +
                                       " \xE2\x86\x92"};
    for (const std::string& label : columns.labels) header.push_back(markdown_cell(label));
    text += markdown_row(header) + "|---|";
    for (std::size_t c = 0; c < columns.labels.size(); ++c) text += "---:|";
    text += "\n";
    for (std::size_t r = 0; r < rows.labels.size(); ++r) {
      std::vector<std::string> row = {markdown_cell(rows.labels[r])};
      for (std::size_t c = 0; c < columns.labels.size(); ++c) {
        const std::size_t i = r * columns.labels.size() + c;
        row.push_back(
            bold(markdown_cell(cell_outcome_text(result.cells[i], /*with_error=*/true)), int(i) == result.chosen));
      }
      text += markdown_row(row);
    }
    text += "\n";
  }

  // Every cell, one row each (for 1 or 3+ keys the grid's table; for 2 the details).
  if (options.grid.size() == 2) text += "## Cells\n\n";
  std::vector<std::string> header = {"cell"};
  for (const GridAxis& axis : options.grid) header.push_back(markdown_cell(axis.key));
  for (const char* h : {"status", "best val mAP", "best epoch", "test mAP", "epochs", "time"}) header.push_back(h);
  text += markdown_row(header) + "|---|";
  for (std::size_t a = 0; a < options.grid.size(); ++a) text += "---|";
  text += "---|---:|---:|---:|---:|---:|\n";
  for (std::size_t i = 0; i < n; ++i) {
    const CellResult& c = result.cells[i];
    const bool chosen = int(i) == result.chosen;
    std::vector<std::string> row = {bold(markdown_cell(c.cell.name), chosen)};
    for (std::size_t a = 0; a < options.grid.size(); ++a)
      row.push_back(markdown_cell(options.grid[a].labels[c.cell.index[a]]));
    row.push_back(markdown_cell(status_text(c)));
    row.push_back(bold(two_decimals(c.best_val_map), chosen));
    row.push_back(c.best_epoch > 0 ? std::to_string(c.best_epoch) : "-");
    row.push_back(bold(two_decimals(c.test_map), chosen));
    row.push_back(c.status == CellStatus::pending ? "-" : std::to_string(c.epochs_run));
    row.push_back(duration_text(c.seconds));
    text += markdown_row(row);
  }
  text += "\n";

  if (result.chosen >= 0) {
    const CellResult& c = result.cells[std::size_t(result.chosen)];
    text += "**Chosen: " + markdown_cell(c.cell.name) + "**: best val mAP " + two_decimals(c.best_val_map) +
            " at epoch " + std::to_string(c.best_epoch) + "; **test mAP " + two_decimals(c.test_map) +
            "** at its best val epoch (" + markdown_cell(c.dir) + "/test.json).\n\n";
  } else {
    text += "**Chosen: none** (no cell has finished).\n\n";
  }
  text += "Command: `" + options.command_line + "`\n";
  return text;
}

std::string sweep_report_svg(const SweepOptions& options, const SweepResult& result) {
  const auto svg_text = [](const CellResult& c) {
    return c.status == CellStatus::finished ? cell_outcome_text(c, false) : std::string(cell_status_name(c.status));
  };
  const auto value = [](const CellResult& c) { return c.status == CellStatus::finished ? c.best_val_map : kNaN; };
  std::string note = "chosen (outlined): none, no cell has finished";
  if (result.chosen >= 0) {
    const CellResult& c = result.cells[std::size_t(result.chosen)];
    note = "chosen (outlined): " + c.cell.name + ", best val mAP " + two_decimals(c.best_val_map) + " at epoch " +
           std::to_string(c.best_epoch) + ", test mAP " + two_decimals(c.test_map);
  }
  if (options.grid.size() == 2) {
    const GridAxis &rows = options.grid[0], &columns = options.grid[1];
    HeatMap map;
    map.title = "spml-sweep: best val mAP (test mAP) per cell";
    map.row_label = rows.key;
    map.column_label = columns.key;
    map.value_label = "best val mAP (%)";
    map.row_names = rows.labels;
    map.column_names = columns.labels;
    map.values.assign(rows.labels.size(), std::vector<double>(columns.labels.size(), kNaN));
    map.texts.assign(rows.labels.size(), std::vector<std::string>(columns.labels.size()));
    for (std::size_t i = 0; i < result.cells.size(); ++i) {
      const CellResult& c = result.cells[i];
      map.values[c.cell.index[0]][c.cell.index[1]] = value(c);
      map.texts[c.cell.index[0]][c.cell.index[1]] = svg_text(c);
      if (int(i) == result.chosen) {
        map.outlined_row = int(c.cell.index[0]);
        map.outlined_column = int(c.cell.index[1]);
      }
    }
    map.note = note;
    return render_heat_map_svg(map);
  }
  BarChart chart;
  chart.title = "spml-sweep: best val mAP (test mAP) per cell";
  chart.y_label = "best val mAP (%)";
  for (const CellResult& c : result.cells) {
    chart.names.push_back(c.cell.name);
    chart.values.push_back(value(c));
    chart.texts.push_back(svg_text(c));
  }
  chart.outlined = result.chosen;
  chart.note = note;
  return render_bar_chart_svg(chart);
}

void write_sweep_outputs(const SweepOptions& options, const SweepResult& result) {
  const fs::path dir(options.out);
  io::write_file_atomic((dir / "sweep.json").string(), sweep_json(options, result));
  io::write_file_atomic((dir / "report.md").string(), sweep_report_markdown(options, result));
  io::write_file_atomic((dir / "report.svg").string(), sweep_report_svg(options, result));
}

std::string sweep_summary_line(const SweepOptions& options, const SweepResult& result) {
  using json = nlohmann::ordered_json;  // keys in the order written
  const CellResult* chosen = result.chosen >= 0 ? &result.cells[std::size_t(result.chosen)] : nullptr;
  json line = {{"sweep", options.out},
               {"cells", result.cells.size()},
               {"finished", result.finished()},
               {"failed", result.failed()},
               {"chosen", chosen ? json(chosen->cell.name) : json(nullptr)},
               {"best_val_mAP", chosen ? number_or_null<json>(chosen->best_val_map) : json(nullptr)},
               {"test_mAP", chosen ? number_or_null<json>(chosen->test_map) : json(nullptr)}};
  if (result.interrupted) line["interrupted"] = true;
  return line.dump();
}

SweepResult run_sweep(const SweepOptions& options) {
  SPML_CHECK(!options.out.empty(), "--out: the sweep folder SWEEPDIR is required");
  const std::vector<GridCell> cells = expand_grid(options.grid);
  std::error_code error;
  fs::create_directories(options.out, error);
  SPML_CHECK(!error && fs::is_directory(options.out), "--out ", options.out, ": cannot create the sweep folder (",
             error ? error.message() : "not a folder", ")");
  const FolderLock lock(options.out);
  const std::function<void(const std::string&)> log =
      options.callbacks.log ? options.callbacks.log
                            : [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };

  SweepResult result;
  for (const GridCell& cell : cells) {
    CellResult c;
    c.cell = cell;
    c.dir = (fs::path(options.out) / cell.name).string();
    result.cells.push_back(std::move(c));
  }
  log("spml-sweep: " + std::to_string(cells.size()) + " cells over " + grid_summary(options.grid) + " into " +
      options.out);
  write_sweep_outputs(options, result);
  const auto stop_requested = [&] { return options.callbacks.stop_requested && options.callbacks.stop_requested(); };
  for (std::size_t i = 0; i < result.cells.size(); ++i) {
    if (stop_requested()) {
      result.interrupted = true;
      log("spml-sweep: stopped before cell " + std::to_string(i + 1) + "/" + std::to_string(cells.size()));
      break;
    }
    CellResult& c = result.cells[i];
    run_cell(options, i, cells.size(), c, log);
    result.chosen = choose_cell(result.cells);
    if (c.status == CellStatus::interrupted) result.interrupted = true;
    write_sweep_outputs(options, result);
    if (result.interrupted) break;
  }
  write_sweep_outputs(options, result);
  if (result.chosen >= 0) {
    const CellResult& c = result.cells[std::size_t(result.chosen)];
    log("spml-sweep: chosen " + c.cell.name + ": best val mAP " + two_decimals(c.best_val_map) + " at epoch " +
        std::to_string(c.best_epoch) + ", test mAP " + two_decimals(c.test_map) + "; " +
        (fs::path(options.out) / "report.md").string() + " written");
  } else {
    log("spml-sweep: no cell finished; " + (fs::path(options.out) / "report.md").string() + " written");
  }
  return result;
}

}  // namespace spml::training
