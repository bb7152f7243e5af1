// pareto.csv and pareto.json, for a search run only: the rows of each board's table in
// report.html (board_rows.h: the float baselines, the fronts' members and the pick) with the
// same figures; pareto.json adds each board's energy status and pick and the search progress
// (progress.h) of this run and the comparable runs of the file. Columns and keys: append, never
// rename.
#pragma once

#include <string>

#include "reports/reporter.h"

namespace hilq::reports {

class ParetoCsvReporter : public Reporter {
 public:
  std::string file_name() const override { return "pareto.csv"; }
  void report(const RunView& view, std::ostream& out) const override;
  bool applies(const RunView& view) const override { return view.search.has_value(); }
};

class ParetoJsonReporter : public Reporter {
 public:
  std::string file_name() const override { return "pareto.json"; }
  void report(const RunView& view, std::ostream& out) const override;
  bool applies(const RunView& view) const override { return view.search.has_value(); }
};

}  // namespace hilq::reports
