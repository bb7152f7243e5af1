// Typed access to the search's tables (migration 4): the sensitivity and score caches, which
// every run of the same model shares, and per run what became of each candidate, the Pareto
// fronts and each board's pick.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::db {

// One unit quantized alone at one setting (everything else float), on a split's windows.
struct SensitivityRow {
  std::string model_hash;
  std::string unit;     // "layers.1.mlp.down", "embed", or "layers.1.act" for a block's inputs
  std::string setting;  // "W3" (weight only) or "W8A4", "W8A4-TA8/4" for activations
  std::string split;
  int windows = 0;
  std::string metric;  // perplexity | accuracy
  double value = 0;
  double metric_change = 0;  // relative perplexity increase, or accuracy points lost
  double output_kl = 0;      // mean KL(float || quantized) of the output distribution
  int scorer_version = 1;    // the scoring arithmetic that computed it (migration 6)
};

// A cached host score of one config of one model.
struct ScoreRow {
  std::string model_hash;
  std::string config_hash;
  std::string split;
  int windows = 0;
  std::string metric;
  double value = 0;
  std::optional<double> output_kl;
  double seconds = 0;      // what the scoring cost when it ran
  int scorer_version = 1;  // the scoring arithmetic that computed it (migration 6)
};

// What the search decided about a candidate (candidates' columns of migration 4).
struct CandidateOutcome {
  std::optional<std::string> label;
  std::optional<int64_t> memory_bytes;
  std::string status;  // reference | feasible | over-quality | over-budget | pruned
  std::optional<std::string> reason;
  std::optional<std::string> artifact_sha256;
};

// A model-bench measurement of a candidate on a board (the columns fronts need).
struct MeasuredPoint {
  int64_t measurement_id = 0;
  int64_t run_id = 0;  // another run's: a cache hit
  double decode_ms_median = 0;
  std::optional<double> decode_ms_p90, prefill_ms;
  std::optional<int64_t> model_bytes, peak_rss_bytes;
  std::optional<double> energy_per_token_j;
  std::optional<std::string> power_unavailable;
  bool emulated = false;
};

struct PickRow {
  int64_t run_id = 0;
  std::string board;
  std::string rule;  // "tradeoff mu=0.5" | "lexicographic"
  int64_t candidate_id = 0;
  std::optional<double> score;
};

class SearchStore {
 public:
  explicit SearchStore(Database& db) : db_(db) {}

  // The cache lookups find only rows of scorer_version (an older scorer's row is a miss, and the
  // put that follows replaces it).
  std::optional<SensitivityRow> sensitivity(const std::string& model_hash, const std::string& unit,
                                            const std::string& setting, const std::string& split,
                                            int windows, int scorer_version);
  void put_sensitivity(const SensitivityRow& row);
  std::vector<SensitivityRow> sensitivities(const std::string& model_hash);

  std::optional<ScoreRow> score(const std::string& model_hash, const std::string& config_hash,
                                const std::string& split, int windows, const std::string& metric,
                                int scorer_version);
  void put_score(const ScoreRow& row);

  // The newest ok model-bench measurement of candidate candidate_id on a board in this run (a
  // measurement reused from another run is copied into it: reuse_measurement).
  std::optional<MeasuredPoint> measured(int64_t run_id, int64_t candidate_id,
                                        const std::string& board);
  // The measurement cache: the newest ok model-bench measurement in another run of the same
  // config (candidates.config_hash) on the board, by an agent of build agent_version, for a job
  // of the same config (prompt, decode tokens, threads, setting; jobs.config).
  std::optional<MeasuredPoint> cached_measurement(int64_t run_id, const std::string& config_hash,
                                                  const std::string& board,
                                                  const std::string& agent_version,
                                                  const std::string& job_config);
  // Records another run's measurement as this run's measurement of candidate_id (a cache hit):
  // a copy with job id "r<run>-reuse-<its job id>" and metrics.reused_from naming the original,
  // so that every run's report and fronts read from the run alone.
  void reuse_measurement(int64_t measurement_id, int64_t run_id, int64_t candidate_id);
  void set_run_constraints(int64_t run_id, const std::string& json);

  void set_outcome(int64_t candidate_id, const CandidateOutcome& outcome);
  std::optional<CandidateOutcome> outcome(int64_t candidate_id);

  // Replaces a board's front for one objective pair ("metric-latency", ...).
  void set_front(int64_t run_id, const std::string& board, const std::string& objective_pair,
                 const std::vector<int64_t>& candidate_ids);
  std::vector<int64_t> front(int64_t run_id, const std::string& board,
                             const std::string& objective_pair);
  void set_pick(const PickRow& pick);
  std::optional<PickRow> pick(int64_t run_id, const std::string& board);

 private:
  Database& db_;
};

}  // namespace hilq::db
