// SVG line plots: layout, nice ticks and the XML text of the picture (see plot.h).
#include "training/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "framework/io/file.h"
#include "kernels/common/error.h"

namespace spml::training {
namespace {

// Tableau 10: distinct for the usual forms of colour blindness and on white.
constexpr const char* kSeriesColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kColourCount = sizeof(kSeriesColours) / sizeof(kSeriesColours[0]);

// The layout is in pixels for an 11 px sans-serif font; text widths are estimated, since an SVG without scripts
// cannot measure its text.
constexpr double kFontSize = 11;
constexpr double kCharWidth = 6.5;
constexpr double kMarginLeft = 64, kMarginTop = 30, kMarginBottom = 44, kMarginRight = 14;
// The legend column: a gap after the plot, a line swatch, then the label.
constexpr double kLegendGap = 12, kLegendRowHeight = 16, kLegendSwatch = 24, kLegendPadRight = 4;
constexpr double kMinPlotSide = 40;

std::string xml_escaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string px(double value) {
  return fixed(value, 1);
}

// Enough decimals to tell neighbouring ticks apart (step 0.5 -> 1, 0.05 -> 2), none for whole steps.
std::string tick_label(double value, double step) {
  const int decimals = step >= 1 ? 0 : int(std::ceil(-std::log10(step) - 1e-9));
  if (std::fabs(value) < step * 1e-6) value = 0;  // no "-0.0"
  return fixed(value, decimals);
}

// UTF-8 characters, not bytes, so that non-ASCII labels get the same room as ASCII ones.
std::size_t utf8_length(const std::string& text) {
  return std::size_t(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string utf8_prefix(const std::string& text, std::size_t characters) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((text[i] & 0xC0) != 0x80 && seen++ == characters) return text.substr(0, i);
  }
  return text;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

bool finite_point(const PlotSeries& s, std::size_t i) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
}

// Maps data values to pixels of the plot area (y grows downwards in SVG).
struct Axes {
  double left, top, width, height;
  double x_lo, x_hi, y_lo, y_hi;
  double px_x(double x) const { return left + (x - x_lo) / (x_hi - x_lo) * width; }
  double px_y(double y) const { return top + height - (y - y_lo) / (y_hi - y_lo) * height; }
};

void render_series(std::string& svg, const Axes& axes, const PlotSeries& series, const char* colour) {
  svg += "<g class=\"series\">\n";
  // One polyline per stretch of finite points, so a gap breaks the line instead of bridging it.
  std::string points;
  auto flush_line = [&] {
    if (!points.empty())
      svg += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"1.8\" points=\"" + points +
             "\"/>\n";
    points.clear();
  };
  for (std::size_t i = 0; i < series.x.size(); ++i) {
    if (!finite_point(series, i)) {
      flush_line();
      continue;
    }
    if (!points.empty()) points += ' ';
    points += px(axes.px_x(series.x[i])) + "," + px(axes.px_y(series.y[i]));
  }
  flush_line();
  for (std::size_t i = 0; i < series.x.size(); ++i) {
    if (!finite_point(series, i)) continue;
    svg += "<circle cx=\"" + px(axes.px_x(series.x[i])) + "\" cy=\"" + px(axes.px_y(series.y[i])) +
           "\" r=\"2.5\" fill=\"" + colour + "\"/>\n";
  }
  svg += "</g>\n";
}

void render_legend(std::string& svg, const PlotPanel& panel, double left, double top, double width, double height) {
  const std::size_t max_chars =
      std::size_t(std::max(1.0, (width - kLegendSwatch - kLegendPadRight) / kCharWidth + 1e-9));
  const std::size_t rows = std::max<std::size_t>(1, std::size_t(height / kLegendRowHeight));
  const std::size_t count = panel.series.size();
  // When the series do not all fit, the last row says how many are left out.
  const std::size_t shown = count <= rows ? count : rows - 1;
  svg += "<g class=\"legend\">\n";
  for (std::size_t i = 0; i < shown; ++i) {
    const std::string& label = panel.series[i].label;
    const char* colour = kSeriesColours[i % kColourCount];
    const double y = top + kLegendRowHeight * (double(i) + 0.5);
    svg += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left + kLegendSwatch - 6) + "\" y2=\"" +
           px(y) + "\" stroke=\"" + colour + "\" stroke-width=\"1.8\"/>\n";
    svg += "<circle cx=\"" + px(left + (kLegendSwatch - 6) / 2) + "\" cy=\"" + px(y) + "\" r=\"2.5\" fill=\"" + colour +
           "\"/>\n";
    const bool cut = utf8_length(label) > max_chars;
    const std::string shown_label = cut ? utf8_prefix(label, max_chars - 1) + "\xE2\x80\xA6" : label;
    svg += "<text class=\"legend\" x=\"" + px(left + kLegendSwatch) + "\" y=\"" + px(y + kFontSize / 3) + "\">";
    if (cut) svg += "<title>" + xml_escaped(label) + "</title>";  // the whole label as a tooltip
    svg += xml_escaped(shown_label) + "</text>\n";
  }
  if (shown < count) {
    svg += "<text class=\"legend\" x=\"" + px(left) + "\" y=\"" +
           px(top + kLegendRowHeight * (double(shown) + 0.5) + kFontSize / 3) + "\">+" + std::to_string(count - shown) +
           " more</text>\n";
  }
  svg += "</g>\n";
}

void render_panel(std::string& svg, const PlotPanel& panel, double offset_x, int panel_width, int panel_height) {
  for (const PlotSeries& s : panel.series)
    SPML_CHECK(s.x.size() == s.y.size(), "render_svg: series \"", s.label, "\" of panel \"", panel.title, "\" has ",
               s.x.size(), " x values but ", s.y.size(), " y values");

  double legend_width = 0;
  if (!panel.series.empty()) {
    std::size_t longest = 0;
    for (const PlotSeries& s : panel.series) longest = std::max(longest, utf8_length(s.label));
    legend_width =
        std::min(panel_width / 3.0, kLegendGap + kLegendSwatch + kCharWidth * double(longest) + kLegendPadRight);
  }
  Axes axes;
  axes.left = kMarginLeft;
  axes.top = kMarginTop;
  axes.width = panel_width - kMarginLeft - kMarginRight - legend_width;
  axes.height = panel_height - kMarginTop - kMarginBottom;
  SPML_CHECK(axes.width >= kMinPlotSide && axes.height >= kMinPlotSide, "render_svg: a panel of ", panel_width, "x",
             panel_height, " px leaves no room for the plot");

  Range xr, yr;
  for (const PlotSeries& s : panel.series)
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (finite_point(s, i)) {
        xr.add(s.x[i]);
        yr.add(s.y[i]);
      }
  if (xr.empty()) {
    xr = Range{0, 1};
    yr = Range{0, 1};
  }
  const std::vector<double> x_ticks = nice_ticks(xr.lo, xr.hi), y_ticks = nice_ticks(yr.lo, yr.hi);
  axes.x_lo = x_ticks.front();
  axes.x_hi = x_ticks.back();
  axes.y_lo = y_ticks.front();
  axes.y_hi = y_ticks.back();
  const double x_step = x_ticks[1] - x_ticks[0], y_step = y_ticks[1] - y_ticks[0];

  svg += "<g class=\"panel\" transform=\"translate(" + px(offset_x) + ",0)\">\n";
  svg += "<text class=\"title\" x=\"" + px(axes.left + axes.width / 2) +
         "\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">" + xml_escaped(panel.title) + "</text>\n";
  const double bottom = axes.top + axes.height, right = axes.left + axes.width;
  for (const double t : x_ticks) {
    const double x = axes.px_x(t);
    svg += "<line x1=\"" + px(x) + "\" y1=\"" + px(axes.top) + "\" x2=\"" + px(x) + "\" y2=\"" + px(bottom + 4) +
           "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text class=\"tick-x\" x=\"" + px(x) + "\" y=\"" + px(bottom + 16) + "\" text-anchor=\"middle\">" +
           tick_label(t, x_step) + "</text>\n";
  }
  for (const double t : y_ticks) {
    const double y = axes.px_y(t);
    svg += "<line x1=\"" + px(axes.left - 4) + "\" y1=\"" + px(y) + "\" x2=\"" + px(right) + "\" y2=\"" + px(y) +
           "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text class=\"tick-y\" x=\"" + px(axes.left - 7) + "\" y=\"" + px(y + kFontSize / 3) +
           "\" text-anchor=\"end\">" + tick_label(t, y_step) + "</text>\n";
  }
  svg += "<rect x=\"" + px(axes.left) + "\" y=\"" + px(axes.top) + "\" width=\"" + px(axes.width) + "\" height=\"" +
         px(axes.height) + "\" fill=\"none\" stroke=\"#333333\"/>\n";
  svg += "<text class=\"x-label\" x=\"" + px(axes.left + axes.width / 2) + "\" y=\"" + px(panel_height - 8.0) +
         "\" text-anchor=\"middle\">" + xml_escaped(panel.x_label) + "</text>\n";
  const double y_label_x = 14, y_label_y = axes.top + axes.height / 2;
  svg += "<text class=\"y-label\" x=\"" + px(y_label_x) + "\" y=\"" + px(y_label_y) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 " + px(y_label_x) + " " + px(y_label_y) + ")\">" +
         xml_escaped(panel.y_label) + "</text>\n";
  for (std::size_t i = 0; i < panel.series.size(); ++i)
    render_series(svg, axes, panel.series[i], kSeriesColours[i % kColourCount]);
  if (!panel.series.empty())
    render_legend(svg, panel, right + kLegendGap, axes.top, legend_width - kLegendGap, axes.height);
  svg += "</g>\n";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target_count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) / 2;
    lo -= pad;
    hi += pad;
  }
  const double raw_step = (hi - lo) / std::max(1, target_count - 1);
  if (!std::isfinite(raw_step) || raw_step <= 0) return {lo, hi};  // beyond double's range: no nice numbers
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  const double fraction = raw_step / magnitude;
  // The nearest nice step (not the next larger), so that an axis keeps about target_count ticks.
  const double step = magnitude * (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10);
  // Whole multiples of the step (not repeated additions), so ticks carry no accumulated rounding error; the
  // slack keeps a bound that is already a multiple from growing the axis by a step.
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  const double intervals = std::max(1.0, last - first);
  if (intervals > 1000) return {lo, hi};  // a tiny range far from zero: steps below double's resolution
  std::vector<double> ticks;
  for (int i = 0; i <= int(intervals); ++i) ticks.push_back((first + i) * step);
  return ticks;
}

