// measurements.csv: one row per measurement of the run, every DB column other tools read, the job
// config and metrics as the JSON text stored. The columns are a contract: append, never rename.
#pragma once

#include <string>

#include "reports/reporter.h"

namespace hilq::reports {

class CsvReporter : public Reporter {
 public:
  std::string file_name() const override { return "measurements.csv"; }
  void report(const RunView& view, std::ostream& out) const override;
};

// Quotes a field holding a comma, quote or line break (RFC 4180), doubling its quotes.
std::string csv_escape(const std::string& field);

}  // namespace hilq::reports
