// Axis ticks and plot frames for the report's SVG figures (see svg_plot.h).
#include "reports/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "reports/format.h"

namespace hilq::reports {

Axis::Axis(double lo_in, double hi_in, bool from_zero, int target) {
  if (from_zero) lo_in = std::min(0.0, lo_in);
  double span = hi_in - lo_in;
  if (!(span > 0)) span = std::max(std::abs(hi_in) * 0.1, 1e-3);
  // Data never touches the frame: 6 % room on each open side (none below a zero origin).
  lo = lo_in - (from_zero && lo_in == 0 ? 0.0 : span * 0.06);
  hi = std::max(hi_in, lo_in) + span * 0.06;
  const double raw = (hi - lo) / std::max(target - 1, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  step = mag;
  for (const double f : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (f * mag >= raw) {
      step = f * mag;
      break;
    }
  const double decimals = -std::floor(std::log10(step) + 1e-9);
  digits = std::max(0, static_cast<int>(decimals) + (std::fmod(step / mag, 1.0) != 0 ? 1 : 0));
}

std::vector<double> Axis::ticks() const {
  std::vector<double> out;
  // Whole multiples of the step, counted in integers (no drift from adding steps up).
  for (auto i = std::llround(std::ceil(lo / step - 1e-9));
       static_cast<double>(i) * step <= hi + step * 1e-9; ++i)
    out.push_back(static_cast<double>(i) * step);
  return out;
}

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

void svg_open(std::ostream& out, int width, int height, const std::string& attributes) {
  out << "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 " << width << " " << height
      << "' width='" << width << "' height='" << height << "' " << attributes << ">";
}

void frame_svg(std::ostream& out, const Frame& f, const std::string& title,
               const std::string& x_title, const std::string& y_title) {
  using namespace palette;
  out << "<text class='ptitle' x='" << f.left << "' y='18' font-weight='600'>" << title
      << "</text>";
  for (const double t : f.x.ticks()) {
    const std::string x = coord(f.px(t));
    out << "<line x1='" << x << "' y1='" << f.top << "' x2='" << x << "' y2='"
        << coord(f.y_max_px()) << "' stroke='" << kGrid << "'/>";
    out << "<text x='" << x << "' y='" << coord(f.y_max_px() + 15) << "' text-anchor='middle'>"
        << fixed(t, f.x.digits) << "</text>";
  }
  for (const double t : f.y.ticks()) {
    const std::string y = coord(f.py(t));
    out << "<line x1='" << f.left << "' y1='" << y << "' x2='" << coord(f.x_max_px()) << "' y2='"
        << y << "' stroke='" << kGrid << "'/>";
    out << "<text x='" << f.left - 5 << "' y='" << coord(f.py(t) + 4) << "' text-anchor='end'>"
        << fixed(t, f.y.digits) << "</text>";
  }
  out << "<path d='M" << f.left << " " << f.top << "V" << coord(f.y_max_px()) << "H"
      << coord(f.x_max_px()) << "' fill='none' stroke='" << kAxis << "'/>";
  out << "<text x='" << coord(f.left + f.plot_w() / 2) << "' y='" << f.height - 8
      << "' text-anchor='middle'>" << x_title << "</text>";
  const std::string cy = coord(f.top + f.plot_h() / 2);
  out << "<text x='14' y='" << cy << "' text-anchor='middle' transform='rotate(-90 14 " << cy
      << ")'>" << y_title << "</text>";
}

}  // namespace hilq::reports