std::string render_svg(const std::vector<PlotPanel>& panels, int panel_width, int panel_height) {
  const std::size_t panel_count = std::max<std::size_t>(1, panels.size());
  const std::string width = std::to_string(panel_width * int(panel_count)), height = std::to_string(panel_height);
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + width + "\" height=\"" + height + "\" viewBox=\"0 0 " +
         width + " " + height + "\" font-family=\"sans-serif\" font-size=\"" + fixed(kFontSize, 0) + "\">\n";
  svg += "<rect width=\"" + width + "\" height=\"" + height + "\" fill=\"white\"/>\n";
  if (panels.empty()) {
    render_panel(svg, PlotPanel{}, 0, panel_width, panel_height);
  } else {
    for (std::size_t i = 0; i < panels.size(); ++i)
      render_panel(svg, panels[i], double(i) * panel_width, panel_width, panel_height);
  }
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::string& path, const std::vector<PlotPanel>& panels, int panel_width, int panel_height) {
  io::write_file_atomic(path, render_svg(panels, panel_width, panel_height));
}

namespace {

// The heat map's ramp, light to dark (ColorBrewer YlGnBu): dark text on the light half, white on the dark one.
constexpr double kRamp[][3] = {{255, 255, 217}, {199, 233, 180}, {65, 182, 196}, {34, 94, 168}, {8, 29, 88}};
constexpr int kRampStops = sizeof(kRamp) / sizeof(kRamp[0]);

std::string ramp_colour(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.5, 0.0, 1.0);
  const double position = t * (kRampStops - 1);
  const int i = std::min(kRampStops - 2, int(position));
  const double f = position - i;
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x",
                int(std::lround(kRamp[i][0] + f * (kRamp[i + 1][0] - kRamp[i][0]))),
                int(std::lround(kRamp[i][1] + f * (kRamp[i + 1][1] - kRamp[i][1]))),
                int(std::lround(kRamp[i][2] + f * (kRamp[i + 1][2] - kRamp[i][2]))));
  return buffer;
}

