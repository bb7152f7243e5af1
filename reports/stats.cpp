// Signed-rank, Hodges–Lehmann, Benjamini–Hochberg and t-test (see stats.h).
#include "reports/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace hilq::reports::stats {
namespace {

// Counts of sign assignments by W+ for integer rank weights: out[s] = number of subsets of the
// weights summing to s. Counts stay below 2^50, exact in a double.
std::vector<double> subset_sum_counts(const std::vector<int>& weights) {
  int total = 0;
  for (int w : weights) total += w;
  std::vector<double> counts(static_cast<size_t>(total) + 1, 0.0);
  counts[0] = 1;
  int reach = 0;
  for (int w : weights) {
    for (int s = reach; s >= 0; --s)
      if (counts[static_cast<size_t>(s)] != 0)
        counts[static_cast<size_t>(s) + static_cast<size_t>(w)] += counts[static_cast<size_t>(s)];
    reach += w;
  }
  return counts;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// The standard normal quantile by bisection (only the rare n > kExactMaxN path needs it).
double normal_quantile(double q) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (normal_cdf(mid) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Continued fraction of the regularized incomplete beta function (modified Lentz).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-15;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));  // even step
    d = 1.0 + num * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + num / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));  // odd step
    d = 1.0 + num * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + num / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEps) break;
  }
  return h;
}

// I_x(a, b), the regularized incomplete beta function.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

}  // namespace

SignedRank wilcoxon_signed_rank(const std::vector<double>& differences) {
  std::vector<double> nonzero;
  for (double d : differences)
    if (d != 0) nonzero.push_back(d);
  SignedRank out;
  out.n = static_cast<int>(nonzero.size());
  if (out.n == 0) {
    out.exact = true;
    return out;
  }
  // Doubled mid-ranks of |d| are integers, so ties keep an exact integer distribution.
  std::vector<size_t> order(nonzero.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return std::fabs(nonzero[a]) < std::fabs(nonzero[b]); });
  std::vector<int> rank2(nonzero.size());
  std::vector<int> tie_sizes;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && std::fabs(nonzero[order[j + 1]]) == std::fabs(nonzero[order[i]]))
      ++j;
    const int doubled = static_cast<int>(i + 1 + j + 1);  // 2 x mid-rank of positions i..j
    for (size_t k = i; k <= j; ++k) rank2[order[k]] = doubled;
    tie_sizes.push_back(static_cast<int>(j - i + 1));
    i = j + 1;
  }
  int w2 = 0;
  for (size_t i = 0; i < nonzero.size(); ++i)
    if (nonzero[i] > 0) w2 += rank2[i];
  out.w_plus = w2 / 2.0;
  const double n = out.n;
  if (out.n <= kExactMaxN) {
    const std::vector<double> counts = subset_sum_counts(rank2);
    const double total = std::ldexp(1.0, out.n);
    double lower = 0, upper = 0;
    for (size_t s = 0; s < counts.size(); ++s) {
      if (static_cast<int>(s) <= w2) lower += counts[s];
      if (static_cast<int>(s) >= w2) upper += counts[s];
    }
    out.p = std::min(1.0, 2.0 * std::min(lower, upper) / total);
    out.exact = true;
    return out;
  }
  double tie_term = 0;
  for (int t : tie_sizes) tie_term += (static_cast<double>(t) * t * t - t) / 48.0;
  const double mean = n * (n + 1) / 4.0;
  const double sd = std::sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - tie_term);
  const double diff = std::fabs(out.w_plus - mean);
  out.p = sd > 0 ? std::min(1.0, 2.0 * (1.0 - normal_cdf((diff - 0.5) / sd))) : 1.0;
  if (diff < 0.5) out.p = 1.0;
  return out;
}

double signed_rank_cdf(int n, int w) {
  if (n < 0 || n > kExactMaxN) throw std::invalid_argument("signed_rank_cdf: n out of range");
  if (w < 0) return 0;
  std::vector<int> ranks(static_cast<size_t>(n));
  std::iota(ranks.begin(), ranks.end(), 1);
  const std::vector<double> counts = subset_sum_counts(ranks);
  double below = 0;
  for (size_t s = 0; s < counts.size() && static_cast<int>(s) <= w; ++s) below += counts[s];
  return below / std::ldexp(1.0, n);
}

HodgesLehmann hodges_lehmann(const std::vector<double>& values, double confidence) {
  if (values.empty()) throw std::invalid_argument("Hodges-Lehmann estimate of an empty sample");
  const size_t n = values.size();
  std::vector<double> walsh;
  walsh.reserve(n * (n + 1) / 2);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i; j < n; ++j) walsh.push_back(0.5 * (values[i] + values[j]));
  std::sort(walsh.begin(), walsh.end());
  HodgesLehmann out;
  out.estimate = median(walsh);
  const double tail = (1.0 - confidence) / 2.0;
  const int m = static_cast<int>(walsh.size());
  int c = -1;  // the largest count with P(W+ <= c) <= tail
  double tail_mass = 0;
  if (static_cast<int>(n) <= kExactMaxN) {
    std::vector<int> ranks(n);
    std::iota(ranks.begin(), ranks.end(), 1);
    const std::vector<double> counts = subset_sum_counts(ranks);
    const double total = std::ldexp(1.0, static_cast<int>(n));
    double cum = 0;
    for (size_t s = 0; s < counts.size(); ++s) {
      if ((cum + counts[s]) / total > tail) break;
      cum += counts[s];
      c = static_cast<int>(s);
    }
    tail_mass = cum / total;
  } else {
    // Normal approximation of the same critical count.
    const auto nn = static_cast<double>(n);
    const double zq = normal_quantile(1.0 - tail);
    c = static_cast<int>(std::floor(nn * (nn + 1) / 4.0 - 0.5 -
                                    zq * std::sqrt(nn * (nn + 1) * (2 * nn + 1) / 24.0)));
    tail_mass = tail;
  }
  if (c >= 0 && c < m - c - 1) {
    out.low = walsh[static_cast<size_t>(c)];
    out.high = walsh[static_cast<size_t>(m - c - 1)];
    out.coverage = 1.0 - 2.0 * tail_mass;
  }
  return out;
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m, 1.0);
  double running = 1.0;
  for (size_t k = m; k-- > 0;) {
    const size_t i = order[k];
    running = std::min(running, p[i] * static_cast<double>(m) / static_cast<double>(k + 1));
    adjusted[i] = std::min(1.0, running);
  }
  return adjusted;
}

double student_t_two_sided_p(double t, double df) {
  if (!std::isfinite(t)) return 0.0;
  return incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

double t_test_p(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() < 2 || b.size() < 2)
    throw std::invalid_argument("t-test: each sample needs at least 2 values");
  auto mean_var = [](const std::vector<double>& v) {
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    double ss = 0;
    for (double x : v) ss += (x - mean) * (x - mean);
    return std::pair<double, double>{mean, ss};
  };
  const auto [ma, ssa] = mean_var(a);
  const auto [mb, ssb] = mean_var(b);
  const auto na = static_cast<double>(a.size());
  const auto nb = static_cast<double>(b.size());
  const double df = na + nb - 2.0;
  const double pooled = (ssa + ssb) / df;
  const double se = std::sqrt(pooled * (1.0 / na + 1.0 / nb));
  if (se == 0) return ma == mb ? 1.0 : 0.0;
  return student_t_two_sided_p((ma - mb) / se, df);
}

}  // namespace hilq::reports::stats
