// Pareto fronts and non-dominated ranks against brute-force definitions on random point sets full
// of ties and duplicates, constrained domination, and the trade-off and lexicographic picks.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "search/pareto.h"

namespace search = hilq::search;
using search::ParetoPoint;
using search::PickCandidate;

namespace {

// The definitions, written out independently of the library.
bool brute_feasible(const ParetoPoint& p) {
  for (double g : p.violations) {
    if (g > 0) return false;
  }
  return true;
}

double brute_violation(const ParetoPoint& p) {
  double s = 0;
  for (double g : p.violations) s += g > 0 ? g : 0;
  return s;
}

bool brute_dominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool no_worse = true;
  bool better = false;
  for (size_t k = 0; k < a.size(); ++k) {
    no_worse = no_worse && a[k] <= b[k];
    better = better || a[k] < b[k];
  }
  return no_worse && better;
}

bool brute_constrained(const ParetoPoint& a, const ParetoPoint& b) {
  const bool fa = brute_feasible(a);
  const bool fb = brute_feasible(b);
  if (fa && !fb) return true;
  if (!fa && fb) return false;
  if (!fa) return brute_violation(a) < brute_violation(b);
  return brute_dominates(a.objectives, b.objectives);
}

std::vector<int64_t> brute_front(const std::vector<ParetoPoint>& pts) {
  std::vector<int64_t> ids;
  for (const auto& p : pts) {
    if (!brute_feasible(p)) continue;
    bool beaten = false;
    for (const auto& q : pts) {
      beaten = beaten || (brute_feasible(q) && brute_dominates(q.objectives, p.objectives));
    }
    if (!beaten) ids.push_back(p.id);
  }
  return ids;
}

// Peels fronts: rank r is every remaining point no remaining point dominates.
std::vector<int> brute_ranks(const std::vector<ParetoPoint>& pts) {
  std::vector<int> rank(pts.size(), -1);
  size_t left = pts.size();
  for (int r = 0; left > 0; ++r) {
    std::vector<size_t> layer;
    for (size_t i = 0; i < pts.size(); ++i) {
      if (rank[i] != -1) continue;
      bool beaten = false;
      for (size_t j = 0; j < pts.size(); ++j) {
        beaten = beaten || (rank[j] == -1 && brute_constrained(pts[j], pts[i]));
      }
      if (!beaten) layer.push_back(i);
    }
    REQUIRE(!layer.empty());
    for (size_t i : layer) rank[i] = r;
    left -= layer.size();
  }
  return rank;
}

// Integer coordinates in 0..span so equal coordinates and exact duplicates are common; about a
// quarter of the points violate a constraint. Ids are shuffled so input order != id order.
std::vector<ParetoPoint> random_points(std::mt19937& rng, size_t m, size_t n, int span) {
  std::uniform_int_distribution<int> coord(0, span);
  std::uniform_int_distribution<int> constraint(-2, 1);
  std::uniform_int_distribution<int> n_constraints(0, 2);
  std::vector<ParetoPoint> pts(n);
  for (size_t i = 0; i < n; ++i) {
    pts[i].id = static_cast<int64_t>(1000 + 7 * i);
    for (size_t k = 0; k < m; ++k) pts[i].objectives.push_back(coord(rng));
    const int c = n_constraints(rng);
    for (int k = 0; k < c; ++k) pts[i].violations.push_back(constraint(rng));
  }
  // Exact duplicates of earlier points (objectives and constraints).
  for (size_t i = 1; i < n; i += 5) {
    const size_t src = std::uniform_int_distribution<size_t>(0, i - 1)(rng);
    pts[i].objectives = pts[src].objectives;
    pts[i].violations = pts[src].violations;
  }
  std::shuffle(pts.begin(), pts.end(), rng);
  return pts;
}

ParetoPoint pt(int64_t id, std::vector<double> obj, std::vector<double> g = {}) {
  return ParetoPoint{id, std::move(obj), std::move(g)};
}

PickCandidate cand(int64_t id, double p_hat, double m_hat, double bytes, double metric) {
  return PickCandidate{id, p_hat, m_hat, bytes, metric};
}

}  // namespace

