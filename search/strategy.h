// The ask/tell contract between a search and the run session that measures for it: the session
// asks a Strategy for trials as boards have room, runs them, and tells it each result.
//
//   session                              strategy
//   next_batch(board, room) ──────────▶  trials to measure on that board (maybe none yet)
//   ... agents measure ...
//   tell(trial, measurement row) ─────▶  a result (ok, or failed with its class and message)
//   done()? ──────────────────────────▶  true once it will propose nothing more
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "db/measurement_store.h"

namespace hilq::search {

// How often an agent repeats a trial's measurement: warm-up runs are discarded, then it repeats
// until both min_repeats and min_time_s are reached (max_repeats caps it).
struct Repeat {
  int warmup = 3;
  int min_repeats = 10;
  int max_repeats = 10000;
  double min_time_s = 0.2;
};

// One measurement to make on one board kind: a job without its id (the session names it).
struct Trial {
  std::string board;
  std::string kind;  // kernel-bench, model-bench, noop
  nlohmann::json config = nlohmann::json::object();
  Repeat repeat;
  std::string artifact;                 // a file the job names by sha256; empty: the run's artifact
  std::optional<int64_t> candidate_id;  // the candidate it measures (candidates.id)
  // The strategy's own label of the trial, opaque to the session and handed back with the
  // result (an A/B run: board, config, arm, round and ABBA slot).
  nlohmann::json tag;
};

class Strategy {
 public:
  virtual ~Strategy() = default;

  // At most `max_trials` trials to run next on `board`; fewer or none when there is nothing to
  // propose there until more results are told.
  virtual std::vector<Trial> next_batch(const std::string& board, size_t max_trials) = 0;
  // The result of a trial this strategy proposed (or restored). A failed trial is a row with
  // status "failed", its error class and message, never a sentinel number.
  virtual void tell(const Trial& trial, const db::MeasurementRow& result) = 0;
  // True when no board will be offered another trial.
  virtual bool done() const = 0;
  // --resume: the trials an earlier session already proposed, in the order it did; a
  // deterministic strategy continues after them. Their results follow through tell().
  virtual void restore(const std::vector<Trial>& proposed) = 0;
  // Trials in all when known up front (for progress lines), else nullopt.
  virtual std::optional<size_t> planned() const { return std::nullopt; }
};

}  // namespace hilq::search
