// The rows of a board's table, shared by report.html, pareto.csv and pareto.json so the three
// always list the same candidates with the same figures: the float baselines (FP32, FP16), every
// member of the board's stored fronts and its pick, fastest decode first.
//
// Energy is reported once per board (BoardEnergy): how many rows measured it and, for the rest,
// the reason the agents gave, never the reason again on every row.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reports/run_view.h"

namespace hilq::reports {

struct BoardRow {
  const Candidate* candidate = nullptr;
  const Measurement* measurement = nullptr;  // its last successful model-bench row, or none
  bool baseline = false;                     // FP32 / FP16
  bool pick = false;
  std::vector<std::string> fronts;  // objective names ("latency", "memory", "energy")
  std::optional<double> speedup_over_fp16;
  std::optional<double> memory_mb() const;
};

std::vector<BoardRow> board_rows(const RunView& view, const BoardSearch& board);

struct BoardEnergy {
  int rows = 0;        // successful model-bench rows on the board (the run's)
  int measured = 0;    // ... with an energy per token
  std::string reason;  // the most common reason of the others ("" when every row measured)
  bool any() const { return measured > 0; }
};

BoardEnergy board_energy(const RunView& view, const std::string& board);

// "Energy per token: unavailable on <board>: <reason>" (or "... for k of n rows"); "" when
// every row measured it.
std::string energy_note_html(const std::string& board, const BoardEnergy& e);

}  // namespace hilq::reports
