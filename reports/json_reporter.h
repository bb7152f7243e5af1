// measurements.json: the run ({id, status, command_line, started_at}) and every measurement with
// its DB columns, config and metrics as JSON; for a search run also "search" (constraints, counts,
// every candidate with its measurements, each board's fronts and pick). The keys are a contract:
// add, never rename.
#pragma once

#include <string>

#include "reports/reporter.h"

namespace hilq::reports {

class JsonReporter : public Reporter {
 public:
  std::string file_name() const override { return "measurements.json"; }
  void report(const RunView& view, std::ostream& out) const override;
};

}  // namespace hilq::reports
