// hil-report: writes a run's report (HTML + CSV + JSON; candidates.csv for a search run) from the
// SQLite file alone. Parses the command line (CLI11) and calls write_run_report().
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "base/cli.h"
#include "db/database.h"
#include "db/run_store.h"
#include "reports/run_report.h"

namespace {

int run(int argc, char** argv) {
  std::string db_path, out_dir = "results/latest";
  long long run_id = -1;
  CLI::App app{
      "Writes report.html, measurements.csv and measurements.json for one run (and candidates.csv "
      "for\na search run), from the SQLite file alone.",
      "hil-report"};
  hilq::cli::configure(app);
  app.add_option("--db", db_path, "the hilq SQLite file (required)")->type_name("FILE")->required();
  app.add_option("--out", out_dir, "output folder (default results/latest)")->type_name("DIR");
  app.add_option("--run", run_id, "run to report (default: the latest run in the file)")
      ->type_name("ID")
      ->check(CLI::Range(1LL, std::numeric_limits<long long>::max()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  if (FILE* f = std::fopen(db_path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    std::fprintf(stderr, "hil-report: no database at '%s'\n", db_path.c_str());
    return hilq::cli::kExitError;
  }
  // Read-only: a report never writes the file (no WAL switch, no migration), so it works on a
  // file it may not write, e.g. a copy from a CI artifact or a read-only mount.
  hilq::db::Database db(db_path, hilq::db::OpenMode::kReadOnly);
  hilq::db::RunStore store(db);
  if (run_id < 0) {
    const auto latest = store.latest_run_id();
    if (!latest) {
      std::fprintf(stderr, "hil-report: '%s' holds no runs\n", db_path.c_str());
      return hilq::cli::kExitError;
    }
    run_id = *latest;
  }
  const auto files = hilq::reports::write_run_report(db, run_id, out_dir);
  for (const auto& path : files.paths) std::printf("%s\n", path.c_str());
  return hilq::cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-report", [&] { return run(argc, argv); });
}
