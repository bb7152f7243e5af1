// hil-search's search mode around the run loop: before it, the host phase (sensitivity and the
// tiered search on the host's kernels) turns candidates into measurement trials; after it,
// fronts, picks, test scores and the exported pick, with a summary on stdout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "db/database.h"
#include "host/run_session.h"
#include "search/scorer.h"
#include "search/strategy.h"
#include "search/tiered.h"

namespace hilq::host {

struct SearchRun {
  std::unique_ptr<db::SearchStore> store;
  std::unique_ptr<search::HostScorer> scorer;
  std::unique_ptr<search::TieredSearch> tiered;
  std::vector<search::Trial> trials;
  int measurement_cache_hits = 0;
  std::chrono::steady_clock::time_point started;
  double host_seconds = 0;
};

// This build's agents say HELLO with this agent_version: the measurement cache key.
std::string agent_build();

// Checks a search's flags against the model before anything is recorded: UsageError naming
// --mem-budget-mb when no point of the space fits, or --task when the model is of another kind.
void check_search_plan(const RunOptions& options);

// nullptr when stopped (stop set) before the tiers ended. Throws UsageError for constraints that
// cannot hold (naming the flag), ModelError / DataError for the model and the corpus.
std::unique_ptr<SearchRun> run_search_phase(const RunOptions& options, db::Database& db,
                                            int64_t run_id, const std::atomic<bool>& stop);

void finish_search_run(SearchRun& run, const RunOptions& options, db::Database& db, int64_t run_id);

}  // namespace hilq::host
