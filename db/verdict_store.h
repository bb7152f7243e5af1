// Typed access to the A/B tables (migration 5): ab_jobs, where each job of a paired run sits
// (board, config key, arm, round, ABBA slot), and verdicts, one row per (run, board, config,
// metric) as hil-search decided it at the end of the run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::db {

struct AbJobRow {
  std::string job_id;
  int64_t run_id = 0;
  std::string board, config, arm;
  int round = 0, slot = 0;
};

struct VerdictRow {
  int64_t run_id = 0;
  std::string board, config, metric, method;
  std::optional<std::string> baseline_version, candidate_version;
  std::optional<double> estimate, ci_low, ci_high, p, p_adjusted, baseline_value, candidate_value;
  int rounds = 0, rounds_used = 0, rounds_dropped = 0;
  std::string verdict;
  std::optional<std::string> reason;
  std::string created_at;
};

class VerdictStore {
 public:
  explicit VerdictStore(Database& db) : db_(db) {}

  // The job row must exist (jobs.id); a second row for the same job or slot is a DbError.
  void insert_ab_job(const AbJobRow& row);
  std::vector<AbJobRow> ab_jobs(int64_t run_id);
  // Runs with A/B jobs, oldest first.
  std::vector<int64_t> ab_runs();
  // Replaces the run's verdicts with these (one transaction).
  void replace_verdicts(int64_t run_id, const std::vector<VerdictRow>& rows);
  std::vector<VerdictRow> verdicts(int64_t run_id);

 private:
  Database& db_;
};

}  // namespace hilq::db
