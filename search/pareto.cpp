// Pareto dominance, fronts, non-dominated ranks and the pick among feasible candidates
// (search/pareto.h).
#include "search/pareto.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>

namespace hilq::search {

namespace {

// Every point has the same number of objectives, all finite, and no NaN constraint value (a NaN
// would make feasibility and total violation meaningless).
void validate(const std::vector<ParetoPoint>& points) {
  if (points.empty()) return;
  const size_t m = points.front().objectives.size();
  for (const auto& p : points) {
    if (p.objectives.size() != m) {
      throw std::invalid_argument("pareto: point " + std::to_string(p.id) + " has " +
                                  std::to_string(p.objectives.size()) + " objectives, point " +
                                  std::to_string(points.front().id) + " has " + std::to_string(m) +
                                  ": every point needs the same count");
    }
    for (size_t k = 0; k < m; ++k) {
      if (!std::isfinite(p.objectives[k])) {
        throw std::invalid_argument("pareto: point " + std::to_string(p.id) + " objective " +
                                    std::to_string(k) + " is " + std::to_string(p.objectives[k]) +
                                    ": objectives must be finite");
      }
    }
    for (size_t k = 0; k < p.violations.size(); ++k) {
      if (std::isnan(p.violations[k])) {
        throw std::invalid_argument("pareto: point " + std::to_string(p.id) + " constraint " +
                                    std::to_string(k) + " is NaN");
      }
    }
  }
}

// Indices (into points) of the non-dominated ones among `idx`, all feasible.
// Two objectives: sort by (f0, f1); walk the groups of equal f0. Within a group only the points
// with the group's least f1 can survive (the rest have equal f0 and a larger f1); they survive iff
// that f1 is strictly below the least f1 of every earlier group (which has a strictly smaller f0).
std::vector<size_t> front_2d(const std::vector<ParetoPoint>& points, std::vector<size_t> idx) {
  auto f = [&](size_t i, size_t k) { return points[i].objectives[k]; };
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    return std::make_tuple(f(a, 0), f(a, 1)) < std::make_tuple(f(b, 0), f(b, 1));
  });
  std::vector<size_t> kept;
  double best_f1 = std::numeric_limits<double>::infinity();
  for (size_t g = 0; g < idx.size();) {
    const double group_f1 = f(idx[g], 1);  // the group's least f1: sorted first
    size_t end = g;
    while (end < idx.size() && f(idx[end], 0) == f(idx[g], 0)) {
      if (group_f1 < best_f1 && f(idx[end], 1) == group_f1) kept.push_back(idx[end]);
      ++end;
    }
    best_f1 = std::min(best_f1, group_f1);
    g = end;
  }
  return kept;
}

std::vector<size_t> front_pairwise(const std::vector<ParetoPoint>& points,
                                   const std::vector<size_t>& idx) {
  std::vector<size_t> kept;
  for (size_t i : idx) {
    const bool beaten = std::any_of(idx.begin(), idx.end(), [&](size_t j) {
      return dominates(points[j].objectives, points[i].objectives);
    });
    if (!beaten) kept.push_back(i);
  }
  return kept;
}

void validate(const std::vector<PickCandidate>& c, bool all_fields) {
  for (const auto& x : c) {
    const bool ok =
        std::isfinite(x.memory_bytes) && std::isfinite(x.metric) &&
        (!all_fields || (std::isfinite(x.metric_ratio) && std::isfinite(x.memory_ratio)));
    if (!ok) {
      throw std::invalid_argument(
          "pick: candidate " + std::to_string(x.id) + " has a non-finite value (metric_ratio " +
          std::to_string(x.metric_ratio) + ", memory_ratio " + std::to_string(x.memory_ratio) +
          ", memory_bytes " + std::to_string(x.memory_bytes) + ", metric " +
          std::to_string(x.metric) + ")");
    }
  }
}

// The tie-break both picks share: less memory, then the lower metric, then the lower id.
bool before_on_ties(const PickCandidate& a, const PickCandidate& b) {
  return std::tie(a.memory_bytes, a.metric, a.id) < std::tie(b.memory_bytes, b.metric, b.id);
}

}  // namespace

bool feasible(const ParetoPoint& p) {
  return std::all_of(p.violations.begin(), p.violations.end(), [](double g) { return g <= 0; });
}

double total_violation(const ParetoPoint& p) {
  double sum = 0;
  for (double g : p.violations) {
    if (g > 0) sum += g;
  }
  return sum;
}

bool dominates(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("dominates: " + std::to_string(a.size()) + " objectives against " +
                                std::to_string(b.size()));
  }
  bool strictly = false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictly = true;
  }
  return strictly;
}