TEST_CASE("pareto_front matches the brute-force definition on random sets with ties", "[pareto]") {
  std::mt19937 rng(20261129);
  size_t checked = 0;
  size_t infeasible_seen = 0;
  size_t duplicates_in_front = 0;
  for (size_t m : {2, 3}) {
    for (int set = 0; set < 200; ++set) {
      const size_t n = std::uniform_int_distribution<size_t>(0, 60)(rng);
      const int span = 1 + set % 6;
      const auto pts = random_points(rng, m, n, span);
      CAPTURE(m, set, n, span);
      const auto expected = brute_front(pts);
      REQUIRE(search::pareto_front(pts) == expected);
      for (const auto& p : pts) infeasible_seen += brute_feasible(p) ? 0 : 1;
      for (size_t i = 0; i < expected.size(); ++i) {
        for (size_t j = i + 1; j < expected.size(); ++j) {
          const auto& a = *std::find_if(pts.begin(), pts.end(),
                                        [&](const ParetoPoint& p) { return p.id == expected[i]; });
          const auto& b = *std::find_if(pts.begin(), pts.end(),
                                        [&](const ParetoPoint& p) { return p.id == expected[j]; });
          duplicates_in_front += a.objectives == b.objectives ? 1 : 0;
        }
      }
      ++checked;
    }
  }
  CHECK(checked == 400);
  // The generator really produces what the test is about.
  CHECK(infeasible_seen > 1000);
  CHECK(duplicates_in_front > 100);
}

TEST_CASE("the two-objective sweep and the pairwise path agree", "[pareto]") {
  std::mt19937 rng(7);
  for (int set = 0; set < 200; ++set) {
    const auto pts2 = random_points(rng, 2, std::uniform_int_distribution<size_t>(0, 50)(rng), 4);
    auto pts3 = pts2;
    for (auto& p : pts3) p.objectives.push_back(0);  // a constant third objective changes nothing
    CAPTURE(set);
    REQUIRE(search::pareto_front(pts2) == search::pareto_front(pts3));
  }
}

TEST_CASE("pareto_front keeps duplicates, drops infeasible points and keeps input order",
          "[pareto]") {
  const std::vector<ParetoPoint> pts = {
      pt(5, {2, 2}),           // dominated by 9
      pt(9, {1, 2}),           // front
      pt(3, {0, 0}, {0.5}),    // would dominate everything, but infeasible
      pt(4, {1, 2}, {0, -1}),  // duplicate of 9, feasible (g == 0 is allowed): front
      pt(1, {3, 0}),           // front
      pt(2, {3, 1}),           // dominated by 1 (same f0, larger f1)
      pt(8, {2, 1}),           // front
  };
  CHECK(search::pareto_front(pts) == std::vector<int64_t>{9, 4, 1, 8});
  CHECK(search::pareto_front({}).empty());
  CHECK(search::pareto_front({pt(1, {0, 0}, {1})}).empty());
  CHECK(search::pareto_front({pt(1, {}), pt(2, {})}) == std::vector<int64_t>{1, 2});
  CHECK(search::pareto_front({pt(1, {4}), pt(2, {3}), pt(3, {3})}) == std::vector<int64_t>{2, 3});
}

TEST_CASE("pareto_front rejects non-finite objectives naming the point", "[pareto]") {
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    for (size_t m : {2, 3}) {
      std::vector<ParetoPoint> pts = {pt(11, std::vector<double>(m, 1.0)),
                                      pt(42, std::vector<double>(m, 2.0), {1})};
      pts[1].objectives[1] = bad;  // even an infeasible point must be finite
      CAPTURE(bad, m);
      CHECK_THROWS_WITH(search::pareto_front(pts), Catch::Contains("point 42"));
      CHECK_THROWS_AS(search::nondominated_ranks(pts), std::invalid_argument);
    }
  }
  CHECK_THROWS_WITH(search::pareto_front({pt(1, {1, 2}), pt(2, {1, 2, 3})}),
                    Catch::Contains("point 2"));
  CHECK_THROWS_AS(search::pareto_front({pt(3, {1, 2}, {std::nan("")})}), std::invalid_argument);
}

TEST_CASE("nondominated_ranks matches brute-force peeling under constrained domination",
          "[pareto]") {
  std::mt19937 rng(99);
  for (size_t m : {2, 3}) {
    for (int set = 0; set < 150; ++set) {
      const auto pts =
          random_points(rng, m, std::uniform_int_distribution<size_t>(0, 40)(rng), 1 + set % 5);
      CAPTURE(m, set);
      const auto ranks = search::nondominated_ranks(pts);
      REQUIRE(ranks == brute_ranks(pts));
      // Rank 0 is the front when there is a feasible point.
      std::vector<int64_t> rank0;
      for (size_t i = 0; i < pts.size(); ++i) {
        if (ranks[i] == 0 && brute_feasible(pts[i])) rank0.push_back(pts[i].id);
      }
      REQUIRE(rank0 == search::pareto_front(pts));
    }
  }
}

