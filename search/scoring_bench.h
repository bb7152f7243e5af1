// Host scoring throughput (bench_scoring): how fast the search scores candidates, measured on the
// search's own path. For every setting and thread count, a HostScorer with those threads runs
//
//   candidate   score_transient() on the calibration split, as the sensitivity tier scores a
//               config: pack (PTQ clipping + export to a file), load, score against the float
//               reference; candidates/s = 1 / its seconds
//   validation  score() of the packed file on the validation split (load, then score), as the
//               tiers check the quality limit; no score cache
//
// each `repeats` times, and reports the medians. tokens/s = windows * seq / scoring seconds (the
// forward passes and the metric, without pack and load).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/setting.h"
#include "search/scorer.h"

namespace hilq::search {

struct ScoringBenchOptions {
  ScorerOptions scorer;  // its threads are replaced by each of thread_counts; task lm only
  std::vector<model::Setting> settings;
  std::vector<int> thread_counts;  // e.g. {1, 2}
  int repeats = 3;
  std::function<void(const std::string&)> progress;  // a line per measured row; may be empty
};

struct ScoringBenchRow {
  std::string setting;  // the setting's label
  int threads = 0;
  int64_t calibration_tokens = 0, validation_tokens = 0;  // predicted positions per scoring
  // Medians over the repeats, in seconds.
  double pack = 0, load = 0, calibration = 0, validation = 0;
  // The first repeat's packing: it searches every unit's clipping, later ones find the steps in
  // the scorer's step cache (as a search's candidates after the first mostly do).
  double pack_first = 0;
  // Medians of the process's CPU seconds per candidate (pack, load, calibration) and per
  // validation scoring (load included): less sensitive than wall time to other processes.
  double candidate_cpu = 0, validation_cpu = 0;
  // Medians of the validation scoring's phases (LmPhases), microseconds of thread time per token:
  // where the scoring's time goes, without a profiler.
  double forward_us = 0, log_softmax_us = 0, kl_us = 0;
  double calibration_perplexity = 0, validation_perplexity = 0;
  double calibration_kl = 0, validation_kl = 0;

  double calibration_tokens_per_s() const { return calibration_tokens / calibration; }
  double validation_tokens_per_s() const { return validation_tokens / validation; }
  double validation_tokens_per_cpu_s() const { return validation_tokens / validation_cpu; }
  // The calibration scoring of a new config, packing and loading included.
  double candidates_per_s() const { return 1.0 / (pack + load + calibration); }
};

struct ScoringBench {
  std::vector<ScoringBenchRow> rows;
  int seq = 0, calibration_windows = 0, validation_windows = 0;
};

// Throws what HostScorer throws (model, data, settings); UsageError for a cls task, no setting
// or thread count, FP16 or as-stored (not configs the search scores), or repeats < 1.
ScoringBench bench_scoring(const ScoringBenchOptions& options);

// A Markdown table of the rows.
std::string format_scoring_bench(const ScoringBench& bench);

}  // namespace hilq::search
