// Number and duration formatting (see format.h).
#include "reports/format.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace hilq::reports {

std::string number_text(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}

std::string number_text(int64_t v) { return std::to_string(v); }

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string duration_text(double ns) {
  char buf[64];
  if (ns >= 1e9)
    std::snprintf(buf, sizeof(buf), "%.3f s", ns / 1e9);
  else if (ns >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.3f ms", ns / 1e6);
  else if (ns >= 1e3)
    std::snprintf(buf, sizeof(buf), "%.2f µs", ns / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f ns", ns);
  return buf;
}

}  // namespace hilq::reports
