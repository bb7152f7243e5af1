// Is the tiered search any good? Strategies compared at the same budget on the same model, space
// and scoring: for each strategy and seed, the hypervolume of its feasible (validation metric,
// memory) front after k host evaluations, as a fraction of a reference front's, plus the device
// measurements it would ask for (TieredSearch::to_measure(), per board) and its wall time.
//
//   reference point  fixed before the study from the constraints: (metric limit, memory budget)
//                    with a 1e-9 relative margin, so a point exactly on a limit still counts
//   reference front  the non-dominated feasible points of every run of the study plus a long
//                    NSGA-II run (reference_budget evaluations), stored as a run of its own
//   evaluations      host scorings on validation; tiered's sensitivity scorings (calibration
//                    split) are counted apart
//   latency front    (metric, decode ms/token on this machine): every run's to_measure()
//                    candidates timed in-process (median CPU time per decoded token, one kernel
//                    thread); reference point (metric limit, 1.1 x FP16's decode); stored as the
//                    reference run's "local" metric-latency front
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "db/database.h"
#include "search/scorer.h"
#include "search/tiered.h"

namespace hilq::search {

struct CompareOptions {
  std::vector<std::string> strategies = {"tiered", "nsga2", "random"};
  int seeds = 5;  // tiered is deterministic: one run stands for every seed
  int budget = 200;
  std::vector<int> checkpoints = {25, 50, 100, 200};
  int reference_budget = 600;  // the long NSGA-II run of the reference front (0: none)
  // The (metric, decode latency on this machine) comparison: every run's to_measure() candidates
  // timed here in-process, decode CPU time per token of one kernel thread (median), so other
  // processes on the machine do not count. Off: memory only.
  bool latency = true;
  TieredOptions base;  // constraints, group, population, ... (strategy and seed set here)
  std::function<void(const std::string&)> progress;
};

struct StrategyRun {
  std::string strategy;
  uint64_t seed = 0;
  int64_t run_id = 0;
  std::vector<double> hv_fraction;  // per checkpoint
  // (metric, decode latency) hypervolume of its measured candidates at the end of its budget, as
  // a fraction of the latency reference front's; NaN without the latency comparison.
  double latency_hv_fraction = NAN;
  int evaluations = 0;  // scorings on validation
  int sensitivity_scorings = 0;
  int device_measurements = 0;  // to_measure(): one model-bench job per board
  double seconds = 0;
};

struct Comparison {
  std::vector<double> reference_point;  // (metric limit, memory budget), minimised
  double reference_hv = 0;
  int reference_front_size = 0;
  // The latency comparison: reference point (metric limit, 1.1 x FP16 decode ms), its front's
  // size and hypervolume, and how many distinct packed files were timed.
  std::vector<double> latency_reference_point;
  double latency_reference_hv = 0;
  int latency_front_size = 0, latency_timed = 0;
  double fp16_decode_ms = 0;
  std::vector<int> checkpoints;
  std::vector<StrategyRun> runs;
};

// Runs the study; each run is a run row of the database (its candidates, scores and caches
// reused by later studies of the same model).
Comparison compare_strategies(HostScorer& scorer, db::Database& db, const CompareOptions& options);

// comparison.json, comparison.md (median and range per strategy and checkpoint), and
// comparison.svg (hypervolume fraction against evaluations: median line and min-max band).
void write_comparison(const Comparison& c, const std::string& out_dir);

}  // namespace hilq::search
