// Typed access to candidates and their evaluations: a candidate is a configuration of a run
// (unique by its canonical hash), an evaluation one metric of it on one data split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::db {

struct CandidateRow {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string config;       // JSON
  std::string config_hash;  // of the canonical config text
  std::optional<std::string> tier;
  std::optional<int64_t> parent_id;
};

struct EvaluationRow {
  int64_t candidate_id = 0;
  std::string split;   // e.g. validation, test, dev, train
  std::string metric;  // e.g. perplexity, accuracy, qat_tokens_per_s, seconds
  double value = 0;
};

class EvaluationStore {
 public:
  explicit EvaluationStore(Database& db) : db_(db) {}

  // The candidate of this run with this config hash: inserted the first time, its id after.
  int64_t candidate(int64_t run_id, const std::string& config, const std::string& config_hash,
                    const std::optional<std::string>& tier = std::nullopt,
                    const std::optional<int64_t>& parent_id = std::nullopt);
  std::vector<CandidateRow> candidates(int64_t run_id);
  // One metric of a candidate on a split; recording it again replaces the value.
  void record(const EvaluationRow& e);
  std::vector<EvaluationRow> evaluations(int64_t candidate_id);

 private:
  Database& db_;
};

}  // namespace hilq::db
