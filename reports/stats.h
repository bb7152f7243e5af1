// Distribution-free statistics of the regression verdicts, as pure functions: the exact Wilcoxon
// signed-rank test, the Hodges–Lehmann estimate with its confidence interval from the Walsh
// averages, Benjamini–Hochberg adjusted p-values, and Student's two-sample t-test.
//
//   Walsh averages   (x_i + x_j) / 2 for every i <= j: n(n+1)/2 of them; their median is the
//                    Hodges–Lehmann estimate of the centre (pseudo-median) of a symmetric sample
//   W+               sum of the ranks of |x_i| over the positive x_i (zeros dropped, ties get
//                    their mid-rank)
#pragma once

#include <optional>
#include <vector>

#include "base/stats.h"

namespace hilq::reports::stats {

using hilq::median;  // base/stats.h

struct SignedRank {
  int n = 0;           // non-zero differences used (zeros are dropped, as Wilcoxon did)
  double w_plus = 0;   // sum of the (mid-)ranks of the positive differences
  double p = 1;        // two-sided p-value
  bool exact = false;  // from the exact permutation distribution (n <= kExactMaxN), else normal
};
inline constexpr int kExactMaxN = 50;

// Wilcoxon signed-rank test of "the differences are symmetric about 0". For n <= kExactMaxN the
// p-value is exact: every one of the 2^n sign assignments of the observed (mid-)ranks counted,
// so ties are handled by the conditional distribution, not by a correction. Above that, the
// normal approximation with tie and continuity corrections. No non-zero difference: p = 1.
SignedRank wilcoxon_signed_rank(const std::vector<double>& differences);

// P(W+ <= w) for n untied ranks 1..n under the null hypothesis (exact, n <= kExactMaxN).
double signed_rank_cdf(int n, int w);

struct HodgesLehmann {
  double estimate = 0;  // median of the Walsh averages
  // The distribution-free interval [A(c+1), A(M-c)] of the sorted Walsh averages A, c the
  // largest count with P(W+ <= c) <= (1 - confidence) / 2. Absent when n is too small for any
  // interval of that confidence (n <= 5 at 95 %).
  std::optional<double> low, high;
  double coverage = 0;  // the interval's exact coverage, >= the confidence asked for
};
HodgesLehmann hodges_lehmann(const std::vector<double>& values, double confidence = 0.95);

// Benjamini–Hochberg adjusted p-values, in the input order: p_(i) * m / i made monotone from the
// largest down, capped at 1. A test is a discovery at false discovery rate q when adjusted <= q.
std::vector<double> benjamini_hochberg(const std::vector<double>& p);

// Two-sided p of Student's t statistic with df degrees of freedom.
double student_t_two_sided_p(double t, double df);

// Student's two-sample t-test (pooled variance, sample standard deviations); p = 1 when both
// samples are constant and equal, 0 when constant and different. Each sample needs >= 2 values.
double t_test_p(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace hilq::reports::stats
