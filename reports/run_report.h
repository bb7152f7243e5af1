// Reports of one run, written from the SQLite file alone: report.html (summary, latency plot as
// inline SVG, table), measurements.csv and measurements.json, and for a search run (one with
// candidates) candidates.csv, the Pareto section and a "search" object. It loads the run's RunView
// once and hands it to one Reporter per file (html_reporter.h, csv_reporter.h, json_reporter.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "db/database.h"
#include "reports/csv_reporter.h"   // csv_escape
#include "reports/html_reporter.h"  // html_escape

namespace hilq::reports {

struct ReportFiles {
  std::vector<std::string> paths;  // every file written
};

// Throws DbError for an unknown run and std::runtime_error when out_dir cannot be written.
ReportFiles write_run_report(db::Database& db, int64_t run_id, const std::string& out_dir);

}  // namespace hilq::reports
