// The end of a search run, once the boards have measured: per board the Pareto fronts among the
// feasible candidates (validation metric against measured decode latency, against memory, and
// against energy where a sensor measured it) into table `pareto`, the pick (QSLM's trade-off
// function, or least memory) into `picks`, every front member and pick scored once on test, and
// the pick exported as a deployable packed model file with its quant config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "search/scorer.h"
#include "search/tiered.h"

namespace hilq::search {

struct FinishOptions {
  std::vector<std::string> boards;
  std::string pick = "tf";  // tf | lexicographic
  double mu = 0.5;
  std::string out_dir;  // pick.safetensors, pick.quant.json (pick-<board>.* when boards differ)
};

struct BoardOutcome {
  std::string board;
  int measured = 0;  // feasible candidates with a measurement on the board
  std::vector<int64_t> latency_front, memory_front, energy_front;
  std::optional<int64_t> pick;
  std::string pick_label;
  double pick_score = 0;
  double pick_validation = 0, pick_test = 0;
  int64_t pick_memory = 0;
  std::optional<double> pick_decode_ms, fp16_decode_ms, fp32_decode_ms;
  std::string energy_note;  // why there is no energy front, when there is none
  bool emulated = false;
};

struct SearchOutcome {
  std::vector<BoardOutcome> boards;
  std::vector<std::string> exported;  // files written
  int test_scorings = 0;
  // Candidates whose measured model_bytes differ from the host's count (should be none).
  std::vector<std::string> memory_mismatches;
};

SearchOutcome finish_search(const TieredSearch& search, HostScorer& scorer, db::Database& db,
                            int64_t run_id, const FinishOptions& options);

}  // namespace hilq::search
