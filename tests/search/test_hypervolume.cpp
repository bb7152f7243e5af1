// Exact hypervolume against inclusion-exclusion over the union of boxes on random integer point
// sets full of ties and duplicates (2-D to 5-D), hand-computed examples, invariances, the error
// cases, and the study reference points (from limits, and the union fallback).
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "search/hypervolume.h"

namespace search = hilq::search;
using search::ParetoPoint;
using Points = std::vector<std::vector<double>>;

namespace {

// The volume of the union of the boxes [p, r) by inclusion-exclusion over every non-empty subset:
// the intersection of a subset's boxes is the box of their per-objective maximum. Written out
// independently of the library (no filtering), so only for n <= 12 (4,095 subsets).
double brute_hypervolume(const Points& pts, const std::vector<double>& ref) {
  const size_t n = pts.size();
  double total = 0;
  for (unsigned mask = 1; mask < (1U << n); ++mask) {
    std::vector<double> corner(ref.size(), -std::numeric_limits<double>::infinity());
    int count = 0;
    for (size_t i = 0; i < n; ++i) {
      if ((mask >> i) & 1U) {
        ++count;
        for (size_t k = 0; k < ref.size(); ++k) corner[k] = std::max(corner[k], pts[i][k]);
      }
    }
    double v = 1;
    for (size_t k = 0; k < ref.size(); ++k) v *= ref[k] - corner[k];
    total += count % 2 == 1 ? v : -v;
  }
  return total;
}

// Up to `max_n` points with integer coordinates in [0, hi) and a reference of hi..hi+2 per
// objective: small ranges make ties and duplicates common. Integer coordinates keep every partial
// sum an exactly representable integer, so both sides must agree exactly.
struct RandomSet {
  Points pts;
  std::vector<double> ref;
};

RandomSet random_set(std::mt19937& rng, size_t dims, size_t max_n, int hi) {
  std::uniform_int_distribution<size_t> count(0, max_n);
  std::uniform_int_distribution<int> coord(0, hi - 1);
  std::uniform_int_distribution<int> margin(0, 2);
  RandomSet s;
  for (size_t k = 0; k < dims; ++k) s.ref.push_back(hi + margin(rng));
  const size_t n = count(rng);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> p;
    for (size_t k = 0; k < dims; ++k) p.push_back(coord(rng));
    s.pts.push_back(p);
  }
  return s;
}

}  // namespace

TEST_CASE("hypervolume equals inclusion-exclusion over the boxes on random integer sets",
          "[search][hypervolume]") {
  const size_t dims = GENERATE(1, 2, 3, 4, 5);
  const int hi = GENERATE(3, 6);
  std::mt19937 rng(static_cast<unsigned>(1000 * dims + hi));
  for (int trial = 0; trial < 300; ++trial) {
    const RandomSet s = random_set(rng, dims, 12, hi);
    CAPTURE(dims, hi, trial, s.pts, s.ref);
    REQUIRE(search::hypervolume(s.pts, s.ref) == brute_hypervolume(s.pts, s.ref));
  }
}

TEST_CASE("hypervolume agrees with inclusion-exclusion on random real-valued sets",
          "[search][hypervolume]") {
  const size_t dims = GENERATE(2, 3, 4, 5);
  std::mt19937 rng(static_cast<unsigned>(77 + dims));
  std::uniform_real_distribution<double> coord(0.0, 1.0);
  std::uniform_int_distribution<size_t> count(1, 12);
  const std::vector<double> ref(dims, 1.0);
  for (int trial = 0; trial < 100; ++trial) {
    Points pts(count(rng), std::vector<double>(dims));
    for (auto& p : pts) {
      for (auto& v : p) v = coord(rng);
    }
    CAPTURE(dims, trial, pts);
    // The two sum different terms in different orders; both are bounded by 1 (the unit box), and
    // inclusion-exclusion cancels up to 4,095 terms of size <= 1: 1e-12 covers its rounding.
    REQUIRE(search::hypervolume(pts, ref) ==
            Approx(brute_hypervolume(pts, ref)).margin(1e-12).epsilon(0));
  }
}

