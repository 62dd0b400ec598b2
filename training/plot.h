// Self-contained SVG line plots (no scripts, no external fonts or CSS) for training curves: one or more panels
// side by side, each with nice-numbered axes, a polyline plus point markers per series, and a legend.
#pragma once

#include <string>
#include <vector>

namespace spml::training {

// x and y have the same length; a non-finite x or y is a gap (the line breaks there and the point is not drawn).
struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
};

struct PlotPanel {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
};

// Tick values of an axis that covers [lo, hi]: the step is 1, 2 or 5 x 10^k, chosen so that there are about
// `target_count` ticks, and the first tick is <= lo and the last >= hi (the axis is drawn from the first to the
// last tick). lo == hi is padded to a range of its own, so a single value still gets an axis.
std::vector<double> nice_ticks(double lo, double hi, int target_count = 5);

// The panels side by side, each panel_width x panel_height pixels (an empty list gives one blank panel). Every
// series is a colour of a fixed cycle; its label is in the legend. Panels and series without finite points
// still draw their axes (range [0, 1]). Throws spml::Error when a series' x and y differ in length or the size
// is too small to hold the axes.
std::string render_svg(const std::vector<PlotPanel>& panels, int panel_width = 480, int panel_height = 320);

// render_svg written with io::write_file_atomic, so a reader never sees half a picture.
void write_svg(const std::string& path, const std::vector<PlotPanel>& panels, int panel_width = 480,
               int panel_height = 320);

// A heat map of a table of values, e.g. a hyper-parameter grid's val mAP: rows x columns cells coloured along a
// light-to-dark ramp from the smallest to the largest finite value, each with its text; a cell without a value (NaN)
// is grey. Row names run down the left, column names along the top; one cell may be outlined (e.g. the chosen one).
struct HeatMap {
  std::string title, row_label, column_label, value_label;
  std::vector<std::string> row_names, column_names;
  std::vector<std::vector<double>> values;      // [row][column]; NaN: no value
  std::vector<std::vector<std::string>> texts;  // [row][column] drawn in the cell; empty: the value, 2 decimals
  int outlined_row = -1, outlined_column = -1;  // -1: none
  std::string note;                             // a line under the picture ("" = none)
};

// Throws spml::Error when values (or a non-empty texts) do not have row_names.size() rows of
// column_names.size() entries.
std::string render_heat_map_svg(const HeatMap& map);

// One vertical bar per named value from zero (the axis covers the finite values and zero), its text above it; a
// NaN value draws no bar, only its text; one bar may be outlined. Names are written under the bars, turned 45
// degrees.
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> names;
  std::vector<double> values;      // NaN: no bar
  std::vector<std::string> texts;  // drawn above the bars; empty: the value, 2 decimals
  int outlined = -1;               // -1: none
  std::string note;                // a line under the picture ("" = none)
};

// Throws spml::Error when values (or a non-empty texts) differ in length from names.
std::string render_bar_chart_svg(const BarChart& chart);

}  // namespace spml::training
