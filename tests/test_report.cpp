// SVG plots (well-formed XML, lines and points per series, escaping, nice ticks), run folder reading and its
// error messages, the Markdown tables with hand-computed values, and spml-report end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "training/plot.h"
#include "training/report.h"

namespace spml::training {
namespace {
namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Checks that every element is closed in order and every '&' starts an entity; returns the first problem, or ""
// when the text is well formed.
std::string xml_problem(const std::string& xml) {
  std::vector<std::string> open;
  std::size_t elements = 0;
  for (std::size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&') {
      bool entity = false;
      for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) entity |= xml.compare(i, strlen(e), e) == 0;
      if (!entity) return "bare '&' at " + std::to_string(i);
      continue;
    }
    if (xml[i] == '>') return "bare '>' at " + std::to_string(i);
    if (xml[i] != '<') continue;
    const std::size_t end = xml.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return "'<' inside tag at " + std::to_string(i);
    i = end;
    if (tag.front() == '?') {
      if (tag.back() != '?') return "bad processing instruction";
      continue;
    }
    if (tag.front() == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
      continue;
    }
    if (open.empty() && elements > 0) return "second root element <" + tag + ">";
    ++elements;
    if (tag.back() == '/') continue;
    open.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return elements == 0 ? "no elements" : "";
}

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) ++n;
  return n;
}

// The value of `attribute` in every element starting with `open_tag`, in order.
std::vector<std::string> attribute_values(const std::string& svg, const std::string& open_tag,
                                          const std::string& attribute) {
  std::vector<std::string> values;
  for (std::size_t at = svg.find(open_tag); at != std::string::npos; at = svg.find(open_tag, at + 1)) {
    const std::size_t end = svg.find('>', at);
    const std::size_t key = svg.find(" " + attribute + "=\"", at);
    if (key == std::string::npos || key > end) continue;
    const std::size_t start = key + attribute.size() + 3;
    values.push_back(svg.substr(start, svg.find('"', start) - start));
  }
  return values;
}

// The text of every <text class="..."> element of the class, parsed as numbers.
std::vector<double> tick_values(const std::string& svg, const std::string& css_class) {
  std::vector<double> values;
  const std::string open = "<text class=\"" + css_class + "\"";
  for (std::size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const std::size_t start = svg.find('>', at) + 1;
    values.push_back(std::stod(svg.substr(start, svg.find('<', start) - start)));
  }
  return values;
}

std::size_t polyline_point_count(const std::string& points) {
  std::istringstream in(points);
  std::size_t n = 0;
  for (std::string pair; in >> pair; ++n) EXPECT_NE(pair.find(','), std::string::npos) << pair;
  return n;
}

bool is_nice_step(double step) {
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  for (const double nice : {1.0, 2.0, 5.0, 10.0})
    if (std::fabs(mantissa - nice) < 1e-6) return true;
  return false;
}

void expect_nice_cover(const std::vector<double>& ticks, double lo, double hi) {
  ASSERT_GE(ticks.size(), 2u);
  EXPECT_LE(ticks.front(), lo);
  EXPECT_GE(ticks.back(), hi);
  const double step = ticks[1] - ticks[0];
  EXPECT_TRUE(is_nice_step(step)) << step;
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_NEAR(ticks[i], ticks[0] + double(i) * step, step * 1e-9);
    EXPECT_NEAR(ticks[i] / step, std::round(ticks[i] / step), 1e-6) << "tick " << ticks[i] << " off the step grid";
  }
}

PlotPanel two_series_panel() {
  return {"val mAP",
          "epoch",
          "mAP (%)",
          {{"run a", {1, 2, 3, 4, 5}, {10.5, 20.25, 30, 42, 51.5}}, {"run b", {1, 2, 3}, {12, 18, 27}}}};
}