TEST_CASE("nondominated_ranks on a hand-made set", "[pareto]") {
  const std::vector<ParetoPoint> pts = {
      pt(1, {1, 3}),       // 0
      pt(2, {3, 1}),       // 0
      pt(3, {2, 3}),       // 1 (dominated by 1)
      pt(4, {3, 3}),       // 2 (dominated by 3)
      pt(5, {0, 0}, {2}),  // infeasible, violation 2: 4
      pt(6, {9, 9}, {1}),  // infeasible, violation 1: 3
      pt(7, {0, 0}, {1}),  // infeasible, violation 1: 3 (objectives do not matter)
      pt(8, {1, 3}),       // duplicate of 1: 0
  };
  CHECK(search::nondominated_ranks(pts) == std::vector<int>{0, 0, 1, 2, 4, 3, 3, 0});
  CHECK(search::nondominated_ranks({pt(1, {0}, {3}), pt(2, {0}, {1})}) == std::vector<int>{1, 0});
  CHECK(search::nondominated_ranks({}).empty());
}

TEST_CASE("constrained domination: feasible first, then violation, then Pareto", "[pareto]") {
  const auto good = pt(1, {1, 1});
  const auto worse = pt(2, {1, 2}, {-1, 0});
  const auto same = pt(3, {1, 1}, {-5});
  const auto crossing = pt(4, {0, 3});
  const auto bad_small = pt(5, {0, 0}, {0.5, -3});     // violation 0.5
  const auto bad_large = pt(6, {-9, -9}, {0.5, 1});    // violation 1.5
  const auto bad_equal = pt(7, {5, 5}, {0.25, 0.25});  // violation 0.5

  CHECK(search::feasible(good));
  CHECK(search::feasible(worse));
  CHECK_FALSE(search::feasible(bad_small));
  CHECK(search::total_violation(good) == 0);
  CHECK(search::total_violation(worse) == 0);
  CHECK(search::total_violation(bad_small) == 0.5);
  CHECK(search::total_violation(bad_large) == 1.5);

  CHECK(search::constrained_dominates(good, worse));
  CHECK_FALSE(search::constrained_dominates(worse, good));
  CHECK_FALSE(search::constrained_dominates(good, same));  // identical objectives
  CHECK_FALSE(search::constrained_dominates(same, good));
  CHECK_FALSE(search::constrained_dominates(good, crossing));  // incomparable
  CHECK_FALSE(search::constrained_dominates(crossing, good));
  // Feasible beats infeasible whatever the objectives.
  CHECK(search::constrained_dominates(worse, bad_large));
  CHECK_FALSE(search::constrained_dominates(bad_large, worse));
  // Two infeasible: less total violation wins, objectives ignored; equal violation: neither.
  CHECK(search::constrained_dominates(bad_small, bad_large));
  CHECK_FALSE(search::constrained_dominates(bad_large, bad_small));
  CHECK_FALSE(search::constrained_dominates(bad_small, bad_equal));
  CHECK_FALSE(search::constrained_dominates(bad_equal, bad_small));

  CHECK(search::dominates({1, 2}, {1, 3}));
  CHECK_FALSE(search::dominates({1, 2}, {1, 2}));
  CHECK_FALSE(search::dominates({}, {}));
  CHECK_THROWS_AS(search::dominates({1}, {1, 2}), std::invalid_argument);
}

