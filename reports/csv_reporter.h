// measurements.csv: one row per measurement of the run, every DB column other tools read, the job
// config and metrics as the JSON text stored; candidates.csv for a search run. The columns are a
// contract: append, never rename.
#pragma once

#include <string>

#include "reports/reporter.h"

namespace hilq::reports {

class CsvReporter : public Reporter {
 public:
  std::string file_name() const override { return "measurements.csv"; }
  void report(const RunView& view, std::ostream& out) const override;
};

// candidates.csv, for a search run only: one row per candidate and model-bench measurement of it
// (any board, failed ones included), plus one row with empty measured columns for a candidate no
// board measured; its fronts and the pick rule on that board. Columns: append, never rename.
class CandidatesCsvReporter : public Reporter {
 public:
  std::string file_name() const override { return "candidates.csv"; }
  void report(const RunView& view, std::ostream& out) const override;
  bool applies(const RunView& view) const override { return view.search.has_value(); }
};

// Quotes a field holding a comma, quote or line break (RFC 4180), doubling its quotes.
std::string csv_escape(const std::string& field);

}  // namespace hilq::reports