// A text element cut to `max_chars` characters (an ellipsis, and the whole text as a tooltip).
std::string text_element(const std::string& text, double x, double y, const std::string& attributes,
                         std::size_t max_chars) {
  const bool cut = max_chars >= 2 && utf8_length(text) > max_chars;
  std::string svg = "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" " + attributes + ">";
  if (cut)
    svg += "<title>" + xml_escaped(text) + "</title>" + xml_escaped(utf8_prefix(text, max_chars - 1)) + "\xE2\x80\xA6";
  else
    svg += xml_escaped(text);
  return svg + "</text>\n";
}

std::string svg_header(double width, double height) {
  const std::string w = px(width), h = px(height);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w +
         "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h + "\" font-family=\"sans-serif\" font-size=\"" +
         fixed(kFontSize, 0) + "\">\n<rect width=\"" + w + "\" height=\"" + h + "\" fill=\"white\"/>\n";
}

double text_width(const std::string& text) {
  return kCharWidth * double(utf8_length(text));
}

}  // namespace

std::string render_heat_map_svg(const HeatMap& map) {
  const std::size_t rows = map.row_names.size(), columns = map.column_names.size();
  SPML_CHECK(map.values.size() == rows, "render_heat_map_svg: ", map.values.size(), " rows of values for ", rows,
             " row names");
  SPML_CHECK(map.texts.empty() || map.texts.size() == rows, "render_heat_map_svg: ", map.texts.size(),
             " rows of texts for ", rows, " row names");
  for (std::size_t r = 0; r < rows; ++r) {
    SPML_CHECK(map.values[r].size() == columns, "render_heat_map_svg: row ", r, " has ", map.values[r].size(),
               " values for ", columns, " column names");
    SPML_CHECK(map.texts.empty() || map.texts[r].size() == columns, "render_heat_map_svg: row ", r, " has ",
               map.texts[r].size(), " texts for ", columns, " column names");
  }
  const auto cell_text = [&](std::size_t r, std::size_t c) {
    if (!map.texts.empty() && !map.texts[r][c].empty()) return map.texts[r][c];
    return std::isfinite(map.values[r][c]) ? fixed(map.values[r][c], 2) : std::string("-");
  };
  Range range;
  for (const auto& row : map.values)
    for (const double v : row)
      if (std::isfinite(v)) range.add(v);

  constexpr double kMaxCellWidth = 200, kCellHeight = 36, kPad = 14;
  double cell_width = 84, label_width = text_width(map.row_label);
  for (const std::string& name : map.column_names) cell_width = std::max(cell_width, text_width(name) + kPad);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < columns; ++c) cell_width = std::max(cell_width, text_width(cell_text(r, c)) + kPad);
  cell_width = std::min(cell_width, kMaxCellWidth);
  for (const std::string& name : map.row_names) label_width = std::max(label_width, text_width(name));
  label_width = std::min(label_width, 240.0) + kPad;
  const std::size_t cell_chars = std::size_t((cell_width - 6) / kCharWidth);
  const std::size_t label_chars = std::size_t((label_width - 6) / kCharWidth);

  const double left = 12 + label_width, grid_top = 74;
  const double grid_width = cell_width * double(std::max<std::size_t>(1, columns));
  const double grid_height = kCellHeight * double(std::max<std::size_t>(1, rows));
  const double legend_top = grid_top + grid_height + 22;
  const double width =
      std::max({left + grid_width + 16, left + std::min(200.0, grid_width) + 10 + text_width(map.value_label) + 12,
                text_width(map.title) + 24, text_width(map.note) + 24});
  const double height = legend_top + (map.note.empty() ? 40 : 58);

  std::string svg = svg_header(width, height);
  svg += "<defs><linearGradient id=\"ramp\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">";
  for (int i = 0; i < kRampStops; ++i)
    svg += "<stop offset=\"" + fixed(double(i) / (kRampStops - 1), 2) + "\" stop-color=\"" +
           ramp_colour(double(i) / (kRampStops - 1)) + "\"/>";
  svg += "</linearGradient></defs>\n";
  svg += text_element(map.title, width / 2, 18, "class=\"title\" text-anchor=\"middle\" font-weight=\"bold\"", 0);
  svg += text_element(map.column_label + " \xE2\x86\x92", left + grid_width / 2, 40,
                      "class=\"column-label\" text-anchor=\"middle\" font-style=\"italic\"", 0);
  svg += text_element(map.row_label + " \xE2\x86\x93", 12, grid_top - 8, "class=\"row-label\" font-style=\"italic\"",
                      label_chars);
  for (std::size_t c = 0; c < columns; ++c)
    svg += text_element(map.column_names[c], left + cell_width * (double(c) + 0.5), grid_top - 8,
                        "class=\"column\" text-anchor=\"middle\"", cell_chars);
  svg += "<g class=\"cells\">\n";
  for (std::size_t r = 0; r < rows; ++r) {
    const double y = grid_top + kCellHeight * double(r);
    svg += text_element(map.row_names[r], 12, y + kCellHeight / 2 + kFontSize / 3, "class=\"row\"", label_chars);
    for (std::size_t c = 0; c < columns; ++c) {
      const double x = left + cell_width * double(c), v = map.values[r][c];
      const bool has_value = std::isfinite(v);
      const double t = !has_value ? 0 : range.hi > range.lo ? (v - range.lo) / (range.hi - range.lo) : 0.5;
      svg += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(cell_width) + "\" height=\"" +
             px(kCellHeight) + "\" fill=\"" + (has_value ? ramp_colour(t) : std::string("#d9d9d9")) +
             "\" stroke=\"white\"/>\n";
      svg += text_element(
          cell_text(r, c), x + cell_width / 2, y + kCellHeight / 2 + kFontSize / 3,
          std::string("text-anchor=\"middle\" fill=\"") + (has_value && t > 0.55 ? "white" : "#222222") + "\"",
          cell_chars);
    }
  }
  svg += "</g>\n";
  if (map.outlined_row >= 0 && map.outlined_column >= 0 && std::size_t(map.outlined_row) < rows &&
      std::size_t(map.outlined_column) < columns)
    svg += "<rect class=\"outline\" x=\"" + px(left + cell_width * map.outlined_column + 1.5) + "\" y=\"" +
           px(grid_top + kCellHeight * map.outlined_row + 1.5) + "\" width=\"" + px(cell_width - 3) + "\" height=\"" +
           px(kCellHeight - 3) + "\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"3\"/>\n";
  // The colour scale: the ramp from the smallest to the largest value.
  const double bar_width = std::min(200.0, grid_width);
  svg += "<g class=\"scale\">\n";
  const double bar_left = left;
  svg += text_element(map.value_label, bar_left + bar_width + 10, legend_top + 11, "class=\"value-label\"", 0);
  svg += "<rect x=\"" + px(bar_left) + "\" y=\"" + px(legend_top) + "\" width=\"" + px(bar_width) +
         "\" height=\"14\" fill=\"url(#ramp)\" stroke=\"#333333\"/>\n";
  if (!range.empty()) {
    svg += text_element(fixed(range.lo, 2), bar_left, legend_top + 28, "text-anchor=\"start\"", 0);
    svg += text_element(fixed(range.hi, 2), bar_left + bar_width, legend_top + 28, "text-anchor=\"end\"", 0);
  }
  svg += "</g>\n";
  if (!map.note.empty()) svg += text_element(map.note, 12, legend_top + 48, "class=\"note\"", 0);
  svg += "</svg>\n";
  return svg;
}

