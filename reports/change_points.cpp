// E-divisive means with a t-test, windowed (see change_points.h).
#include "reports/change_points.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <stdexcept>

#include "reports/stats.h"

namespace hilq::reports {
namespace {

using Segment = std::pair<size_t, size_t>;  // [begin, end)

std::vector<double> slice(const std::vector<double>& x, size_t begin, size_t end) {
  return {x.begin() + static_cast<std::ptrdiff_t>(begin),
          x.begin() + static_cast<std::ptrdiff_t>(end)};
}

// The t-test p of the split at `at` between its neighbours (1 when a side has < 2 points).
double split_p(const std::vector<double>& x, size_t begin, size_t at, size_t end) {
  if (at - begin < 2 || end - at < 2) return 1.0;
  return stats::t_test_p(slice(x, begin, at), slice(x, at, end));
}

double mean_of(const std::vector<double>& x, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += x[i];
  return end > begin ? s / static_cast<double>(end - begin) : 0.0;
}

// Change points inside x[begin, end), found by splitting the segment with the largest
// divergence while its t-test passes.
std::vector<size_t> divide(const std::vector<double>& x, size_t begin, size_t end,
                           const ChangePointOptions& o) {
  const auto min_seg = static_cast<size_t>(o.min_segment);
  std::vector<size_t> found;
  for (;;) {
    std::vector<size_t> bounds = found;
    bounds.insert(bounds.begin(), begin);
    bounds.push_back(end);
    std::optional<size_t> best;
    double best_q = -1;
    Segment best_segment;
    for (size_t s = 0; s + 1 < bounds.size(); ++s) {
      const size_t a = bounds[s], b = bounds[s + 1];
      if (b - a < 2 * min_seg) continue;
      for (size_t t = a + min_seg; t + min_seg <= b; ++t) {
        const double q = e_divisive_q(x, a, t, b);
        if (q > best_q) {
          best_q = q;
          best = t;
          best_segment = {a, b};
        }
      }
    }
    if (!best || split_p(x, best_segment.first, *best, best_segment.second) >= o.p) return found;
    found.insert(std::upper_bound(found.begin(), found.end(), *best), *best);
  }
}

}  // namespace

double e_divisive_q(const std::vector<double>& x, size_t begin, size_t split, size_t end) {
  const auto m = static_cast<double>(split - begin);
  const auto k = static_cast<double>(end - split);
  double between = 0, within_left = 0, within_right = 0;
  for (size_t i = begin; i < split; ++i)
    for (size_t j = split; j < end; ++j) between += std::fabs(x[i] - x[j]);
  for (size_t i = begin; i < split; ++i)
    for (size_t j = i + 1; j < split; ++j) within_left += std::fabs(x[i] - x[j]);
  for (size_t i = split; i < end; ++i)
    for (size_t j = i + 1; j < end; ++j) within_right += std::fabs(x[i] - x[j]);
  const double energy = 2.0 * between / (m * k) -
                        (m > 1 ? within_left / (m * (m - 1) / 2.0) : 0.0) -
                        (k > 1 ? within_right / (k * (k - 1) / 2.0) : 0.0);
  return m * k / (m + k) * energy;
}

std::vector<ChangePoint> change_points(const std::vector<double>& series,
                                       const ChangePointOptions& o) {
  if (o.min_segment < 2) throw std::invalid_argument("change points: min_segment must be >= 2");
  if (o.window < 2 * o.min_segment)
    throw std::invalid_argument("change points: window must hold two minimum segments");
  if (!(o.p > 0 && o.p < 1)) throw std::invalid_argument("change points: p must be in (0, 1)");
  const size_t n = series.size();
  const auto window = static_cast<size_t>(o.window);
  const auto min_seg = static_cast<size_t>(o.min_segment);
  // Overlapping windows; the next one starts at the last change found or half a window on.
  std::vector<size_t> found;
  for (size_t start = 0; start < n;) {
    const size_t end = std::min(start + window, n);
    std::vector<size_t> here = divide(series, start, end, o);
    for (size_t c : here)
      if (std::none_of(found.begin(), found.end(),
                       [&](size_t f) { return (f > c ? f - c : c - f) < min_seg; }))
        found.push_back(c);
    if (end == n) break;
    start = std::max(here.empty() ? start : here.back(), start + window / 2);
  }
  std::sort(found.begin(), found.end());
  // Re-test each change between its neighbours; drop the weakest that fails until all pass.
  for (;;) {
    std::optional<size_t> worst;
    double worst_p = -1;
    for (size_t i = 0; i < found.size(); ++i) {
      const size_t a = i == 0 ? 0 : found[i - 1];
      const size_t b = i + 1 == found.size() ? n : found[i + 1];
      const double p = (found[i] - a < min_seg || b - found[i] < min_seg)
                           ? 1.0
                           : split_p(series, a, found[i], b);
      if (p >= o.p && p > worst_p) {
        worst_p = p;
        worst = i;
      }
    }
    if (!worst) break;
    found.erase(found.begin() + static_cast<std::ptrdiff_t>(*worst));
  }
  std::vector<ChangePoint> out;
  for (size_t i = 0; i < found.size(); ++i) {
    const size_t a = i == 0 ? 0 : found[i - 1];
    const size_t b = i + 1 == found.size() ? n : found[i + 1];
    out.push_back({found[i], mean_of(series, a, found[i]), mean_of(series, found[i], b),
                   split_p(series, a, found[i], b)});
  }
  return out;
}

}  // namespace hilq::reports
