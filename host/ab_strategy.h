// The strategy of a paired A/B run (hil-search --baseline-agent A --candidate-agent B): on each
// board the baseline and candidate builds' agents measure the same configs alternately, in ABBA
// rounds, one job at a time (the arms share the board, so they never run together).
//
//   round r:  c1: A B B A   c2: A B B A ...     queues "<board>@baseline", "<board>@candidate"
//   after min_rounds: a config whose tests are all decided stops; an INCONCLUSIVE one gets
//   another round, up to max_rounds (then it stays INCONCLUSIVE, never a silent pass)
//
// Decisions use reports::evaluate over every result of the run (Benjamini-Hochberg across all
// its tests), the same function hil-report regress recomputes the verdicts with.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "reports/verdict.h"
#include "search/strategy.h"

namespace hilq::host {

class AbStrategy : public search::Strategy {
 public:
  // `configs`: the workload's trials, each naming its physical board.
  AbStrategy(const std::vector<search::Trial>& configs, reports::VerdictParams params);

  std::vector<search::Trial> next_batch(const std::string& queue, size_t max_trials) override;
  void tell(const search::Trial& trial, const db::MeasurementRow& result) override;
  bool done() const override;
  // An A/B run is not resumable (its rounds depend on results): throws ConfigError.
  void restore(const std::vector<search::Trial>& proposed) override;

  const std::vector<reports::AbJob>& results() const { return results_; }
  const reports::VerdictParams& params() const { return params_; }

 private:
  struct Config {
    search::Trial trial;
    std::string key;
    int rounds = 0;  // started
  };
  struct Board {
    std::vector<Config> configs;
    std::deque<reports::AbSlot> plan;  // this round's jobs still to hand out
    bool in_flight = false;
    bool finished = false;
  };
  void plan_round(const std::string& name, Board& board);

  reports::VerdictParams params_;
  std::map<std::string, Board> boards_;
  std::vector<reports::AbJob> results_;
};

}  // namespace hilq::host
