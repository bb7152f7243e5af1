// The drawing vocabulary the report's SVG plots share: a linear axis with "nice" ticks, a plot
// frame that maps data to pixels and draws its grid, ticks and axis titles, and the palette.
//
//   top   +----------------------------+  title (above the frame)
//         |  grid line per tick         |
//   y ^   |                             |  every figure is a viewBox: the page scales it to its
//   tick  +----------------------------+  column, so one drawing serves a phone and a laptop
//         left       x ticks, x title
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace hilq::reports {

// Colours used across the report (CSS uses the same values).
namespace palette {
inline constexpr const char* kFront = "#2563eb";     // on the plot's front
inline constexpr const char* kPick = "#dc2626";      // the board's pick, limits and budgets
inline constexpr const char* kGrey = "#9ca3af";      // measured, not on the front; infeasible
inline constexpr const char* kBaseline = "#111827";  // FP32 / FP16
inline constexpr const char* kGrid = "#e5e7eb";
inline constexpr const char* kAxis = "#374151";
inline constexpr const char* kText = "#374151";
}  // namespace palette

// Linear axis over [lo, hi] with about `target` ticks at 1, 2 or 5 times a power of ten.
struct Axis {
  double lo = 0, hi = 1, step = 1;
  int digits = 0;  // decimals a tick label needs
  Axis() = default;
  Axis(double lo_in, double hi_in, bool from_zero, int target = 5);
  std::vector<double> ticks() const;
  double frac(double v) const { return (v - lo) / (hi - lo); }
};

// A plot's pixel frame: data (x, y) -> SVG coordinates.
struct Frame {
  int width = 480, height = 320;
  int left = 64, right = 18, top = 34, bottom = 46;
  Axis x, y;
  double plot_w() const { return width - left - right; }
  double plot_h() const { return height - top - bottom; }
  double px(double v) const { return left + x.frac(v) * plot_w(); }
  double py(double v) const { return top + (1 - y.frac(v)) * plot_h(); }
  double x_max_px() const { return left + plot_w(); }
  double y_max_px() const { return top + plot_h(); }
};

// Opens an <svg> that scales with its container (viewBox, width 100 %); `attributes` is raw
// attribute text (class, data-*, aria-label), already escaped by the caller.
void svg_open(std::ostream& out, int width, int height, const std::string& attributes);

// The title (escaped by the caller), grid, ticks with labels, the axis lines and both axis titles
// (the y title rotated along the axis).
void frame_svg(std::ostream& out, const Frame& f, const std::string& title,
               const std::string& x_title, const std::string& y_title);

// A number for an SVG coordinate: at most two decimals, so files stay small and stable.
std::string coord(double v);

}  // namespace hilq::reports
