// write_run_report (see run_report.h): load the view, then one reporter per file.
#include "reports/run_report.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "reports/json_reporter.h"
#include "reports/pareto_reporter.h"
#include "reports/run_view.h"

namespace hilq::reports {

ReportFiles write_run_report(db::Database& db, int64_t run_id, const std::string& out_dir) {
  namespace fs = std::filesystem;
  const RunView view = load_run_view(db, run_id);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw std::runtime_error("cannot create report folder " + out_dir + ": " + ec.message());
  const HtmlReporter html;
  const CsvReporter csv;
  const JsonReporter json;
  const CandidatesCsvReporter candidates_csv;
  const ParetoCsvReporter pareto_csv;
  const ParetoJsonReporter pareto_json;
  ReportFiles files;
  for (const Reporter* reporter :
       {static_cast<const Reporter*>(&html), static_cast<const Reporter*>(&csv),
        static_cast<const Reporter*>(&json), static_cast<const Reporter*>(&candidates_csv),
        static_cast<const Reporter*>(&pareto_csv), static_cast<const Reporter*>(&pareto_json)}) {
    if (!reporter->applies(view)) continue;
    const fs::path path = fs::path(out_dir) / reporter->file_name();
    std::ofstream out(path, std::ios::binary);
    reporter->report(view, out);
    out.close();
    if (!out) throw std::runtime_error("cannot write report file " + path.string());
    files.paths.push_back(path.string());
  }
  return files;
}

}  // namespace hilq::reports
