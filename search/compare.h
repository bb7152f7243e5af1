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
#pragma once

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
  TieredOptions base;          // constraints, group, population, ... (strategy and seed set here)
  std::function<void(const std::string&)> progress;
};

struct StrategyRun {
  std::string strategy;
  uint64_t seed = 0;
  int64_t run_id = 0;
  std::vector<double> hv_fraction;  // per checkpoint
  int evaluations = 0;              // scorings on validation
  int sensitivity_scorings = 0;
  int device_measurements = 0;  // to_measure(): one model-bench job per board
  double seconds = 0;
};

struct Comparison {
  std::vector<double> reference_point;  // (metric limit, memory budget), minimised
  double reference_hv = 0;
  int reference_front_size = 0;
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
