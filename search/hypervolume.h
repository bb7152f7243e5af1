// Exact hypervolume of a point set (all objectives minimised) up to a reference point, and the
// reference points a study fixes before it starts: from the user's limits, or (fallback) from the
// union of the fronts being compared.
//
//   f1 ^
//   r1 +-------------------+ reference r
//      |###################|       the hypervolume is the area (volume) of the union of the boxes
//      o-------+###########|       [p, r) of the points p: what the set dominates inside r
//      |       o-------+###|
//      |               o---|
//      +-------------------+--> f0
//
//   2 objectives  sort + sweep, O(n log n)
//   3 objectives  sweep in f0 over a 2-D staircase of (f1, f2), O(n^2)
//   4+            WFG (While, Bradstreet, Barone 2012): each point's exclusive volume against the
//                 points before it in f0 order is a box minus the volume of a "limited" set one
//                 objective smaller, down to the 3-D case
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "search/pareto.h"

namespace hilq::search {

// Exact hypervolume dominated by `points` (all objectives minimised) up to `reference`.
// Dominated and duplicate points are removed first; an empty set gives 0. Throws
// std::invalid_argument (naming the point index and objective) for a point not strictly better
// than the reference in every objective (never silently dropped), a point whose dimension differs
// from the reference's, a non-finite value, and an empty or non-finite reference.
double hypervolume(const std::vector<std::vector<double>>& points,
                   const std::vector<double>& reference);

// The hypervolume of the feasible points of a set (their objectives; infeasible points are
// excluded and may lie anywhere). Errors as hypervolume(), naming the point's id.
double feasible_hypervolume(const std::vector<ParetoPoint>& points,
                            const std::vector<double>& reference);

// The limits a user accepts for a study, known before it starts. The reference point is built from
// them once and stored with the run, so every strategy and seed is measured against the same one.
struct StudyLimits {
  std::optional<double> metric_limit;         // the quality constraint (perplexity or error), max
  std::optional<double> memory_budget_bytes;  // the memory budget
  std::optional<double> fp16_decode_ms;       // the FP16 model's decode latency on the board
  std::optional<double> fp16_energy_uj;       // the FP16 model's energy per token on the board
};

// The margin on the FP16 latency (and energy): a quantized model slower than 1.1 x FP16 is of no
// interest, and one as slow still adds nothing to the hypervolume.
inline constexpr double kFp16Margin = 1.1;

// The reference vector for the named objectives, in order:
//   "metric"        -> metric_limit
//   "memory_bytes"  -> memory_budget_bytes
//   "decode_ms"     -> kFp16Margin * fp16_decode_ms
//   "energy_uj"     -> kFp16Margin * fp16_energy_uj
// Throws std::invalid_argument for an unknown objective name, a repeated one, a needed limit that
// is missing, or one that is not finite and positive.
std::vector<double> reference_from_limits(const std::vector<std::string>& objectives,
                                          const StudyLimits& limits);

// Fallback when no limits are known (BoTorch's rule, after Ishibuchi et al.): per objective the
// worst value over the union of every point of every set compared, plus 0.1 x the range (max - min)
// of that union. Computed over all points, not only the union's non-dominated ones, so every point
// of every set lies strictly inside the reference. A zero range steps by 0.1 x |worst| instead, or
// by 0.1 when that is 0 too. Throws std::invalid_argument when there is no point at all, or for
// dimensions that differ or a non-finite value.
std::vector<double> reference_from_union(
    const std::vector<std::vector<std::vector<double>>>& point_sets);

}  // namespace hilq::search