TEST_CASE("hypervolume matches hand-computed examples", "[search][hypervolume]") {
  // 1-D: the distance from the best point to the reference.
  CHECK(search::hypervolume({{3}, {1}, {2}}, {5}) == 4);
  // 2-D staircase: strips 3 x 1, 2 x 1, 1 x 1.
  CHECK(search::hypervolume({{1, 3}, {2, 2}, {3, 1}}, {4, 4}) == 6);
  CHECK(search::hypervolume({{0.5, 0.25}}, {1, 1}) == 0.375);
  // 3-D: one box 1 x 2 x 3; two boxes of 2 overlapping in a unit cube.
  CHECK(search::hypervolume({{1, 1, 1}}, {2, 3, 4}) == 6);
  CHECK(search::hypervolume({{0, 0, 1}, {0, 1, 0}}, {1, 2, 2}) == 3);
  // 4-D: the points of [0,2)^4 with at most one coordinate below 1: 1 + 4 x 1.
  CHECK(search::hypervolume({{0, 1, 1, 1}, {1, 0, 1, 1}, {1, 1, 0, 1}, {1, 1, 1, 0}},
                            {2, 2, 2, 2}) == 5);
  // 5-D: one point at the origin dominates the others; its box is 2^5.
  CHECK(search::hypervolume({{1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}, {0, 1, 0, 1, 0}}, {2, 2, 2, 2, 2}) ==
        32);
}

TEST_CASE("hypervolume does not depend on point order, duplicates or dominated points",
          "[search][hypervolume]") {
  const size_t dims = GENERATE(2, 3, 4, 5);
  std::mt19937 rng(static_cast<unsigned>(4242 + dims));
  for (int trial = 0; trial < 100; ++trial) {
    RandomSet s = random_set(rng, dims, 30, 5);
    const double base = search::hypervolume(s.pts, s.ref);
    CAPTURE(dims, trial, s.pts);
    Points shuffled = s.pts;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    CHECK(search::hypervolume(shuffled, s.ref) == base);
    // Copies of points, and points each one dominates (pushed up but still inside the reference).
    Points more = s.pts;
    std::uniform_int_distribution<int> up(0, 2);
    for (const auto& p : s.pts) {
      more.push_back(p);
      std::vector<double> q = p;
      for (size_t k = 0; k < dims; ++k) q[k] = std::min(q[k] + up(rng), s.ref[k] - 1);
      more.push_back(q);
    }
    std::shuffle(more.begin(), more.end(), rng);
    CHECK(search::hypervolume(more, s.ref) == base);
  }
}

TEST_CASE("hypervolume of an empty set is 0", "[search][hypervolume]") {
  CHECK(search::hypervolume({}, {1, 2}) == 0);
  CHECK(search::hypervolume({}, {1, 2, 3, 4}) == 0);
  CHECK(search::feasible_hypervolume({}, {1, 2}) == 0);
}

TEST_CASE("hypervolume rejects points on or outside the reference, naming point and objective",
          "[search][hypervolume]") {
  const size_t dims = GENERATE(2, 3, 4);
  const std::vector<double> ref(dims, 5.0);
  Points pts(3, std::vector<double>(dims, 1.0));
  SECTION("equal to the reference in one objective") {
    pts[1][dims - 1] = 5;
    CHECK_THROWS_AS(search::hypervolume(pts, ref), std::invalid_argument);
    CHECK_THROWS_WITH(search::hypervolume(pts, ref),
                      Catch::Contains("point 1 objective " + std::to_string(dims - 1)));
  }
  SECTION("outside the reference") {
    pts[2][0] = 7;
    CHECK_THROWS_WITH(search::hypervolume(pts, ref), Catch::Contains("point 2 objective 0"));
  }
  SECTION("a dominated point outside the reference is still an error") {
    pts.push_back(std::vector<double>(dims, 9.0));
    CHECK_THROWS_WITH(search::hypervolume(pts, ref), Catch::Contains("point 3 objective 0"));
  }
}

TEST_CASE("hypervolume rejects dimension mismatches and non-finite values",
          "[search][hypervolume]") {
  CHECK_THROWS_WITH(search::hypervolume({{1, 1}, {1, 1, 1}}, {5, 5}),
                    Catch::Contains("point 1 has 3 objectives"));
  CHECK_THROWS_AS(search::hypervolume({{1}}, {5, 5}), std::invalid_argument);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(search::hypervolume({{1, 1}, {nan, 1}}, {5, 5}),
                    Catch::Contains("point 1 objective 0"));
  CHECK_THROWS_WITH(search::hypervolume({{1, -inf, 1}}, {5, 5, 5}),
                    Catch::Contains("point 0 objective 1"));
  CHECK_THROWS_AS(search::hypervolume({{1, 1}}, {5, nan}), std::invalid_argument);
  CHECK_THROWS_AS(search::hypervolume({}, {5, inf}), std::invalid_argument);
  CHECK_THROWS_AS(search::hypervolume({}, {}), std::invalid_argument);
}