TEST_CASE("pick_tradeoff scores mu * P-hat + (1 - mu) * (1 - M-hat)", "[pick]") {
  // Values chosen to be exact in binary so the hand-computed scores compare exactly.
  const std::vector<PickCandidate> c = {
      cand(1, 1.0, 0.5, 500, 10.0),    // mu=.5: .75  mu=1: 1.0   mu=0: .5
      cand(2, 0.75, 0.25, 250, 12.0),  // mu=.5: .75  mu=1: .75   mu=0: .75
      cand(3, 0.5, 0.125, 125, 20.0),  // mu=.5: .6875 mu=1: .5   mu=0: .875
  };
  CHECK(search::tradeoff_score(c[0], 0.5) == 0.75);
  CHECK(search::tradeoff_score(c[1], 0.5) == 0.75);
  CHECK(search::tradeoff_score(c[2], 0.5) == 0.6875);
  CHECK(search::tradeoff_score(c[2], 0.0) == 0.875);
  // mu = 0.5: 1 and 2 tie at 0.75; 2 uses less memory.
  CHECK(search::pick_tradeoff(c, 0.5) == 2);
  // mu = 1: quality only.
  CHECK(search::pick_tradeoff(c, 1.0) == 1);
  // mu = 0: memory only.
  CHECK(search::pick_tradeoff(c, 0.0) == 3);
  // mu = 0.75: 1 -> .875, 2 -> .75, 3 -> .59375.
  CHECK(search::pick_tradeoff(c, 0.75) == 1);
  CHECK(search::pick_tradeoff({}, 0.5) == std::nullopt);
}

TEST_CASE("pick_tradeoff breaks ties by memory, then metric, then id", "[pick]") {
  // All score 0.75 at mu = 0.5.
  const auto a = cand(7, 1.0, 0.5, 400, 9.0);
  const auto b = cand(5, 0.75, 0.25, 400, 9.0);   // same memory and metric as a: lower id wins
  const auto c = cand(6, 0.5, 0.0, 400, 8.0);     // same memory, lower metric
  const auto d = cand(9, 0.75, 0.25, 300, 50.0);  // least memory
  CHECK(search::pick_tradeoff({a, b}, 0.5) == 5);
  CHECK(search::pick_tradeoff({b, a}, 0.5) == 5);
  CHECK(search::pick_tradeoff({a, b, c}, 0.5) == 6);
  CHECK(search::pick_tradeoff({c, a, b}, 0.5) == 6);
  CHECK(search::pick_tradeoff({a, b, c, d}, 0.5) == 9);
  CHECK(search::pick_tradeoff({d, c, b, a}, 0.5) == 9);
  // A higher score beats every tie-breaker.
  CHECK(search::pick_tradeoff({a, b, c, d, cand(99, 1.0, 0.25, 1e9, 1e9)}, 0.5) == 99);
}

TEST_CASE("pick_tradeoff rejects a bad mu or a non-finite value", "[pick]") {
  const std::vector<PickCandidate> c = {cand(1, 1.0, 0.5, 500, 10.0)};
  for (double mu : {-0.01, 1.01, std::nan(""), std::numeric_limits<double>::infinity()}) {
    CAPTURE(mu);
    CHECK_THROWS_AS(search::pick_tradeoff(c, mu), std::invalid_argument);
    CHECK_THROWS_AS(search::pick_tradeoff({}, mu), std::invalid_argument);
  }
  auto bad = c;
  bad.push_back(cand(8, std::nan(""), 0.5, 1, 1));
  CHECK_THROWS_WITH(search::pick_tradeoff(bad, 0.5), Catch::Contains("candidate 8"));
  bad.back() = cand(8, 1, std::numeric_limits<double>::infinity(), 1, 1);
  CHECK_THROWS_AS(search::pick_tradeoff(bad, 0.5), std::invalid_argument);
  bad.back() = cand(8, 1, 0.5, 1, std::nan(""));
  CHECK_THROWS_AS(search::pick_tradeoff(bad, 0.5), std::invalid_argument);
}

TEST_CASE("pick_lexicographic takes the least memory, then metric, then id", "[pick]") {
  CHECK(search::pick_lexicographic({}) == std::nullopt);
  CHECK(search::pick_lexicographic({cand(3, 0.9, 0.5, 500, 10)}) == 3);
  const std::vector<PickCandidate> c = {
      cand(4, 1.0, 0.9, 900, 5.0),
      cand(8, 0.1, 0.2, 200, 30.0),
      cand(6, 0.2, 0.2, 200, 20.0),  // same memory as 8, lower metric
      cand(2, 0.9, 0.3, 300, 1.0),
  };
  CHECK(search::pick_lexicographic(c) == 6);
  const std::vector<PickCandidate> tied = {
      cand(8, 0.1, 0.2, 200, 20.0), cand(6, 0.2, 0.2, 200, 20.0), cand(7, 0.2, 0.2, 200, 20.0)};
  CHECK(search::pick_lexicographic(tied) == 6);
  CHECK_THROWS_AS(search::pick_lexicographic({cand(1, 0, 0, std::nan(""), 0)}),
                  std::invalid_argument);
}
