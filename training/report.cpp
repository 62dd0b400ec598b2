// Run reports: run folder reading (with messages that name the file and line) and the Markdown tables.
#include "training/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

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

json parse_json_object(const std::string& text, const std::string& path) {
  const json doc = parse_json(text, path);
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

}  // namespace

std::vector<EpochMetrics> parse_metrics_jsonl(const std::string& text, const std::string& path) {
  std::vector<EpochMetrics> epochs;
  std::istringstream lines(text);
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

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') out += '\\';
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out.empty() ? "-" : out;
}

std::string two_decimals(double value) {
  if (!std::isfinite(value)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return buffer;
}

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const long long total = std::llround(seconds);
  const long long h = total / 3600, m = total % 3600 / 60, s = total % 60;
  if (h > 0) return std::to_string(h) + "h " + std::to_string(m) + "m " + std::to_string(s) + "s";
  if (m > 0) return std::to_string(m) + "m " + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

namespace {

std::string signed_two_decimals(double value) {
  return (std::isfinite(value) && value >= 0 ? "+" : "") + two_decimals(value);
}

// Mean and sample standard deviation (n - 1; NaN for fewer than 2 values).
std::pair<double, double> mean_and_std(const std::vector<double>& values) {
  double mean = 0;
  for (const double v : values) mean += v;
  mean /= double(values.size());
  double std = kNaN;
  if (values.size() >= 2) {
    double squares = 0;
    for (const double v : values) squares += (v - mean) * (v - mean);
    std = std::sqrt(squares / double(values.size() - 1));
  }
  return {mean, std};
}

std::string mean_std_text(double mean, double std, bool sign = false) {
  return (sign ? signed_two_decimals(mean) : two_decimals(mean)) +
         (std::isfinite(std) ? " ± " + two_decimals(std) : "");
}

// Finished runs' test mAPs grouped by (loss, data set, arch) and, when asked, the implementation; first-seen order.
struct Group {
  std::string loss, dataset, arch, implementation;
  std::vector<double> values;
  double mean = 0, std = kNaN;
};

std::vector<Group> group_test_maps(const std::vector<RunSummary>& runs, bool by_implementation) {
  std::vector<Group> groups;
  for (const RunSummary& r : runs) {
    if (!std::isfinite(r.test_map)) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.loss == r.loss && g.dataset == r.dataset && g.arch == r.arch &&
             (!by_implementation || g.implementation == r.implementation);
    });
    if (it == groups.end())
      it = groups.insert(groups.end(),
                         Group{r.loss, r.dataset, r.arch, by_implementation ? r.implementation : "", {}, 0, kNaN});
    it->values.push_back(r.test_map);
  }
  for (Group& g : groups) std::tie(g.mean, g.std) = mean_and_std(g.values);
  return groups;
}

std::string markdown_row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& c : cells) row += " " + c + " |";
  return row + "\n";
}

}  // namespace

RunSummary run_summary_from_texts(const std::string& dir, const RunFolderTexts& texts) {
  RunSummary run;
  run.dir = dir;
  run.name = folder_name(dir);
  const fs::path root(dir);

  const std::string config_path = (root / "config.json").string();
  const json config = parse_json_object(texts.config_json, config_path);
  run.dataset = string_value(config, "dataset", config_path);
  run.arch = string_value(config, "arch", config_path);
  run.loss = string_value(config, "loss", config_path);
  run.epochs = int(integer_value(config, "epochs", config_path));
  run.seed = integer_value(config, "seed", config_path);

  if (texts.metrics_jsonl)
    run.epochs_done = parse_metrics_jsonl(*texts.metrics_jsonl, (root / "metrics.jsonl").string());

  const std::string test_path = (root / "test.json").string();
  run.finished = texts.test_json.has_value();
  if (run.finished) {
    const json test = parse_json_object(*texts.test_json, test_path);
    run.test_map = number_value(test, "test_mAP", test_path);
    run.best_val_map = number_value(test, "best_val_mAP", test_path);
    run.best_epoch = int(integer_value(test, "best_epoch", test_path));
    run.seconds_total = number_value(test, "seconds_total", test_path);
    if (test.contains("implementation") && test["implementation"].is_string())
      run.implementation = test["implementation"].get<std::string>();
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
  if (!run.finished && texts.run_json) {
    const json record = parse_json_object(*texts.run_json, (root / "run.json").string());
    if (record.contains("implementation") && record["implementation"].is_string())
      run.implementation = record["implementation"].get<std::string>();
  }
  return run;
}

RunSummary load_run_summary(const std::string& dir) {
  const fs::path root(dir);
  auto optional_file = [&](const char* name) -> std::optional<std::string> {
    const std::string path = (root / name).string();
    if (!fs::exists(path)) return std::nullopt;
    return io::read_text_file(path);
  };
  RunFolderTexts texts;
  texts.config_json = io::read_text_file((root / "config.json").string());
  texts.metrics_jsonl = optional_file("metrics.jsonl");
  texts.test_json = optional_file("test.json");
  if (!texts.test_json) texts.run_json = optional_file("run.json");
  return run_summary_from_texts(dir, texts);
}

bool has_several_implementations(const std::vector<RunSummary>& runs) {
  for (const RunSummary& r : runs)
    if (r.implementation != runs.front().implementation) return true;
  return false;
}

std::string runs_markdown_table(const std::vector<RunSummary>& runs) {
  const bool several = has_several_implementations(runs);
  std::vector<std::string> header = {"run", "loss", "data set", "arch", "epochs", "best val mAP", "test mAP", "time"};
  if (several) header.insert(header.begin() + 1, "implementation");
  std::string table = markdown_row(header);
  table += several ? "|---|---|---|---|---|---:|---:|---:|---:|\n" : "|---|---|---|---|---:|---:|---:|---:|\n";
  for (const RunSummary& r : runs) {
    std::vector<std::string> cells = {markdown_cell(r.name),
                                      markdown_cell(r.loss),
                                      markdown_cell(r.dataset),
                                      markdown_cell(r.arch),
                                      std::to_string(r.epochs_done.size()) + "/" + std::to_string(r.epochs),
                                      two_decimals(r.best_val_map),
                                      two_decimals(r.test_map),
                                      duration_text(r.seconds_total)};
    if (several) cells.insert(cells.begin() + 1, markdown_cell(r.implementation));
    table += markdown_row(cells);
  }
  return table;
}

std::string runs_by_loss_markdown_table(const std::vector<RunSummary>& runs) {
  const bool several = has_several_implementations(runs);
  std::vector<Group> groups = group_test_maps(runs, several);
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.mean > b.mean; });

  std::vector<std::string> header = {"loss", "data set", "arch", "n", "test mAP (mean ± std)"};
  if (several) header.insert(header.begin() + 1, "implementation");
  std::string table = markdown_row(header);
  table += several ? "|---|---|---|---|---:|---:|\n" : "|---|---|---|---:|---:|\n";
  for (const Group& g : groups) {
    std::vector<std::string> cells = {markdown_cell(g.loss), markdown_cell(g.dataset), markdown_cell(g.arch),
                                      std::to_string(g.values.size()), mean_std_text(g.mean, g.std)};
    if (several) cells.insert(cells.begin() + 1, markdown_cell(g.implementation));
    table += markdown_row(cells);
  }
  return table;
}