TEST(PlotSvg, WellFormedWithALinePerSeriesAndAPointPerValue) {
  PlotPanel second{"train loss", "epoch", "loss", {{"only", {0, 10}, {0.8, 0.1}}, {"no points yet", {}, {}}}};
  const std::string svg = render_svg({two_series_panel(), second});
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"320\""), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<style"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_EQ(count_of(svg, "<g class=\"panel\""), 2u);
  const std::vector<std::string> lines = attribute_values(svg, "<polyline", "points");
  ASSERT_EQ(lines.size(), 3u);  // the empty series draws no line
  EXPECT_EQ(polyline_point_count(lines[0]), 5u);
  EXPECT_EQ(polyline_point_count(lines[1]), 3u);
  EXPECT_EQ(polyline_point_count(lines[2]), 2u);
  // 10 markers in the plots and one per legend entry (4)
  EXPECT_EQ(count_of(svg, "<circle"), 10u + 4u);
  // Series of a panel take the colour cycle in order, starting again in the next panel.
  const std::vector<std::string> strokes = attribute_values(svg, "<polyline", "stroke");
  EXPECT_EQ(strokes, (std::vector<std::string>{"#1f77b4", "#ff7f0e", "#1f77b4"}));
  for (const char* label : {">run a<", ">run b<", ">only<", ">no points yet<", ">val mAP<", ">train loss<", ">epoch<",
                            ">mAP (%)<", ">loss<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(svg.find("<title>"), std::string::npos);  // the legend has room for these labels
}

TEST(PlotSvg, LegendShortensLongLabelsAndKeepsThemAsTooltips) {
  const std::string long_label(200, 'r');
  const std::string svg = render_svg({PlotPanel{"p", "x", "y", {{"a", {1}, {2}}, {long_label, {1}, {3}}}}});
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("<title>" + long_label + "</title>"), std::string::npos);
  EXPECT_NE(svg.find("r\xE2\x80\xA6</text>"), std::string::npos);  // the shortened label ends in an ellipsis
  EXPECT_NE(svg.find(">a</text>"), std::string::npos);
  EXPECT_EQ(count_of(svg, "<title>"), 1u);
}

