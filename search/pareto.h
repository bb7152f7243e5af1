// Pareto dominance, fronts and non-dominated ranks (all objectives minimised, constraints g <= 0),
// and the pick of one configuration among feasible candidates (QSLM's trade-off function).
//
//   dominates(a, b)           a <= b in every objective and a < b in at least one
//   constrained_dominates     feasible beats infeasible; two infeasible: less total violation;
//                             two feasible: dominates()
//   front                     the feasible points nothing feasible dominates (rank 0)
//   rank k                    the front left once ranks 0..k-1 are removed (NSGA-II)
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hilq::search {

struct ParetoPoint {
  int64_t id = 0;
  std::vector<double> objectives;  // all minimised; finite
  std::vector<double> violations;  // constraint values g(x); feasible iff every value <= 0
};

bool feasible(const ParetoPoint& p);
// Sum of max(0, g) over the constraint values: 0 for a feasible point.
double total_violation(const ParetoPoint& p);
// a <= b everywhere and a < b somewhere. Throws std::invalid_argument when the sizes differ.
bool dominates(const std::vector<double>& a, const std::vector<double>& b);
// Feasible beats infeasible; two infeasible compare by total violation; two feasible by
// dominates().
bool constrained_dominates(const ParetoPoint& a, const ParetoPoint& b);

// Ids of the non-dominated feasible points, in input order. Infeasible points never enter. Points
// with identical objective vectors do not dominate each other: all of them are kept. A sweep in
// O(n log n) for 2 objectives, O(n^2 m) pairwise for more. Throws std::invalid_argument (naming
// the point id) for a non-finite objective, a NaN constraint value, or objective counts that
// differ between points.
std::vector<int64_t> pareto_front(const std::vector<ParetoPoint>& points);

// Non-dominated sorting (NSGA-II ranks) of all points under constrained domination, in input
// order: rank 0 = the first front. Infeasible points rank after every feasible one, grouped by
// total violation. Same validation as pareto_front().
std::vector<int> nondominated_ranks(const std::vector<ParetoPoint>& points);

// NSGA-II's crowding distance of each member of one front: per objective, members sorted by it,
// the two ends infinite, the others the gap between their neighbours over the objective's range.
std::vector<double> crowding_distance(const std::vector<std::vector<double>>& objectives);

// A feasible configuration to pick from (QSLM trade-off function).
struct PickCandidate {
  int64_t id = 0;
  // P-hat: quality relative to float (perplexity: ppl_fp / ppl; accuracy: acc / acc_fp); higher
  // is better.
  double metric_ratio = 0;
  double memory_ratio =
      0;  // M-hat: memory relative to float (bytes / float bytes); lower is better
  double memory_bytes = 0;
  double metric = 0;  // the raw metric, minimised (perplexity, or error 1-accuracy): tie-breaker
};

// TF = mu * P-hat + (1 - mu) * (1 - M-hat).
double tradeoff_score(const PickCandidate& c, double mu);
// The candidate with the highest TF; ties (equal scores, compared exactly) go to less memory,
// then the lower metric, then the lower id. nullopt when empty. Throws std::invalid_argument for
// mu outside [0, 1] or a non-finite candidate value.
std::optional<int64_t> pick_tradeoff(const std::vector<PickCandidate>& c, double mu);
// Least memory; ties by the lower metric, then the lower id. nullopt when empty. Throws
// std::invalid_argument for a non-finite memory_bytes or metric.
std::optional<int64_t> pick_lexicographic(const std::vector<PickCandidate>& c);

}  // namespace hilq::search
