// Exact hypervolume (2-D sweep, 3-D staircase sweep, WFG for 4+ objectives) and the study
// reference points (search/hypervolume.h).
#include "search/hypervolume.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>

namespace hilq::search {

namespace {

using Point = std::vector<double>;

// Shortest text that reads back as the same double.
std::string num(double v) {
  char buf[32];
  const auto res = std::to_chars(std::begin(buf), std::end(buf), v);
  return {std::begin(buf), res.ptr};
}

void check_reference(const Point& reference) {
  if (reference.empty()) {
    throw std::invalid_argument("hypervolume: the reference point has no objectives");
  }
  for (size_t k = 0; k < reference.size(); ++k) {
    if (!std::isfinite(reference[k])) {
      throw std::invalid_argument("hypervolume: reference objective " + std::to_string(k) + " is " +
                                  num(reference[k]) + ": the reference must be finite");
    }
  }
}

// `who` names the point in a message ("point 3", "point id 17").
void check_point(const Point& p, const Point& reference, const std::string& who) {
  if (p.size() != reference.size()) {
    throw std::invalid_argument("hypervolume: " + who + " has " + std::to_string(p.size()) +
                                " objectives, the reference has " +
                                std::to_string(reference.size()) + ": they must match");
  }
  for (size_t k = 0; k < p.size(); ++k) {
    if (!std::isfinite(p[k])) {
      throw std::invalid_argument("hypervolume: " + who + " objective " + std::to_string(k) +
                                  " is " + num(p[k]) + ": objectives must be finite");
    }
    if (!(p[k] < reference[k])) {
      throw std::invalid_argument("hypervolume: " + who + " objective " + std::to_string(k) +
                                  " is " + num(p[k]) + ", not below the reference " +
                                  num(reference[k]) +
                                  ": every point must be strictly better than the reference");
    }
  }
}

// The non-dominated points, each once, in lexicographic order. A point can only be dominated by
// a lexicographically smaller one, and domination is transitive, so checking each point against
// the kept earlier ones is enough.
std::vector<Point> nondominated(std::vector<Point> pts) {
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  std::vector<Point> kept;
  kept.reserve(pts.size());
  for (auto& p : pts) {
    const bool dominated =
        std::any_of(kept.begin(), kept.end(), [&](const Point& q) { return dominates(q, p); });
    if (!dominated) kept.push_back(std::move(p));
  }
  return kept;
}

// Product of (reference - p) over the objectives from `from` on: the box a point dominates alone.
double box(const Point& p, const Point& reference, size_t from) {
  double v = 1;
  for (size_t k = from; k < p.size(); ++k) v *= reference[k] - p[k];
  return v;
}

// 2-D: sort by (f0, f1); walking in f0 order each point that lowers the best f1 so far adds the
// strip between its f1 and that best, from its f0 to the reference. Dominated and duplicate
// points add nothing, so no filtering is needed.
double sweep_2d(std::vector<Point> pts, const Point& reference) {
  std::sort(pts.begin(), pts.end());
  double volume = 0;
  double best_f1 = reference[1];
  for (const auto& p : pts) {
    if (p[1] < best_f1) {
      volume += (reference[0] - p[0]) * (best_f1 - p[1]);
      best_f1 = p[1];
    }
  }
  return volume;
}

// 3-D: sort by f0; the slab between one point's f0 and the next's (or the reference) is the area
// of the 2-D staircase of (f1, f2) of the points so far times its thickness. The staircase is kept
// sorted by f1 with f2 strictly falling: an insertion drops the steps the new point dominates. Each
// step costs O(n) (insert, area), so O(n^2) in all.
double sweep_3d(std::vector<Point> pts, const Point& reference) {
  std::sort(pts.begin(), pts.end());
  std::vector<std::pair<double, double>> stairs;  // (f1, f2): f1 rising, f2 falling
  double volume = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    const double a = pts[i][1];
    const double b = pts[i][2];
    // The first step with f1 > a; the one before it (if any) has the least f2 among f1 <= a.
    auto pos = std::upper_bound(stairs.begin(), stairs.end(), std::make_pair(a, b),
                                [](const auto& x, const auto& y) { return x.first < y.first; });
    const bool covered = pos != stairs.begin() && std::prev(pos)->second <= b;
    if (!covered) {
      // Steps with f1 >= a and f2 >= b are dominated by (a, b): they follow contiguously from the
      // first step with f1 >= a.
      auto first = std::lower_bound(stairs.begin(), stairs.end(), std::make_pair(a, b),
                                    [](const auto& x, const auto& y) { return x.first < y.first; });
      auto last = first;
      while (last != stairs.end() && last->second >= b) ++last;
      stairs.insert(stairs.erase(first, last), {a, b});
    }
    const double next_f0 = i + 1 < pts.size() ? pts[i + 1][0] : reference[0];
    if (next_f0 == pts[i][0]) continue;  // a zero-thickness slab
    double area = 0;
    for (size_t s = 0; s < stairs.size(); ++s) {
      const double right = s + 1 < stairs.size() ? stairs[s + 1].first : reference[1];
      area += (right - stairs[s].first) * (reference[2] - stairs[s].second);
    }
    volume += area * (next_f0 - pts[i][0]);
  }
  return volume;
}

// WFG on non-dominated points of m >= 2 objectives. Sorted by f0, the volume is the sum of each
// point's exclusive volume against the points before it. Those points have f0 <= the point's f0,
// so the part of the point's box they cover (the box of the "limited" set, max(q, p) per
// objective) spans the whole f0 extent of the box: the exclusive volume is
// (r0 - p0) * (box over objectives 1.. - volume of the limited set over objectives 1..).
double wfg(std::vector<Point> pts, const Point& reference) {
  if (pts.empty()) return 0;
  if (pts.size() == 1) return box(pts[0], reference, 0);
  const size_t m = reference.size();
  if (m == 2) return sweep_2d(std::move(pts), reference);
  if (m == 3) return sweep_3d(std::move(pts), reference);
  std::sort(pts.begin(), pts.end());
  const Point tail_reference(reference.begin() + 1, reference.end());
  double volume = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    const Point& p = pts[i];
    std::vector<Point> limited;
    limited.reserve(i);
    for (size_t j = 0; j < i; ++j) {
      Point q(m - 1);
      for (size_t k = 1; k < m; ++k) q[k - 1] = std::max(pts[j][k], p[k]);
      limited.push_back(std::move(q));
    }
    const double covered = wfg(nondominated(std::move(limited)), tail_reference);
    volume += (reference[0] - p[0]) * (box(p, reference, 1) - covered);
  }
  return volume;
}