TEST(PlotSvg, LegendSaysHowManySeriesDoNotFit) {
  PlotPanel panel{"many", "x", "y", {}};
  for (int i = 0; i < 40; ++i) panel.series.push_back({"s" + std::to_string(i), {1, 2}, {double(i), i + 1.0}});
  const std::string svg = render_svg({panel});  // 246 px of plot height: 15 legend rows
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(count_of(svg, "<polyline"), 40u);
  EXPECT_NE(svg.find(">s13</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">s14</text>"), std::string::npos);
  EXPECT_NE(svg.find(">+26 more</text>"), std::string::npos);
}

TEST(PlotSvg, EscapesLabels) {
  const PlotPanel panel{"a < b & c", "x <", "y & z", {{"<loss> & \"GR\" 'x'", {1, 2}, {3, 4}}}};
  const std::string svg = render_svg({panel});
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find(">a &lt; b &amp; c<"), std::string::npos);
  EXPECT_NE(svg.find(">x &lt;<"), std::string::npos);
  EXPECT_NE(svg.find(">y &amp; z<"), std::string::npos);
  EXPECT_NE(svg.find("&lt;loss&gt; &amp; &quot;GR&quot; &apos;x&apos;"), std::string::npos);
  EXPECT_EQ(svg.find("a < b"), std::string::npos);
}

TEST(PlotSvg, NanBreaksTheLine) {
  const PlotPanel panel{"gaps", "x", "y", {{"s", {1, 2, 3, 4, 5, 6}, {1, 2, kNaN, 4, 5, 6}}}};
  const std::string svg = render_svg({panel});
  EXPECT_EQ(xml_problem(svg), "");
  const std::vector<std::string> lines = attribute_values(svg, "<polyline", "points");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(polyline_point_count(lines[0]), 2u);
  EXPECT_EQ(polyline_point_count(lines[1]), 3u);
  EXPECT_EQ(count_of(svg, "<circle"), 5u + 1u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(PlotSvg, EmptyAndSinglePointPicturesAreValid) {
  for (const std::vector<PlotPanel>& panels :
       {std::vector<PlotPanel>{}, std::vector<PlotPanel>{PlotPanel{"empty", "x", "y", {}}},
        std::vector<PlotPanel>{PlotPanel{"no points", "x", "y", {{"s", {}, {}}, {"t", {1}, {kNaN}}}}},
        std::vector<PlotPanel>{PlotPanel{"one point", "x", "y", {{"s", {1}, {50}}}}}}) {
    const std::string svg = render_svg(panels);
    EXPECT_EQ(xml_problem(svg), "") << svg;
    EXPECT_EQ(svg.find("nan"), std::string::npos) << svg;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << svg;
    const std::vector<double> x_ticks = tick_values(svg, "tick-x"), y_ticks = tick_values(svg, "tick-y");
    EXPECT_GE(x_ticks.size(), 2u);
    EXPECT_GE(y_ticks.size(), 2u);
    EXPECT_LT(x_ticks.front(), x_ticks.back());
    EXPECT_LT(y_ticks.front(), y_ticks.back());
  }
  const std::string one_point = render_svg({PlotPanel{"one point", "x", "y", {{"s", {1}, {50}}}}});
  EXPECT_EQ(count_of(one_point, "<polyline"), 1u);
  const std::vector<double> y_ticks = tick_values(one_point, "tick-y");
  EXPECT_LT(y_ticks.front(), 50);
  EXPECT_GT(y_ticks.back(), 50);
}

TEST(PlotSvg, RejectsMismatchedSeriesAndTinyPanels) {
  EXPECT_ERROR_CONTAINS(render_svg({PlotPanel{"p", "x", "y", {{"bad series", {1, 2}, {1}}}}}), "bad series", "2",
                        "1 y values");
  EXPECT_ERROR_CONTAINS(render_svg({two_series_panel()}, 60, 40), "60x40");
}

TEST(PlotTicks, NiceStepsCoverTheRange) {
  EXPECT_EQ(nice_ticks(0.3, 87.2), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(nice_ticks(1, 10), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(nice_ticks(5, 5), (std::vector<double>{2, 3, 4, 5, 6, 7, 8}));  // padded by half the value
  EXPECT_EQ(nice_ticks(0, 0), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  for (const auto& [lo, hi] : std::vector<std::pair<double, double>>{
           {0.3, 87.2}, {1, 3}, {-3.7, 0.02}, {0.0012, 0.0047}, {1e6, 3.3e6}, {41.25, 41.27}, {-250, -30}}) {
    SCOPED_TRACE(std::to_string(lo) + ".." + std::to_string(hi));
    const std::vector<double> ticks = nice_ticks(lo, hi);
    expect_nice_cover(ticks, lo, hi);
    EXPECT_GE(ticks.size(), 4u);
    EXPECT_LE(ticks.size(), 9u);
  }
}

TEST(PlotTicks, AxisLabelsAreNiceNumbersCoveringTheData) {
  const std::string svg = render_svg({two_series_panel()});
  const std::vector<double> x_ticks = tick_values(svg, "tick-x"), y_ticks = tick_values(svg, "tick-y");
  expect_nice_cover(x_ticks, 1, 5);
  expect_nice_cover(y_ticks, 10.5, 51.5);
  EXPECT_EQ(y_ticks, (std::vector<double>{10, 20, 30, 40, 50, 60}));
}

TEST(PlotSvg, WriteSvgWritesTheRenderedText) {
  const std::string path = ::testing::TempDir() + "spml_plot_" + std::to_string(::getpid()) + ".svg";
  write_svg(path, {two_series_panel()});
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), render_svg({two_series_panel()}));
  fs::remove(path);
}

// A fresh folder per test (CTest may run tests in parallel), removed afterwards.
class ReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = ::testing::TempDir() + "spml_report_" + info->test_suite_name() + "_" + info->name() + "_" +
            std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Writes `text` to root/relative (making its folder) and returns root/relative's folder.
  std::string write(const std::string& relative, const std::string& text) {
    const fs::path path = fs::path(root_) / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.parent_path().string();
  }

  static std::string config(const std::string& loss, int seed) {
    return R"({"dataset": "voc", "arch": "resnet18", "loss": ")" + loss + R"(", "epochs": 3, "seed": )" +
           std::to_string(seed) + R"(, "lr": 1e-4, "batch_size": 8, "image_size": 448, "note": "ignored"})";
  }
  static std::string metric_line(int epoch, double val_map, double seconds) {
    return R"({"epoch": )" + std::to_string(epoch) + R"(, "train_loss": 0.5, "val_mAP": )" + std::to_string(val_map) +
           R"(, "seconds": )" + std::to_string(seconds) + R"(, "images_per_s": 120.5, "lr": 1e-4})" + "\n";
  }

  // A finished GR run: 3 epochs, best val mAP at epoch 2, test.json with the totals.
  std::string finished_run(const std::string& name) {
    write(name + "/config.json", config("gr", 1));
    write(name + "/metrics.jsonl", metric_line(1, 60.5, 80) + metric_line(2, 71.25, 81) + metric_line(3, 70, 82));
    return write(name + "/test.json",
                 R"({"test_mAP": 69.875, "per_class_AP": [0.5, 0.9], "best_epoch": 2, "best_val_mAP": 71.25,)"
                 R"( "epochs_run": 3, "stopped_early": false, "seconds_total": 252.4})");
  }

  std::string root_;
};

using ReportLoad = ReportFiles;

TEST_F(ReportLoad, FinishedRun) {
  const std::string dir = finished_run("gr_seed1");
  const RunSummary r = load_run_summary(dir);
  EXPECT_EQ(r.dir, dir);
  EXPECT_EQ(r.name, "gr_seed1");
  EXPECT_EQ(load_run_summary(dir + "/").name, "gr_seed1");
  EXPECT_EQ(r.dataset, "voc");
  EXPECT_EQ(r.arch, "resnet18");
  EXPECT_EQ(r.loss, "gr");
  EXPECT_EQ(r.epochs, 3);
  EXPECT_EQ(r.seed, 1);
  ASSERT_EQ(r.epochs_done.size(), 3u);
  EXPECT_EQ(r.epochs_done[1].epoch, 2);
  EXPECT_DOUBLE_EQ(r.epochs_done[1].val_map, 71.25);
  EXPECT_DOUBLE_EQ(r.epochs_done[1].train_loss, 0.5);
  EXPECT_DOUBLE_EQ(r.epochs_done[1].seconds, 81);
  EXPECT_DOUBLE_EQ(r.epochs_done[1].images_per_s, 120.5);
  EXPECT_TRUE(r.finished);
  EXPECT_DOUBLE_EQ(r.test_map, 69.875);
  EXPECT_DOUBLE_EQ(r.best_val_map, 71.25);
  EXPECT_EQ(r.best_epoch, 2);
  EXPECT_DOUBLE_EQ(r.seconds_total, 252.4);  // test.json's, not the sum of the epochs
}

TEST_F(ReportLoad, UnfinishedRunSumsItsEpochs) {
  write("running/config.json", config("an", 7));
  // Blank lines are skipped; a null (NaN) val mAP is never the best.
  const std::string dir = write("running/metrics.jsonl", metric_line(1, 40, 30.5) + "\n" +
                                                             R"({"epoch": 2, "train_loss": null, "val_mAP": null,)"
                                                             R"( "seconds": 31, "images_per_s": 100})"
                                                             "\n");
  const RunSummary r = load_run_summary(dir);
  EXPECT_FALSE(r.finished);
  EXPECT_EQ(r.seed, 7);
  ASSERT_EQ(r.epochs_done.size(), 2u);
  EXPECT_TRUE(std::isnan(r.epochs_done[1].train_loss));
  EXPECT_TRUE(std::isnan(r.test_map));
  EXPECT_DOUBLE_EQ(r.best_val_map, 40);
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_DOUBLE_EQ(r.seconds_total, 61.5);

  const std::string fresh = write("fresh/config.json", config("an", 8));  // no metrics.jsonl yet
  const RunSummary f = load_run_summary(fresh);
  EXPECT_TRUE(f.epochs_done.empty());
  EXPECT_FALSE(f.finished);
  EXPECT_TRUE(std::isnan(f.best_val_map));
  EXPECT_EQ(f.best_epoch, 0);
  EXPECT_TRUE(std::isnan(f.seconds_total));
  write("fresh/metrics.jsonl", "");  // created, nothing written yet
  EXPECT_TRUE(load_run_summary(fresh).epochs_done.empty());
}

TEST_F(ReportLoad, ConfigErrorsNameConfigJson) {
  const std::string missing = root_ + "/nothing_here";
  EXPECT_ERROR_CONTAINS(load_run_summary(missing), "nothing_here/config.json", "cannot open");
  const std::string corrupt = write("corrupt/config.json", R"({"dataset": "voc", "arch": )");
  EXPECT_ERROR_CONTAINS(load_run_summary(corrupt), "corrupt/config.json", "not valid JSON");
  const std::string no_loss = write("no_loss/config.json", R"({"dataset": "voc", "arch": "r", "epochs": 1})");
  EXPECT_ERROR_CONTAINS(load_run_summary(no_loss), "no_loss/config.json", "missing key \"loss\"");
  const std::string bad_type = write("bad_type/config.json", R"({"dataset": "voc", "arch": "r", "loss": "gr",)"
                                                             R"( "epochs": "three", "seed": 1})");
  EXPECT_ERROR_CONTAINS(load_run_summary(bad_type), "bad_type/config.json", "\"epochs\" must be an integer");
  const std::string array = write("array/config.json", "[1, 2]");
  EXPECT_ERROR_CONTAINS(load_run_summary(array), "array/config.json", "expected a JSON object");
}

TEST_F(ReportLoad, MetricsErrorsNameTheLine) {
  write("bad_json/config.json", config("gr", 1));
  const std::string bad_json =
      write("bad_json/metrics.jsonl", metric_line(1, 50, 10) + "{\"epoch\": 2, \"train_loss\": \n");
  EXPECT_ERROR_CONTAINS(load_run_summary(bad_json), "bad_json/metrics.jsonl:2:", "not valid JSON");
  write("no_key/config.json", config("gr", 1));
  const std::string no_key =
      write("no_key/metrics.jsonl", metric_line(1, 50, 10) + metric_line(2, 51, 10) +
                                        R"({"epoch": 3, "train_loss": 0.4, "seconds": 9, "images_per_s": 1})"
                                        "\n");
  EXPECT_ERROR_CONTAINS(load_run_summary(no_key), "no_key/metrics.jsonl:3:", "missing key \"val_mAP\"");
}

TEST_F(ReportLoad, CorruptTestJsonIsAnError) {
  const std::string dir = finished_run("done");
  write("done/test.json", R"({"test_mAP": 69.8)");
  EXPECT_ERROR_CONTAINS(load_run_summary(dir), "done/test.json", "not valid JSON");
  write("done/test.json", R"({"test_mAP": 69.8, "best_epoch": 2, "seconds_total": 5})");
  EXPECT_ERROR_CONTAINS(load_run_summary(dir), "done/test.json", "missing key \"best_val_mAP\"");
}

RunSummary summary(const std::string& name, const std::string& loss, int epochs_done, double best_val, double test_map,
                   double seconds, const std::string& dataset = "voc") {
  RunSummary r;
  r.dir = "runs/" + name;
  r.name = name;
  r.dataset = dataset;
  r.arch = "resnet50";
  r.loss = loss;
  r.epochs = 8;
  for (int e = 1; e <= epochs_done; ++e) r.epochs_done.push_back({e, 0.5, 50.0 + e, 10, 100});
  r.finished = std::isfinite(test_map);
  r.best_val_map = best_val;
  r.test_map = test_map;
  r.seconds_total = seconds;
  return r;
}

TEST(ReportTables, RunsTableRows) {
  const std::vector<RunSummary> runs = {
      summary("gr_s1", "gr", 8, 85.123, 84.005, 252.4), summary("an_s1", "an", 3, 60, kNaN, 38.2),
      summary("pipe|name", "em", 0, kNaN, kNaN, kNaN, "coco"), summary("long", "gr", 8, 70.5, 70.25, 3725)};
  EXPECT_EQ(runs_markdown_table(runs),
            "| run | loss | data set | arch | epochs | best val mAP | test mAP | time |\n"
            "|---|---|---|---|---:|---:|---:|---:|\n"
            "| gr_s1 | gr | voc | resnet50 | 8/8 | 85.12 | 84.00 | 4m 12s |\n"
            "| an_s1 | an | voc | resnet50 | 3/8 | 60.00 | - | 38s |\n"
            "| pipe\\|name | em | coco | resnet50 | 0/8 | - | - | - |\n"
            "| long | gr | voc | resnet50 | 8/8 | 70.50 | 70.25 | 1h 2m 5s |\n");
  EXPECT_EQ(runs_markdown_table({}),
            "| run | loss | data set | arch | epochs | best val mAP | test mAP | time |\n"
            "|---|---|---|---|---:|---:|---:|---:|\n");
}

TEST(ReportTables, ByLossMeanAndSampleStdOverSeeds) {
  // GR over 3 seeds: mean (80 + 82.5 + 84.1) / 3 = 82.2; deviations -2.2, 0.3, 1.9;
  // sample std = sqrt((4.84 + 0.09 + 3.61) / 2) = sqrt(4.27) = 2.0664.
  // AN over 2 seeds: mean 83; std = sqrt((1 + 1) / 1) = 1.4142. EM on COCO once: no std. The unfinished run and
  // the run with an unknown test mAP are left out.
  const std::vector<RunSummary> runs = {
      summary("gr1", "gr", 8, 81, 80.0, 1), summary("an1", "an", 8, 84, 82.0, 1),
      summary("gr2", "gr", 8, 83, 82.5, 1), summary("em1", "em", 8, 70, 70.0, 1, "coco"),
      summary("gr3", "gr", 8, 85, 84.1, 1), summary("an2", "an", 8, 85, 84.0, 1),
      summary("an3", "an", 4, 60, kNaN, 1)};
  EXPECT_EQ(runs_by_loss_markdown_table(runs),
            "| loss | data set | arch | n | test mAP (mean ± std) |\n"
            "|---|---|---|---:|---:|\n"
            "| an | voc | resnet50 | 2 | 83.00 ± 1.41 |\n"
            "| gr | voc | resnet50 | 3 | 82.20 ± 2.07 |\n"
            "| em | coco | resnet50 | 1 | 70.00 |\n");
}

RunSummary seeded(const std::string& loss, int64_t seed, double test_map, const std::string& implementation = "spml") {
  RunSummary r = summary(loss + std::to_string(seed), loss, 6, test_map, test_map, 1, "fashion-mosaic");
  r.seed = seed;
  r.implementation = implementation;
  return r;
}

TEST(ReportTables, PairedDifferencePerSeedWithMeanAndSampleStd) {
  // spml: seeds 0, 1 have both losses: +3 and +1 -> mean +2, std sqrt(2) = 1.41; seed 2 lacks AN. The reference:
  // one pair, -0.5 (no std).
  const std::vector<RunSummary> runs = {seeded("gr", 1, 70),
                                        seeded("an", 0, 66),
                                        seeded("gr", 0, 69),
                                        seeded("an", 1, 69),
                                        seeded("gr", 2, 71),
                                        seeded("gr", 0, 65.5, "pytorch-reference"),
                                        seeded("an", 0, 66, "pytorch-reference")};
  EXPECT_EQ(paired_difference_markdown_table(runs, "gr", "an"),
            "| implementation | data set | arch | n | gr - an per seed | mean ± std |\n"
            "|---|---|---|---:|---|---:|\n"
            "| spml | fashion-mosaic | resnet50 | 2 | +3.00 (s0), +1.00 (s1) | +2.00 ± 1.41 |\n"
            "| pytorch-reference | fashion-mosaic | resnet50 | 1 | -0.50 (s0) | -0.50 |\n");
  EXPECT_EQ(paired_difference_markdown_table(runs, "gr", "em"), "");
}

TEST(ReportTables, ImplementationDifferenceOfMeansWithStandardError) {
  // spml GR: 69, 71 -> 70 ± 1.41; reference GR: 68, 69, 70 -> 69 ± 1; difference +1,
  // SE = sqrt(2 / 2 + 1 / 3) = 1.1547, |d| / SE = 0.866. AN has one reference run: no SE.
  const std::vector<RunSummary> runs = {seeded("gr", 0, 69),
                                        seeded("gr", 1, 71),
                                        seeded("an", 0, 60),
                                        seeded("an", 1, 62),
                                        seeded("gr", 0, 68, "pytorch-reference"),
                                        seeded("gr", 1, 69, "pytorch-reference"),
                                        seeded("gr", 2, 70, "pytorch-reference"),
                                        seeded("an", 0, 63, "pytorch-reference")};
  EXPECT_TRUE(has_several_implementations(runs));
  EXPECT_EQ(
      implementation_difference_markdown_table(runs),
      "| loss | data set | arch | spml (n) | other (n) | difference ± SE | \\|difference\\| / SE |\n"
      "|---|---|---|---:|---:|---:|---:|\n"
      "| gr | fashion-mosaic | resnet50 | 70.00 ± 1.41 (2) | pytorch-reference: 69.00 ± 1.00 (3) | +1.00 ± 1.15 | "
      "0.87 |\n"
      "| an | fashion-mosaic | resnet50 | 61.00 ± 1.41 (2) | pytorch-reference: 63.00 (1) | -2.00 | - |\n");
  // The by-loss table groups by implementation, and the runs table names it.
  const std::string by_loss = runs_by_loss_markdown_table(runs);
  EXPECT_NE(by_loss.find("| gr | pytorch-reference | fashion-mosaic | resnet50 | 3 | 69.00 ± 1.00 |"),
            std::string::npos)
      << by_loss;
  EXPECT_NE(runs_markdown_table(runs).find("| gr0 | pytorch-reference | gr |"), std::string::npos);
  const std::vector<RunSummary> only_ours = {seeded("gr", 0, 69), seeded("gr", 1, 71)};
  EXPECT_FALSE(has_several_implementations(only_ours));
  EXPECT_EQ(implementation_difference_markdown_table(only_ours), "");
}

TEST(ReportPanel, ValMapPerEpochWithASeriesPerRun) {
  const PlotPanel panel = val_map_panel({summary("a", "gr", 3, 1, 1, 1), summary("b", "an", 0, kNaN, kNaN, kNaN)});
  EXPECT_EQ(panel.title, "val mAP per epoch");
  EXPECT_EQ(panel.x_label, "epoch");
  ASSERT_EQ(panel.series.size(), 2u);
  EXPECT_EQ(panel.series[0].label, "a");
  EXPECT_EQ(panel.series[0].x, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(panel.series[0].y, (std::vector<double>{51, 52, 53}));
  EXPECT_EQ(panel.series[1].label, "b");
  EXPECT_TRUE(panel.series[1].x.empty());
}

using AppResult = test::CommandResult;
using test::read_text;

class ReportApp : public ReportFiles {
 protected:
  void SetUp() override {
    if (!std::ifstream(SPML_BIN_DIR "/spml-report").good())
      GTEST_SKIP() << "spml-report not built (SPML_BUILD_APPS=OFF?): " << SPML_BIN_DIR "/spml-report";
    ReportFiles::SetUp();
  }

  // Runs spml-report in root_ (where the default plot goes); stdout through the pipe, stderr through a file.
  AppResult run_report(const std::string& args) {
    return test::run_command("cd '" + root_ + "' && " SPML_BIN_DIR "/spml-report " + args, root_ + "/stderr.txt");
  }
};

TEST_F(ReportApp, TablesAndPlotOfTwoRuns) {
  finished_run("gr_seed1");
  write("an_seed1/config.json", config("an", 1));
  write("an_seed1/metrics.jsonl", metric_line(1, 55.5, 20));

  const AppResult r = run_report("gr_seed1 an_seed1/ --markdown report.md --plot curves.svg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Each (data set, arch, loss) has one run, so there is no by-loss table.
  EXPECT_EQ(r.out,
            "| run | loss | data set | arch | epochs | best val mAP | test mAP | time |\n"
            "|---|---|---|---|---:|---:|---:|---:|\n"
            "| gr_seed1 | gr | voc | resnet18 | 3/3 | 71.25 | 69.88 | 4m 12s |\n"
            "| an_seed1 | an | voc | resnet18 | 1/3 | 55.50 | - | 20s |\n");
  EXPECT_NE(r.err.find("curves.svg"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(root_ + "/report.md"), r.out);
  const std::string svg = read_text(root_ + "/curves.svg");
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find(">gr_seed1<"), std::string::npos);
  EXPECT_NE(svg.find(">an_seed1<"), std::string::npos);
  EXPECT_EQ(count_of(svg, "<polyline"), 2u);
  EXPECT_FALSE(fs::exists(root_ + "/spml-report.svg"));
}

TEST_F(ReportApp, ByLossTableWhenSeedsRepeatAndTheDefaultPlotPath) {
  finished_run("gr_seed1");
  finished_run("gr_seed2");
  write("gr_seed2/test.json", R"({"test_mAP": 70.125, "best_epoch": 2, "best_val_mAP": 71.25, "seconds_total": 1})");
  const AppResult r = run_report("gr_seed1 gr_seed2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // mean (69.875 + 70.125) / 2 = 70; std = sqrt(2 * 0.125^2 / 1) = 0.1768
  const std::string by_loss =
      "\n| loss | data set | arch | n | test mAP (mean ± std) |\n"
      "|---|---|---|---:|---:|\n"
      "| gr | voc | resnet18 | 2 | 70.00 ± 0.18 |\n";
  ASSERT_GE(r.out.size(), by_loss.size());
  EXPECT_EQ(r.out.substr(r.out.size() - by_loss.size()), by_loss) << r.out;
  EXPECT_NE(r.err.find("spml-report.svg"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(root_ + "/spml-report.svg"));
}

TEST_F(ReportApp, PairedAndImplementationTablesFromRunFolders) {
  finished_run("gr_seed1");
  finished_run("ref_gr_seed1");
  write("ref_gr_seed1/test.json", R"({"test_mAP": 68.875, "best_epoch": 2, "best_val_mAP": 71.25, "seconds_total": 1,
                                     "implementation": "pytorch-reference"})");
  EXPECT_EQ(load_run_summary(root_ + "/ref_gr_seed1").implementation, "pytorch-reference");
  EXPECT_EQ(load_run_summary(root_ + "/gr_seed1").implementation, "spml");
  AppResult r = run_report("gr_seed1 ref_gr_seed1 --paired gr,an");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| gr_seed1 | spml | gr |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(--paired gr,an: no seed has both losses finished)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| gr | voc | resnet18 | 69.88 (1) | pytorch-reference: 68.88 (1) | +1.00 | - |"),
            std::string::npos)
      << r.out;
  r = run_report("gr_seed1 --paired gr");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--paired expects two losses as A,B"), std::string::npos) << r.err;
}

TEST_F(ReportApp, ErrorsNameTheFile) {
  finished_run("good");
  write("broken/config.json", "{");
  AppResult r = run_report("good broken");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("spml-report: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broken/config.json"), std::string::npos) << r.err;
  r = run_report("");
  EXPECT_NE(r.exit_code, 0);  // CLI11: a run folder is required
}

}  // namespace
}  // namespace spml::training
