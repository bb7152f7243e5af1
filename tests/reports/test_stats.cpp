// The statistics of the verdicts against hand-computed values and brute force: the exact
// signed-rank p (ties, zeros), the Hodges-Lehmann estimate and its interval, Benjamini-Hochberg,
// Student's t, and E-divisive change points on series with known steps.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "reports/change_points.h"
#include "reports/stats.h"

namespace stats = hilq::reports::stats;
namespace reports = hilq::reports;

namespace {

// Brute force: the two-sided signed-rank p over all 2^n sign flips of the observed |d| (mid-ranks).
double brute_force_p(const std::vector<double>& d) {
  std::vector<double> a;
  for (double x : d)
    if (x != 0) a.push_back(std::fabs(x));
  const size_t n = a.size();
  std::vector<double> rank(n);
  for (size_t i = 0; i < n; ++i) {
    double less = 0, equal = 0;
    for (size_t j = 0; j < n; ++j) {
      less += a[j] < a[i];
      equal += a[j] == a[i];
    }
    rank[i] = less + (equal + 1) / 2.0;
  }
  double observed = 0;
  size_t k = 0;
  for (double x : d)
    if (x != 0) observed += x > 0 ? rank[k++] : (++k, 0.0);
  double lower = 0, upper = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    double w = 0;
    for (size_t i = 0; i < n; ++i)
      if (mask & (1u << i)) w += rank[i];
    lower += w <= observed + 1e-9;
    upper += w >= observed - 1e-9;
  }
  const double total = std::ldexp(1.0, static_cast<int>(n));
  return std::min(1.0, 2 * std::min(lower, upper) / total);
}

}  // namespace

TEST_CASE("The exact signed-rank p matches hand-computed values", "[verdict]") {
  // All five positive: W+ = 15, P(W+ >= 15) = 1/32, two-sided 2/32.
  auto r = stats::wilcoxon_signed_rank({1, 2, 3, 4, 5});
  CHECK(r.n == 5);
  CHECK(r.w_plus == 15);
  CHECK(r.exact);
  CHECK(r.p == Approx(0.0625));
  // One negative of rank 1: W+ = 14, P(W+ >= 14) = P(W+ <= 1) = 2/32.
  CHECK(stats::wilcoxon_signed_rank({-1, 2, 3, 4, 5}).p == Approx(0.125));
  // The smallest attainable p with 6, 8, 10 pairs: 2/64, 2/256, 2/1024.
  CHECK(stats::wilcoxon_signed_rank({1, 2, 3, 4, 5, 6}).p == Approx(0.03125));
  CHECK(stats::wilcoxon_signed_rank({1, 2, 3, 4, 5, 6, 7, 8}).p == Approx(0.0078125));
  CHECK(stats::wilcoxon_signed_rank({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}).p == Approx(0.001953125));
  // Zeros are dropped (Wilcoxon's convention): the same as the five positives.
  r = stats::wilcoxon_signed_rank({0, 1, 2, 0, 3, 4, 5});
  CHECK(r.n == 5);
  CHECK(r.p == Approx(0.0625));
  // Ties: |d| = 1, 1, 2, 3 have mid-ranks 1.5, 1.5, 3, 4; W+ = 6 (1.5 + 1.5 + 3). Of the 16
  // subsets of {1.5, 1.5, 3, 4}, 6 reach >= 6 and 11 stay <= 6: p = 2 x 6/16 = 0.75.
  r = stats::wilcoxon_signed_rank({1, 1, 2, -3});
  CHECK(r.w_plus == 6);
  CHECK(r.p == Approx(0.75));
  CHECK(stats::wilcoxon_signed_rank({}).p == 1.0);
  CHECK(stats::wilcoxon_signed_rank({0, 0}).p == 1.0);
}

TEST_CASE("The exact signed-rank p equals brute force over every sign flip, ties included",
          "[verdict]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 12);
    std::vector<double> d;
    d.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)  // small integers: many ties and some zeros
      d.push_back(static_cast<double>(static_cast<int>(rng() % 9) - 3));
    CAPTURE(d);
    CHECK(stats::wilcoxon_signed_rank(d).p == Approx(brute_force_p(d)).margin(1e-12));
  }
}

TEST_CASE("The null distribution of W+ is the subset-sum count", "[verdict]") {
  // n = 8: sums 0..4 are reached by 1, 1, 1, 2, 2 subsets of {1..8}.
  CHECK(stats::signed_rank_cdf(8, 3) == Approx(5.0 / 256));
  CHECK(stats::signed_rank_cdf(8, 4) == Approx(7.0 / 256));
  CHECK(stats::signed_rank_cdf(8, 36) == Approx(1.0));
  CHECK(stats::signed_rank_cdf(8, -1) == 0.0);
}