TEST_CASE("feasible hypervolume counts only the feasible points", "[search][hypervolume]") {
  const std::vector<ParetoPoint> pts = {
      {1, {1, 3}, {0}},
      {2, {3, 1}, {-1}},
      {3, {0, 0}, {0.5}},  // infeasible: would dominate everything
      {4, {9, 9}, {2}},    // infeasible and outside the reference: excluded, not an error
  };
  CHECK(search::feasible_hypervolume(pts, {4, 4}) == search::hypervolume({{1, 3}, {3, 1}}, {4, 4}));
  CHECK(search::feasible_hypervolume({{5, {4, 1}, {1}}}, {4, 4}) == 0);  // only infeasible
}

TEST_CASE("feasible hypervolume names the id of a feasible point outside the reference",
          "[search][hypervolume]") {
  const std::vector<ParetoPoint> pts = {{7, {1, 1}, {}}, {42, {1, 4}, {-0.5}}};
  CHECK_THROWS_WITH(search::feasible_hypervolume(pts, {4, 4}),
                    Catch::Contains("point id 42 objective 1"));
}

TEST_CASE("the reference from the study limits follows the objective names",
          "[search][hypervolume]") {
  search::StudyLimits limits;
  limits.metric_limit = 21.0;
  limits.memory_budget_bytes = 3e6;
  limits.fp16_decode_ms = 10.0;
  const auto ref = search::reference_from_limits({"memory_bytes", "metric", "decode_ms"}, limits);
  REQUIRE(ref.size() == 3);
  CHECK(ref[0] == 3e6);
  CHECK(ref[1] == 21.0);
  CHECK(ref[2] == Approx(11.0));
  CHECK_THROWS_WITH(search::reference_from_limits({"metric", "energy_uj"}, limits),
                    Catch::Contains("fp16_energy_uj"));
  CHECK_THROWS_WITH(search::reference_from_limits({"metric", "accuracy"}, limits),
                    Catch::Contains("unknown objective 'accuracy'"));
  CHECK_THROWS_WITH(search::reference_from_limits({"metric", "metric"}, limits),
                    Catch::Contains("twice"));
  limits.memory_budget_bytes = 0.0;
  CHECK_THROWS_WITH(search::reference_from_limits({"memory_bytes"}, limits),
                    Catch::Contains("finite and positive"));
  limits.fp16_energy_uj = 100.0;
  CHECK(search::reference_from_limits({"energy_uj"}, limits)[0] == Approx(110.0));
}

TEST_CASE("the union reference is the worst value plus a tenth of the range",
          "[search][hypervolume]") {
  const std::vector<Points> fronts = {{{1, 10}, {3, 6}}, {{2, 8}, {5, 2}}};
  const auto ref = search::reference_from_union(fronts);
  REQUIRE(ref.size() == 2);
  CHECK(ref[0] == Approx(5 + 0.1 * 4));
  CHECK(ref[1] == Approx(10 + 0.1 * 8));
  // Every point of every set lies strictly inside it.
  for (const auto& f : fronts) CHECK(search::hypervolume(f, ref) > 0);
  // Zero range: a tenth of the value, or 0.1 when that is 0.
  const auto flat = search::reference_from_union({{{2, 0}}, {{2, 0}}});
  CHECK(flat[0] == Approx(2.2));
  CHECK(flat[1] == Approx(0.1));
  CHECK(search::reference_from_union({{{-4, 1}}})[0] == Approx(-3.6));
  CHECK_THROWS_AS(search::reference_from_union({}), std::invalid_argument);
  CHECK_THROWS_AS(search::reference_from_union({{}, {}}), std::invalid_argument);
  CHECK_THROWS_WITH(search::reference_from_union({{{1, 2}}, {{1, 2, 3}}}),
                    Catch::Contains("set 1 point 0 has 3 objectives"));
  CHECK_THROWS_AS(search::reference_from_union({{{1, std::nan("")}}}), std::invalid_argument);
}

TEST_CASE("hypervolume timings on larger fronts go to the log", "[search][hypervolume]") {
  // Printed only (no assertion on time: the machine is shared). Points on the simplex
  // sum(x) = 1, so none dominates another: the worst case for every method.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.01, 1.0);
  for (const auto& [dims, n] :
       std::vector<std::pair<size_t, size_t>>{{2, 100000}, {3, 2000}, {4, 200}, {5, 60}}) {
    Points pts(n, std::vector<double>(dims));
    for (auto& p : pts) {
      double sum = 0;
      for (auto& v : p) sum += (v = u(rng));
      for (auto& v : p) v /= sum;
    }
    const auto start = std::chrono::steady_clock::now();
    const double hv = search::hypervolume(pts, std::vector<double>(dims, 1.0));
    const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;
    std::printf("hypervolume: %zu objectives, %zu points: %.3f ms (hv %.6f)\n", dims, n, ms.count(),
                hv);
    CHECK(hv > 0);
  }
}