std::string render_bar_chart_svg(const BarChart& chart) {
  const std::size_t n = chart.names.size();
  SPML_CHECK(chart.values.size() == n, "render_bar_chart_svg: ", chart.values.size(), " values for ", n, " names");
  SPML_CHECK(chart.texts.empty() || chart.texts.size() == n, "render_bar_chart_svg: ", chart.texts.size(),
             " texts for ", n, " names");
  const auto bar_text = [&](std::size_t i) {
    if (!chart.texts.empty() && !chart.texts[i].empty()) return chart.texts[i];
    return std::isfinite(chart.values[i]) ? fixed(chart.values[i], 2) : std::string("-");
  };
  constexpr double kBarWidth = 36, kPlotHeight = 220, kMaxNameChars = 40, kMaxSlot = 120;
  constexpr double kSmallCharWidth = kCharWidth * 10 / kFontSize;  // the texts above the bars are 10 px
  // Each bar's slot is wide enough for the longest text above a bar (up to kMaxSlot; longer ones are cut).
  double slot = 56;
  for (std::size_t i = 0; i < n; ++i) slot = std::max(slot, kSmallCharWidth * double(utf8_length(bar_text(i))) + 10);
  slot = std::min(slot, kMaxSlot);
  const std::size_t text_chars = std::size_t((slot - 6) / kSmallCharWidth);
  Range range;
  range.add(0);
  for (const double v : chart.values)
    if (std::isfinite(v)) range.add(v);
  const std::vector<double> ticks = nice_ticks(range.lo, range.hi);
  double longest = 0;
  for (const std::string& name : chart.names) longest = std::max(longest, text_width(name));
  longest = std::min(longest, kCharWidth * kMaxNameChars);
  Axes axes;
  axes.left = kMarginLeft;
  axes.top = kMarginTop + 12;  // room for the texts above the highest bar
  axes.width = slot * double(std::max<std::size_t>(1, n));
  axes.height = kPlotHeight;
  axes.x_lo = 0;
  axes.x_hi = double(std::max<std::size_t>(1, n));
  axes.y_lo = ticks.front();
  axes.y_hi = ticks.back();
  const double bottom = axes.top + axes.height;
  const double width = std::max({axes.left + axes.width + kMarginRight + longest * 0.71, text_width(chart.title) + 24,
                                 text_width(chart.note) + 24});
  const double names_bottom = bottom + 16 + longest * 0.71;
  const double height = names_bottom + (chart.note.empty() ? 12 : 30);

  std::string svg = svg_header(width, height);
  svg += text_element(chart.title, axes.left + axes.width / 2, 18,
                      "class=\"title\" text-anchor=\"middle\" font-weight=\"bold\"", 0);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (const double t : ticks) {
    const double y = axes.px_y(t);
    svg += "<line x1=\"" + px(axes.left - 4) + "\" y1=\"" + px(y) + "\" x2=\"" + px(axes.left + axes.width) +
           "\" y2=\"" + px(y) + "\" stroke=\"#e0e0e0\"/>\n";
    svg +=
        text_element(tick_label(t, step), axes.left - 7, y + kFontSize / 3, "class=\"tick-y\" text-anchor=\"end\"", 0);
  }
  const double y_label_y = axes.top + axes.height / 2;
  svg += "<text class=\"y-label\" x=\"14\" y=\"" + px(y_label_y) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 14 " + px(y_label_y) + ")\">" + xml_escaped(chart.y_label) +
         "</text>\n";
  const double zero = axes.px_y(0);
  svg += "<g class=\"bars\">\n";
  for (std::size_t i = 0; i < n; ++i) {
    const double centre = axes.left + slot * (double(i) + 0.5), v = chart.values[i];
    double text_y = zero - 4;
    if (std::isfinite(v)) {
      const double top = std::min(zero, axes.px_y(v)), bar_height = std::fabs(axes.px_y(v) - zero);
      const bool outlined = int(i) == chart.outlined;
      svg += "<rect x=\"" + px(centre - kBarWidth / 2) + "\" y=\"" + px(top) + "\" width=\"" + px(kBarWidth) +
             "\" height=\"" + px(bar_height) + "\" fill=\"" + kSeriesColours[0] + "\"" +
             (outlined ? " stroke=\"#d62728\" stroke-width=\"3\" class=\"outline\"" : "") + "/>\n";
      text_y = std::min(zero, axes.px_y(v)) - 4;
    }
    svg += text_element(bar_text(i), centre, text_y, "text-anchor=\"middle\" font-size=\"10\"", text_chars);
    svg += text_element(
        chart.names[i], centre + 4, bottom + 14,
        "class=\"name\" text-anchor=\"end\" transform=\"rotate(-45 " + px(centre + 4) + " " + px(bottom + 14) + ")\"",
        std::size_t(kMaxNameChars));
  }
  svg += "</g>\n";
  svg += "<rect x=\"" + px(axes.left) + "\" y=\"" + px(axes.top) + "\" width=\"" + px(axes.width) + "\" height=\"" +
         px(axes.height) + "\" fill=\"none\" stroke=\"#333333\"/>\n";
  if (!chart.note.empty()) svg += text_element(chart.note, 12, names_bottom + 18, "class=\"note\"", 0);
  svg += "</svg>\n";
  return svg;
}

}  // namespace spml::training