TEST_CASE("Hodges-Lehmann estimate and interval match hand-computed values", "[verdict]") {
  // Walsh averages of {1, 2, 4}: 1, 1.5, 2, 2.5, 3, 4 -> median 2.25; three values are too few
  // for any 95 % interval (P(W+ <= 0) = 1/8 > 0.025).
  auto hl = stats::hodges_lehmann({1, 2, 4});
  CHECK(hl.estimate == Approx(2.25));
  CHECK(!hl.low);
  CHECK(!hl.high);
  CHECK(!stats::hodges_lehmann({1, 2, 3, 4, 5}).low);  // 1/32 > 0.025: still none
  // n = 6: c = 0 (1/64 <= 0.025 < 2/64): [A(1), A(21)] = [min, max], coverage 1 - 2/64.
  hl = stats::hodges_lehmann({6, 1, 5, 2, 4, 3});
  CHECK(hl.estimate == Approx(3.5));
  CHECK(*hl.low == 1);
  CHECK(*hl.high == 6);
  CHECK(hl.coverage == Approx(1 - 2.0 / 64));
  // n = 8: c = 3 (5/256 <= 0.025 < 7/256): [A(4), A(33)] of the 36 Walsh averages of 1..8,
  // A(4) = 2 ((1+3)/2 and (2+2)/2 tie at 2) and A(33) = 9 - 2 by symmetry.
  hl = stats::hodges_lehmann({1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(hl.estimate == Approx(4.5));
  CHECK(*hl.low == 2);
  CHECK(*hl.high == 7);
  CHECK(hl.coverage == Approx(1 - 10.0 / 256));
  // Shifting the data shifts the estimate and the interval.
  const auto shifted = stats::hodges_lehmann({11, 12, 13, 14, 15, 16, 17, 18});
  CHECK(shifted.estimate == Approx(14.5));
  CHECK(*shifted.low == 12);
  CHECK(*shifted.high == 17);
}

TEST_CASE("Benjamini-Hochberg adjusts in input order, monotone and capped", "[verdict]") {
  // Sorted 0.005, 0.01, 0.03, 0.04 -> x4/1, x4/2, x4/3, x4/4 = 0.02, 0.02, 0.04, 0.04.
  const auto adj = stats::benjamini_hochberg({0.01, 0.04, 0.03, 0.005});
  REQUIRE(adj.size() == 4);
  CHECK(adj[0] == Approx(0.02));
  CHECK(adj[1] == Approx(0.04));
  CHECK(adj[2] == Approx(0.04));
  CHECK(adj[3] == Approx(0.02));
  // A large p further down pulls nothing up; the cap is 1.
  const auto capped = stats::benjamini_hochberg({0.9, 0.6});
  CHECK(capped[0] == Approx(0.9));
  CHECK(capped[1] == Approx(0.9));
  CHECK(stats::benjamini_hochberg({}).empty());
}

TEST_CASE("Student's t p-values match closed forms", "[verdict]") {
  CHECK(stats::student_t_two_sided_p(1.0, 1) == Approx(0.5));  // Cauchy
  CHECK(stats::student_t_two_sided_p(2.0, 2) == Approx(1 - 2 / std::sqrt(6.0)));
  CHECK(stats::student_t_two_sided_p(0.0, 5) == Approx(1.0));
  // {1,2,3} vs {4,5,6}: pooled variance 1, t = -3/sqrt(2/3), df 4.
  const double t = 3 / std::sqrt(2.0 / 3);
  CHECK(stats::t_test_p({1, 2, 3}, {4, 5, 6}) == Approx(stats::student_t_two_sided_p(t, 4)));
  CHECK(stats::t_test_p({1, 2, 3}, {4, 5, 6}) == Approx(0.0213116).epsilon(1e-4));
  CHECK(stats::t_test_p({2, 2}, {2, 2}) == 1.0);
  CHECK(stats::t_test_p({2, 2}, {3, 3}) == 0.0);
}

TEST_CASE("E-divisive finds a known step and nothing in a flat series", "[verdict]") {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 0.5);
  std::vector<double> step;
  step.reserve(24);
  for (int i = 0; i < 12; ++i) step.push_back(100 + noise(rng));
  for (int i = 0; i < 12; ++i) step.push_back(105 + noise(rng));
  auto cps = reports::change_points(step);
  REQUIRE(cps.size() == 1);
  CHECK(cps[0].index == 12);
  CHECK(cps[0].mean_before == Approx(100).margin(0.5));
  CHECK(cps[0].mean_after == Approx(105).margin(0.5));
  CHECK(cps[0].p < 0.001);

  std::vector<double> flat;
  flat.reserve(40);
  for (int i = 0; i < 40; ++i) flat.push_back(100 + noise(rng));
  CHECK(reports::change_points(flat).empty());

  // One spike is not a change: every segment needs three points.
  std::vector<double> spike(20, 100.0);
  for (size_t i = 0; i < spike.size(); ++i) spike[i] += 0.1 * static_cast<double>(i % 3);
  spike[10] = 150;
  CHECK(reports::change_points(spike).empty());
}

TEST_CASE("Windowed E-divisive finds two steps in a series longer than a window", "[verdict]") {
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 0.3);
  std::vector<double> x;
  x.reserve(90);
  for (int i = 0; i < 30; ++i) x.push_back(50 + noise(rng));
  for (int i = 0; i < 30; ++i) x.push_back(53 + noise(rng));
  for (int i = 0; i < 30; ++i) x.push_back(51 + noise(rng));
  reports::ChangePointOptions o;
  o.window = 40;
  const auto cps = reports::change_points(x, o);
  REQUIRE(cps.size() == 2);
  CHECK(cps[0].index == 30);
  CHECK(cps[1].index == 60);
  // The divergence is largest at the true split of a clean step.
  const std::vector<double> clean = {1, 1, 1, 1, 5, 5, 5, 5};
  CHECK(reports::e_divisive_q(clean, 0, 4, 8) > reports::e_divisive_q(clean, 0, 3, 8));
  CHECK(reports::e_divisive_q(clean, 0, 4, 8) == Approx(4 * 4 / 8.0 * 2 * 4.0));
  CHECK_THROWS(reports::change_points(x, {0.001, 4, 3}));
}