std::string paired_difference_markdown_table(const std::vector<RunSummary>& runs, const std::string& loss_a,
                                             const std::string& loss_b) {
  struct Pairs {
    std::string implementation, dataset, arch;
    std::vector<std::pair<int64_t, double>> seed_differences;
  };
  std::vector<Pairs> groups;
  for (const RunSummary& a : runs) {
    if (a.loss != loss_a || !std::isfinite(a.test_map)) continue;
    for (const RunSummary& b : runs) {
      if (b.loss != loss_b || !std::isfinite(b.test_map) || b.seed != a.seed || b.dataset != a.dataset ||
          b.arch != a.arch || b.implementation != a.implementation)
        continue;
      auto it = std::find_if(groups.begin(), groups.end(), [&](const Pairs& g) {
        return g.implementation == a.implementation && g.dataset == a.dataset && g.arch == a.arch;
      });
      if (it == groups.end()) it = groups.insert(groups.end(), Pairs{a.implementation, a.dataset, a.arch, {}});
      it->seed_differences.push_back({a.seed, a.test_map - b.test_map});
      break;  // one pair per run of loss_a
    }
  }
  if (groups.empty()) return "";
  std::string table = markdown_row({"implementation", "data set", "arch", "n",
                                    markdown_cell(loss_a) + " - " + markdown_cell(loss_b) + " per seed", "mean ± std"});
  table += "|---|---|---|---:|---|---:|\n";
  for (Pairs& g : groups) {
    std::sort(g.seed_differences.begin(), g.seed_differences.end());
    std::vector<double> values;
    std::string per_seed;
    for (const auto& [seed, difference] : g.seed_differences) {
      values.push_back(difference);
      per_seed += (per_seed.empty() ? "" : ", ") + signed_two_decimals(difference) + " (s" + std::to_string(seed) + ")";
    }
    const auto [mean, std] = mean_and_std(values);
    table += markdown_row({markdown_cell(g.implementation), markdown_cell(g.dataset), markdown_cell(g.arch),
                           std::to_string(values.size()), per_seed, mean_std_text(mean, std, /*sign=*/true)});
  }
  return table;
}

std::string implementation_difference_markdown_table(const std::vector<RunSummary>& runs) {
  const std::vector<Group> groups = group_test_maps(runs, /*by_implementation=*/true);
  std::string rows;
  for (const Group& ours : groups) {
    if (ours.implementation != "spml") continue;
    for (const Group& other : groups) {
      if (other.implementation == "spml" || other.loss != ours.loss || other.dataset != ours.dataset ||
          other.arch != ours.arch)
        continue;
      const double difference = ours.mean - other.mean;
      const bool both_spread = std::isfinite(ours.std) && std::isfinite(other.std);
      const double se = both_spread ? std::sqrt(ours.std * ours.std / double(ours.values.size()) +
                                                other.std * other.std / double(other.values.size()))
                                    : kNaN;
      rows += markdown_row({markdown_cell(ours.loss), markdown_cell(ours.dataset), markdown_cell(ours.arch),
                            mean_std_text(ours.mean, ours.std) + " (" + std::to_string(ours.values.size()) + ")",
                            markdown_cell(other.implementation) + ": " + mean_std_text(other.mean, other.std) + " (" +
                                std::to_string(other.values.size()) + ")",
                            signed_two_decimals(difference) + (both_spread ? " ± " + two_decimals(se) : ""),
                            both_spread && se > 0 ? two_decimals(std::fabs(difference) / se) : "-"});
    }
  }
  if (rows.empty()) return "";
  return markdown_row(
             {"loss", "data set", "arch", "spml (n)", "other (n)", "difference ± SE", "\\|difference\\| / SE"}) +
         "|---|---|---|---:|---:|---:|---:|\n" + rows;
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
