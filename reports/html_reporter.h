// report.html: the run's status, for a search run its Pareto section per board (pareto_html.h),
// the model table (decode speed-up over FP16, energy or why there
// is none), the latency plot as inline SVG, the agents and every measurement, failed ones included.
#pragma once

#include <string>

#include "reports/reporter.h"

namespace hilq::reports {

class HtmlReporter : public Reporter {
 public:
  std::string file_name() const override { return "report.html"; }
  void report(const RunView& view, std::ostream& out) const override;
};

// Escapes the five characters HTML gives a meaning (& < > " ').
std::string html_escape(const std::string& text);

}  // namespace hilq::reports
