// The outputs of the verdict part of hil-report: `regress` (a run's verdicts as Markdown and
// JSON, recomputed from the raw samples in the file) and `history` (the nightly estimates of one
// board and config across A/B runs, with their change points and the builds on either side).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "db/verdict_store.h"
#include "reports/change_points.h"
#include "reports/verdict.h"

namespace hilq::reports {

struct RegressReport {
  int64_t run_id = 0;
  std::optional<std::string>
      git_sha;  // of the host build that ran it (scripts/nightly: the candidate)
  VerdictParams params;
  std::vector<TestResult> tests;
  std::map<std::string, std::string> energy_unmeasured;  // "board config" -> why
  int exit_code = 4;
};

// Recomputes the verdicts of an A/B run from its raw samples with the run's parameters (or
// `params` when given). Throws ConfigError when the run does not exist or is not an A/B run.
RegressReport regress_report(db::Database& db, int64_t run_id,
                             const std::optional<VerdictParams>& params = std::nullopt);
// The latest run of the file that has A/B jobs, if any.
std::optional<int64_t> latest_ab_run(db::Database& db);

std::string regress_markdown(const RegressReport& report);
nlohmann::json regress_json(const RegressReport& report);
// The rows hil-search stores in `verdicts` at the end of the run.
std::vector<db::VerdictRow> verdict_rows(int64_t run_id, const std::vector<TestResult>& tests);

struct HistoryPoint {
  int64_t run_id = 0;
  std::string started_at;
  std::string build;            // the candidate agent's version "<ver>+<sha>"
  double value = 0;             // the candidate arm's median round value (ns, bytes or J)
  std::optional<double> ratio;  // its estimate against that night's baseline
  std::string verdict;
};
struct History {
  std::string board, config, metric;
  ChangePointOptions options;
  std::vector<HistoryPoint> points;
  std::vector<ChangePoint> changes;  // index into points
};

// One point per A/B run holding (board, config, metric), oldest first. `metric` empty: the
// config's latency metric ("latency" or "decode"). Throws ConfigError naming the known boards
// and configs when there is nothing for the pair.
History load_history(db::Database& db, const std::string& board, const std::string& config,
                     const std::string& metric, const ChangePointOptions& options);
std::string history_markdown(const History& history);
nlohmann::json history_json(const History& history);

}  // namespace hilq::reports
