// Reports of one run, written from the SQLite file alone: report.html (summary, latency plot as
// inline SVG, table), measurements.csv and measurements.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::reports {

struct ReportFiles {
  std::vector<std::string> paths;  // every file written
};

// Throws DbError for an unknown run and std::runtime_error when out_dir cannot be written.
ReportFiles write_run_report(db::Database& db, int64_t run_id, const std::string& out_dir);

// Pieces exposed for tests.
std::string csv_escape(const std::string& field);
std::string html_escape(const std::string& text);

}  // namespace hilq::reports