bool constrained_dominates(const ParetoPoint& a, const ParetoPoint& b) {
  const bool fa = feasible(a);
  const bool fb = feasible(b);
  if (fa != fb) return fa;
  if (!fa) return total_violation(a) < total_violation(b);
  return dominates(a.objectives, b.objectives);
}

std::vector<int64_t> pareto_front(const std::vector<ParetoPoint>& points) {
  validate(points);
  std::vector<size_t> idx;
  for (size_t i = 0; i < points.size(); ++i) {
    if (feasible(points[i])) idx.push_back(i);
  }
  if (idx.empty()) return {};
  std::vector<size_t> kept = points.front().objectives.size() == 2
                                 ? front_2d(points, std::move(idx))
                                 : front_pairwise(points, idx);
  std::sort(kept.begin(), kept.end());  // back to input order
  std::vector<int64_t> ids;
  ids.reserve(kept.size());
  for (size_t i : kept) ids.push_back(points[i].id);
  return ids;
}

std::vector<int> nondominated_ranks(const std::vector<ParetoPoint>& points) {
  validate(points);
  const size_t n = points.size();
  std::vector<int> rank(n, -1);
  std::vector<size_t> feas;
  std::vector<size_t> infeas;
  for (size_t i = 0; i < n; ++i) (feasible(points[i]) ? feas : infeas).push_back(i);

  // Feasible points: Deb's fast non-dominated sort, O(n^2 m).
  std::vector<std::vector<size_t>> beats(n);  // beats[i]: the points i dominates
  std::vector<size_t> beaten_by(n, 0);        // how many points dominate i
  for (size_t i : feas) {
    for (size_t j : feas) {
      if (dominates(points[i].objectives, points[j].objectives)) {
        beats[i].push_back(j);
        ++beaten_by[j];
      }
    }
  }
  std::vector<size_t> current;
  for (size_t i : feas) {
    if (beaten_by[i] == 0) current.push_back(i);
  }
  int r = 0;
  for (; !current.empty(); ++r) {
    std::vector<size_t> next;
    for (size_t i : current) {
      rank[i] = r;
      for (size_t j : beats[i]) {
        if (--beaten_by[j] == 0) next.push_back(j);
      }
    }
    current = std::move(next);
  }

  // Infeasible points: every feasible one dominates them, and among themselves the order is by
  // total violation alone, so each distinct total is one front after the feasible ones.
  std::vector<double> totals;
  totals.reserve(infeas.size());
  for (size_t i : infeas) totals.push_back(total_violation(points[i]));
  std::vector<double> levels = totals;
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  for (size_t k = 0; k < infeas.size(); ++k) {
    const auto level = std::lower_bound(levels.begin(), levels.end(), totals[k]) - levels.begin();
    rank[infeas[k]] = r + static_cast<int>(level);
  }
  return rank;
}

double tradeoff_score(const PickCandidate& c, double mu) {
  return mu * c.metric_ratio + (1 - mu) * (1 - c.memory_ratio);
}

std::optional<int64_t> pick_tradeoff(const std::vector<PickCandidate>& c, double mu) {
  if (!std::isfinite(mu) || mu < 0 || mu > 1) {
    throw std::invalid_argument("pick_tradeoff: mu " + std::to_string(mu) + " is outside [0, 1]");
  }
  validate(c, /*all_fields=*/true);
  if (c.empty()) return std::nullopt;
  // Scores are compared exactly: a tolerance would make "tie" non-transitive and the pick depend
  // on the input order.
  const PickCandidate* best = &c.front();
  double best_score = tradeoff_score(*best, mu);
  for (const auto& x : c) {
    const double s = tradeoff_score(x, mu);
    if (s > best_score || (s == best_score && before_on_ties(x, *best))) {
      best = &x;
      best_score = s;
    }
  }
  return best->id;
}

std::optional<int64_t> pick_lexicographic(const std::vector<PickCandidate>& c) {
  validate(c, /*all_fields=*/false);
  if (c.empty()) return std::nullopt;
  return std::min_element(c.begin(), c.end(), before_on_ties)->id;
}

std::vector<double> crowding_distance(const std::vector<std::vector<double>>& objectives) {
  const size_t n = objectives.size();
  std::vector<double> d(n, 0.0);
  if (n == 0) return d;
  for (size_t k = 0; k < objectives[0].size(); ++k) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return objectives[a][k] < objectives[b][k]; });
    const double lo = objectives[order.front()][k], hi = objectives[order.back()][k];
    d[order.front()] = d[order.back()] = std::numeric_limits<double>::infinity();
    if (hi <= lo) continue;
    for (size_t i = 1; i + 1 < n; ++i)
      d[order[i]] += (objectives[order[i + 1]][k] - objectives[order[i - 1]][k]) / (hi - lo);
  }
  return d;
}

}  // namespace hilq::search
