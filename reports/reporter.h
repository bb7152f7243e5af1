// The interface every report format implements (HTML, CSV, JSON): one file from one RunView.
// A reporter only reads the view; it neither queries the DB nor parses JSON.
#pragma once

#include <ostream>
#include <string>

#include "reports/run_view.h"

namespace hilq::reports {

class Reporter {
 public:
  virtual ~Reporter() = default;
  // The file name the report is written to inside the output folder ("report.html", ...).
  virtual std::string file_name() const = 0;
  virtual void report(const RunView& view, std::ostream& out) const = 0;
  // Whether the file is written for this run at all (candidates.csv: only for a search run).
  virtual bool applies(const RunView& /*view*/) const { return true; }
};

}  // namespace hilq::reports