double checked_hypervolume(std::vector<Point> pts, const Point& reference) {
  if (pts.empty()) return 0;
  if (reference.size() == 1) {
    double best = reference[0];
    for (const auto& p : pts) best = std::min(best, p[0]);
    return reference[0] - best;
  }
  if (reference.size() == 2) return sweep_2d(std::move(pts), reference);
  return wfg(nondominated(std::move(pts)), reference);
}

}  // namespace

double hypervolume(const std::vector<std::vector<double>>& points,
                   const std::vector<double>& reference) {
  check_reference(reference);
  for (size_t i = 0; i < points.size(); ++i) {
    check_point(points[i], reference, "point " + std::to_string(i));
  }
  return checked_hypervolume(points, reference);
}

double feasible_hypervolume(const std::vector<ParetoPoint>& points,
                            const std::vector<double>& reference) {
  check_reference(reference);
  std::vector<Point> kept;
  for (const auto& p : points) {
    if (!feasible(p)) continue;
    check_point(p.objectives, reference, "point id " + std::to_string(p.id));
    kept.push_back(p.objectives);
  }
  return checked_hypervolume(std::move(kept), reference);
}

std::vector<double> reference_from_limits(const std::vector<std::string>& objectives,
                                          const StudyLimits& limits) {
  auto need = [&](const std::string& name, const std::optional<double>& limit, const char* field) {
    if (!limit) {
      throw std::invalid_argument("reference point: objective '" + name + "' needs " + field +
                                  ", which is not set");
    }
    if (!std::isfinite(*limit) || *limit <= 0) {
      throw std::invalid_argument("reference point: " + std::string(field) + " is " + num(*limit) +
                                  ": it must be finite and positive");
    }
    return *limit;
  };
  std::vector<double> reference;
  reference.reserve(objectives.size());
  for (size_t k = 0; k < objectives.size(); ++k) {
    const std::string& name = objectives[k];
    if (std::find(objectives.begin(), objectives.begin() + static_cast<std::ptrdiff_t>(k), name) !=
        objectives.begin() + static_cast<std::ptrdiff_t>(k)) {
      throw std::invalid_argument("reference point: objective '" + name + "' appears twice");
    }
    if (name == "metric") {
      reference.push_back(need(name, limits.metric_limit, "metric_limit"));
    } else if (name == "memory_bytes") {
      reference.push_back(need(name, limits.memory_budget_bytes, "memory_budget_bytes"));
    } else if (name == "decode_ms") {
      reference.push_back(kFp16Margin * need(name, limits.fp16_decode_ms, "fp16_decode_ms"));
    } else if (name == "energy_uj") {
      reference.push_back(kFp16Margin * need(name, limits.fp16_energy_uj, "fp16_energy_uj"));
    } else {
      throw std::invalid_argument("reference point: unknown objective '" + name +
                                  "' (known: metric, memory_bytes, decode_ms, energy_uj)");
    }
  }
  return reference;
}

std::vector<double> reference_from_union(
    const std::vector<std::vector<std::vector<double>>>& point_sets) {
  std::vector<double> lo, hi;
  for (size_t s = 0; s < point_sets.size(); ++s) {
    for (size_t i = 0; i < point_sets[s].size(); ++i) {
      const Point& p = point_sets[s][i];
      const std::string who = "set " + std::to_string(s) + " point " + std::to_string(i);
      if (hi.empty()) {
        if (p.empty()) throw std::invalid_argument("reference point: " + who + " is empty");
        lo.assign(p.size(), 0);
        hi.assign(p.size(), 0);
        std::copy(p.begin(), p.end(), lo.begin());
        std::copy(p.begin(), p.end(), hi.begin());
      }
      if (p.size() != hi.size()) {
        throw std::invalid_argument("reference point: " + who + " has " + std::to_string(p.size()) +
                                    " objectives, the first has " + std::to_string(hi.size()) +
                                    ": they must match");
      }
      for (size_t k = 0; k < p.size(); ++k) {
        if (!std::isfinite(p[k])) {
          throw std::invalid_argument("reference point: " + who + " objective " +
                                      std::to_string(k) + " is " + num(p[k]) +
                                      ": objectives must be finite");
        }
        lo[k] = std::min(lo[k], p[k]);
        hi[k] = std::max(hi[k], p[k]);
      }
    }
  }
  if (hi.empty()) {
    throw std::invalid_argument("reference point: no point in any set to infer it from");
  }
  std::vector<double> reference(hi.size());
  for (size_t k = 0; k < hi.size(); ++k) {
    double step = 0.1 * (hi[k] - lo[k]);
    if (step == 0) step = 0.1 * std::abs(hi[k]);
    if (step == 0) step = 0.1;
    reference[k] = hi[k] + step;
  }
  return reference;
}

}  // namespace hilq::search
