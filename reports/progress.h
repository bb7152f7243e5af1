// Search progress: after each validation scoring, the best feasible metric so far and the
// hypervolume of the feasible (validation metric, memory) front so far; a plot of both against
// the number of evaluations, one line per run of the same study, coloured by strategy.
//
//   hypervolume   the area a front dominates up to a reference point, both objectives minimised
//                 (an accuracy as 1 - accuracy), memory in MB: unit "perplexity x MB"
//   reference     fixed by the study's limits, not by the runs: (metric limit, memory budget, or
//                 the float model's bytes without one), 1e-9 relative outside them so a point
//                 exactly on a limit still counts; the rule bench_search uses
//
// The search's own hypervolume code lives in search/, which reports/ may not link (reports <- db
// only): the 2-D sweep is small and is tested here against a brute-force count.
#pragma once

#include <array>
#include <optional>
#include <ostream>
#include <vector>

#include "reports/run_view.h"

namespace hilq::reports {

// The exact area dominated by `points` (minimised) up to `reference`; points not strictly better
// than the reference in both objectives add nothing.
double hypervolume_2d(std::vector<std::array<double, 2>> points,
                      const std::array<double, 2>& reference);

// The study's reference point (metric as minimised, memory MB); empty without a metric limit or
// a memory bound.
std::optional<std::array<double, 2>> progress_reference(const SearchConstraints& c);

struct ProgressPoint {
  int evaluations = 0;         // validation scorings so far
  std::optional<double> best;  // best feasible validation metric so far
  double hypervolume = 0;      // of the feasible front so far (0 without a reference)
};

// One point per scoring of the trace.
std::vector<ProgressPoint> progress_of(const SearchTrace& trace, const SearchConstraints& c);

// The "Search progress" part of report.html; nothing for a run without search.
void progress_html(const RunView& view, std::ostream& out);

}  // namespace hilq::reports
