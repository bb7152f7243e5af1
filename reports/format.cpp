// Number and duration formatting (see format.h).
#include "reports/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

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

std::string kernel_summary(const std::string& kernels) {
  std::vector<std::string> isas, ops, formats;
  auto add = [](std::vector<std::string>& list, const std::string& v) {
    if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
  };
  std::stringstream in(kernels);
  std::string kernel;
  while (std::getline(in, kernel, '+')) {
    const size_t isa = kernel.find("__");
    const size_t op = kernel.find('_');
    if (isa == std::string::npos || op == std::string::npos || op >= isa) return kernels;
    const size_t format = kernel.find('_', op + 1);
    add(isas, kernel.substr(isa + 2));
    add(ops, kernel.substr(0, op));
    add(formats, kernel.substr(op + 1, std::min(format, isa) - op - 1));
  }
  if (isas.empty()) return kernels;
  auto join = [](const std::vector<std::string>& list, const char* sep) {
    std::string out;
    for (const auto& v : list) out += (out.empty() ? "" : sep) + v;
    return out;
  };
  return join(isas, "+") + ": " + join(ops, "/") + " " + join(formats, " ");
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
