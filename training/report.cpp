// Run reports: run folder reading (with messages that name the file and line) and the Markdown tables.
#include "training/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/io/file.h"
#include "kernels/common/error.h"

namespace spml::training {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

json parse_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    SPML_FAIL(where, ": not valid JSON (", e.what(), ")");
  }
}

json parse_json_object_file(const std::string& path) {
  const json doc = parse_json(io::read_text_file(path), path);
  SPML_CHECK(doc.is_object(), path, ": expected a JSON object, got ", doc.type_name());
  return doc;
}

const json& required(const json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  SPML_CHECK(it != object.end(), where, ": missing key \"", key, "\"");
  return *it;
}

std::string string_value(const json& object, const char* key, const std::string& where) {
  const json& v = required(object, key, where);
  SPML_CHECK(v.is_string(), where, ": \"", key, "\" must be a string, got ", v.dump());
  return v.get<std::string>();
}

int64_t integer_value(const json& object, const char* key, const std::string& where) {
  const json& v = required(object, key, where);
  SPML_CHECK(v.is_number_integer(), where, ": \"", key, "\" must be an integer, got ", v.dump());
  return v.get<int64_t>();
}

// JSON has no NaN: writers put null in its place, so null reads back as NaN.
double number_value(const json& object, const char* key, const std::string& where) {
  const json& v = required(object, key, where);
  if (v.is_null()) return kNaN;
  SPML_CHECK(v.is_number(), where, ": \"", key, "\" must be a number, got ", v.dump());
  return v.get<double>();
}

std::string folder_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "runs/a/" names "a"
  const std::string name = p.filename().string();
  if (!name.empty() && name != "." && name != "..") return name;
  std::error_code ignored;
  const fs::path absolute = fs::absolute(p, ignored).lexically_normal();
  return absolute.has_parent_path() && absolute.filename().empty() ? absolute.parent_path().filename().string()
                                                                   : absolute.filename().string();
}

std::vector<EpochMetrics> read_metrics(const std::string& path) {
  std::vector<EpochMetrics> epochs;
  if (!fs::exists(path)) return epochs;
  std::istringstream lines(io::read_text_file(path));
  std::string line;
  for (int line_number = 1; std::getline(lines, line); ++line_number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    const json record = parse_json(line, where);
    SPML_CHECK(record.is_object(), where, ": expected a JSON object, got ", record.type_name());
    EpochMetrics m;
    m.epoch = int(integer_value(record, "epoch", where));
    m.train_loss = number_value(record, "train_loss", where);
    m.val_map = number_value(record, "val_mAP", where);
    m.seconds = number_value(record, "seconds", where);
    m.images_per_s = number_value(record, "images_per_s", where);
    epochs.push_back(m);
  }
  return epochs;
}

std::string cell_text(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out.empty() ? "-" : out;
}

std::string two_decimals(double value) {
  if (!std::isfinite(value)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return buffer;
}

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const long long total = std::llround(seconds);
  const long long h = total / 3600, m = total % 3600 / 60, s = total % 60;
  if (h > 0) return std::to_string(h) + "h " + std::to_string(m) + "m " + std::to_string(s) + "s";
  if (m > 0) return std::to_string(m) + "m " + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

std::string markdown_row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& c : cells) row += " " + c + " |";
  return row + "\n";
}

}  // namespace

RunSummary load_run_summary(const std::string& dir) {
  RunSummary run;
  run.dir = dir;
  run.name = folder_name(dir);
  const fs::path root(dir);

  const std::string config_path = (root / "config.json").string();
  const json config = parse_json_object_file(config_path);
  run.dataset = string_value(config, "dataset", config_path);
  run.arch = string_value(config, "arch", config_path);
  run.loss = string_value(config, "loss", config_path);
  run.epochs = int(integer_value(config, "epochs", config_path));
  run.seed = integer_value(config, "seed", config_path);

  run.epochs_done = read_metrics((root / "metrics.jsonl").string());

  const std::string test_path = (root / "test.json").string();
  run.finished = fs::exists(test_path);
  if (run.finished) {
    const json test = parse_json_object_file(test_path);
    run.test_map = number_value(test, "test_mAP", test_path);
    run.best_val_map = number_value(test, "best_val_mAP", test_path);
    run.best_epoch = int(integer_value(test, "best_epoch", test_path));
    run.seconds_total = number_value(test, "seconds_total", test_path);
  } else if (!run.epochs_done.empty()) {
    run.seconds_total = 0;
    for (const EpochMetrics& m : run.epochs_done) {
      run.seconds_total += m.seconds;
      // `!(<=)` so that the first finite value replaces the NaN start.
      if (std::isfinite(m.val_map) && !(m.val_map <= run.best_val_map)) {
        run.best_val_map = m.val_map;
        run.best_epoch = m.epoch;
      }
    }
  }
  return run;
}

std::string runs_markdown_table(const std::vector<RunSummary>& runs) {
  std::string table = markdown_row({"run", "loss", "data set", "arch", "epochs", "best val mAP", "test mAP", "time"});
  table += "|---|---|---|---|---:|---:|---:|---:|\n";
  for (const RunSummary& r : runs) {
    table += markdown_row({cell_text(r.name), cell_text(r.loss), cell_text(r.dataset), cell_text(r.arch),
                           std::to_string(r.epochs_done.size()) + "/" + std::to_string(r.epochs),
                           two_decimals(r.best_val_map), two_decimals(r.test_map), duration(r.seconds_total)});
  }
  return table;
}

std::string runs_by_loss_markdown_table(const std::vector<RunSummary>& runs) {
  struct Group {
    std::string loss, dataset, arch;
    std::vector<double> test_maps;
    double mean = 0, std = kNaN;
  };
  std::vector<Group> groups;
  for (const RunSummary& r : runs) {
    if (!std::isfinite(r.test_map)) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.loss == r.loss && g.dataset == r.dataset && g.arch == r.arch;
    });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{r.loss, r.dataset, r.arch, {}, 0, kNaN});
    it->test_maps.push_back(r.test_map);
  }
  for (Group& g : groups) {
    const double n = double(g.test_maps.size());
    for (const double v : g.test_maps) g.mean += v;
    g.mean /= n;
    if (g.test_maps.size() >= 2) {
      double squares = 0;
      for (const double v : g.test_maps) squares += (v - g.mean) * (v - g.mean);
      g.std = std::sqrt(squares / (n - 1));
    }
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.mean > b.mean; });

  std::string table = markdown_row({"loss", "data set", "arch", "n", "test mAP (mean ± std)"});
  table += "|---|---|---|---:|---:|\n";
  for (const Group& g : groups) {
    const std::string map = two_decimals(g.mean) + (std::isfinite(g.std) ? " ± " + two_decimals(g.std) : "");
    table += markdown_row(
        {cell_text(g.loss), cell_text(g.dataset), cell_text(g.arch), std::to_string(g.test_maps.size()), map});
  }
  return table;
}

PlotPanel val_map_panel(const std::vector<RunSummary>& runs) {
  PlotPanel panel{"val mAP per epoch", "epoch", "val mAP (%)", {}};
  for (const RunSummary& r : runs) {
    PlotSeries series{r.name, {}, {}};
    for (const EpochMetrics& m : r.epochs_done) {
      series.x.push_back(m.epoch);
      series.y.push_back(m.val_map);
    }
    panel.series.push_back(std::move(series));
  }
  return panel;
}

}  // namespace spml::training
