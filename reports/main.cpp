// hil-report: writes a run's report (HTML + CSV + JSON; candidates.csv for a search run) from the
// SQLite file alone; `regress` gives an A/B run's regression verdicts and `history` the change
// points of one board and config across A/B runs. Parses the command line (CLI11) and calls the
// library.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>

#include "base/cli.h"
#include "db/database.h"
#include "db/run_store.h"
#include "reports/run_report.h"
#include "reports/verdict_report.h"

namespace {

namespace fs = std::filesystem;
using hilq::cli::kExitError;

// Read-only: a report never writes the file (no WAL switch, no migration), so it works on a
// file it may not write, e.g. a copy from a CI artifact or a read-only mount.
std::optional<hilq::db::Database> open_db(const std::string& db_path) {
  if (FILE* f = std::fopen(db_path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    std::fprintf(stderr, "hil-report: no database at '%s'\n", db_path.c_str());
    return std::nullopt;
  }
  return std::optional<hilq::db::Database>(std::in_place, db_path, hilq::db::OpenMode::kReadOnly);
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw hilq::Error("cannot write " + path.string());
}

struct VerdictFlags {
  std::string db_path, out_dir;
  long long run_id = -1;
  std::optional<double> alpha, delta;
};

int run_regress(const VerdictFlags& f, bool json_stdout) {
  auto db = open_db(f.db_path);
  if (!db) return kExitError;
  long long run_id = f.run_id;
  if (run_id < 0) {
    const auto latest = hilq::reports::latest_ab_run(*db);
    if (!latest) {
      std::fprintf(stderr, "hil-report regress: '%s' holds no A/B run\n", f.db_path.c_str());
      return 4;  // insufficient data
    }
    run_id = *latest;
  }
  std::optional<hilq::reports::VerdictParams> params;
  if (f.alpha || f.delta) {
    params = hilq::reports::load_verdict_params(*db, run_id);
    if (f.alpha) params->alpha = *f.alpha;
    if (f.delta) params->delta_latency = *f.delta / 100.0;
  }
  const auto report = hilq::reports::regress_report(*db, run_id, params);
  const std::string md = hilq::reports::regress_markdown(report);
  const std::string js = hilq::reports::regress_json(report).dump(2) + "\n";
  if (!f.out_dir.empty()) {
    fs::create_directories(f.out_dir);
    write_file(fs::path(f.out_dir) / "regress.md", md);
    write_file(fs::path(f.out_dir) / "regress.json", js);
  }
  std::fputs(json_stdout ? js.c_str() : md.c_str(), stdout);
  return report.exit_code;
}

int run_history(const VerdictFlags& f, const std::string& board, const std::string& config,
                const std::string& metric, const hilq::reports::ChangePointOptions& options,
                bool json_stdout) {
  auto db = open_db(f.db_path);
  if (!db) return kExitError;
  const auto history = hilq::reports::load_history(*db, board, config, metric, options);
  const std::string md = hilq::reports::history_markdown(history);
  const std::string js = hilq::reports::history_json(history).dump(2) + "\n";
  if (!f.out_dir.empty()) {
    fs::create_directories(f.out_dir);
    write_file(fs::path(f.out_dir) / "history.md", md);
    write_file(fs::path(f.out_dir) / "history.json", js);
  }
  std::fputs(json_stdout ? js.c_str() : md.c_str(), stdout);
  return hilq::cli::kExitOk;
}

int run(int argc, char** argv) {
  std::string db_path, out_dir = "results/latest";
  long long run_id = -1;
  CLI::App app{
      "Writes report.html, measurements.csv and measurements.json for one run (and candidates.csv "
      "for\na search run), from the SQLite file alone. Subcommands: regress (an A/B run's "
      "verdicts),\nhistory (change points of one board and config across A/B runs).",
      "hil-report"};
  hilq::cli::configure(app);
  app.require_subcommand(0, 1);
  app.add_option("--db", db_path, "the hilq SQLite file (required)")->type_name("FILE");
  app.add_option("--out", out_dir, "output folder (default results/latest)")->type_name("DIR");
  app.add_option("--run", run_id, "run to report (default: the latest run in the file)")
      ->type_name("ID")
      ->check(CLI::Range(1LL, std::numeric_limits<long long>::max()));

  VerdictFlags rf;
  bool regress_json = false;
  CLI::App* regress = app.add_subcommand(
      "regress",
      "the regression verdicts of an A/B run (hil-search --baseline-agent/--candidate-agent),\n"
      "recomputed from its raw samples: Markdown on stdout (JSON with --json).\n"
      "Exit 0 no regression, 3 regression, 4 inconclusive or insufficient data, 1 error, 2 usage.");
  regress->add_option("--db", rf.db_path, "the hilq SQLite file (required)")
      ->type_name("FILE")
      ->required();
  regress->add_option("--run", rf.run_id, "A/B run to judge (default: the latest A/B run)")
      ->type_name("ID")
      ->check(CLI::Range(1LL, std::numeric_limits<long long>::max()));
  regress->add_option("--out", rf.out_dir, "also write regress.md and regress.json here")
      ->type_name("DIR");
  regress->add_option("--alpha", rf.alpha, "re-judge with this alpha (default: the run's)")
      ->type_name("A")
      ->check(hilq::cli::number_in(0, 1, true));
  regress
      ->add_option("--delta", rf.delta,
                   "re-judge with this latency delta in percent (default: the run's)")
      ->type_name("PCT")
      ->check(hilq::cli::number_in(0, 100, true));
  regress->add_flag("--json", regress_json, "print the JSON instead of the Markdown");

  VerdictFlags hf;
  std::string board, config, metric;
  hilq::reports::ChangePointOptions cp;
  bool history_json = false;
  CLI::App* history = app.add_subcommand(
      "history",
      "change points (E-divisive means with a t-test) over the nightly estimates of one board\n"
      "and config across the file's A/B runs, with the builds on either side.");
  history->add_option("--db", hf.db_path, "the hilq SQLite file (required)")
      ->type_name("FILE")
      ->required();
  history->add_option("--board", board, "board (required)")->type_name("B")->required();
  history->add_option("--config", config, "config key as regress prints it (required)")
      ->type_name("C")
      ->required();
  history
      ->add_option("--metric", metric,
                   "latency, decode, prefill, energy or memory_bytes (default: the latency)")
      ->type_name("M");
  history->add_option("--p", cp.p, "a change point needs a t-test p below this (default 0.001)")
      ->type_name("P")
      ->check(hilq::cli::number_in(0, 1, true));
  history->add_option("--window", cp.window, "points per window (default 50)")
      ->type_name("N")
      ->check(CLI::Range(6, 100000));
  history->add_option("--min-segment", cp.min_segment, "points on each side (default 3)")
      ->type_name("N")
      ->check(CLI::Range(2, 1000));
  history->add_option("--out", hf.out_dir, "also write history.md and history.json here")
      ->type_name("DIR");
  history->add_flag("--json", history_json, "print the JSON instead of the Markdown");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  if (regress->parsed()) return run_regress(rf, regress_json);
  if (history->parsed()) {
    if (cp.window < 2 * cp.min_segment) {
      std::fprintf(stderr, "hil-report history: --window %d must hold two --min-segment %d\n",
                   cp.window, cp.min_segment);
      return hilq::cli::kExitUsage;
    }
    return run_history(hf, board, config, metric, cp, history_json);
  }
  if (db_path.empty()) {
    std::fprintf(stderr, "hil-report: --db is required (see --help)\n");
    return hilq::cli::kExitUsage;
  }
  auto db = open_db(db_path);
  if (!db) return kExitError;
  hilq::db::RunStore store(*db);
  if (run_id < 0) {
    const auto latest = store.latest_run_id();
    if (!latest) {
      std::fprintf(stderr, "hil-report: '%s' holds no runs\n", db_path.c_str());
      return kExitError;
    }
    run_id = *latest;
  }
  const auto files = hilq::reports::write_run_report(*db, run_id, out_dir);
  for (const auto& path : files.paths) std::printf("%s\n", path.c_str());
  return hilq::cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-report", [&] { return run(argc, argv); });
}
