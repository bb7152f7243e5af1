// hil-report: writes a run's report (HTML + CSV + JSON) from the SQLite file alone.
#include <cstdio>
#include <exception>
#include <string>

#include "db/database.h"
#include "db/run_store.h"
#include "reports/run_report.h"

namespace {

constexpr const char* kUsage = R"(usage: hil-report --db FILE [--out DIR] [--run ID]

Writes report.html, measurements.csv and measurements.json for one run, from the SQLite file
alone.

  --db FILE   the hilq SQLite file (required)
  --out DIR   output folder (default results/latest)
  --run ID    run to report (default: the latest run in the file)
  --help      this text
)";

}  // namespace

int main(int argc, char** argv) {
  std::string db_path, out_dir = "results/latest";
  long long run_id = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc || (arg != "--db" && arg != "--out" && arg != "--run")) {
      std::fprintf(stderr, "hil-report: %s '%s'\n%s",
                   i + 1 >= argc ? "missing value or unknown argument" : "unknown argument",
                   arg.c_str(), kUsage);
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--db") db_path = value;
    if (arg == "--out") out_dir = value;
    if (arg == "--run") {
      try {
        run_id = std::stoll(value);
      } catch (const std::exception&) {
        std::fprintf(stderr, "hil-report: --run needs a run number, not '%s'\n", value.c_str());
        return 2;
      }
    }
  }
  if (db_path.empty()) {
    std::fprintf(stderr, "hil-report: --db FILE is required\n%s", kUsage);
    return 2;
  }
  try {
    if (FILE* f = std::fopen(db_path.c_str(), "rb")) {
      std::fclose(f);
    } else {
      std::fprintf(stderr, "hil-report: no database at '%s'\n", db_path.c_str());
      return 1;
    }
    hilq::db::Database db(db_path);
    hilq::db::RunStore store(db);
    if (run_id < 0) {
      const auto latest = store.latest_run_id();
      if (!latest) {
        std::fprintf(stderr, "hil-report: '%s' holds no runs\n", db_path.c_str());
        return 1;
      }
      run_id = *latest;
    }
    const auto files = hilq::reports::write_run_report(db, run_id, out_dir);
    for (const auto& path : files.paths) std::printf("%s\n", path.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-report: %s\n", e.what());
    return 1;
  }
}
