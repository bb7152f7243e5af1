// Change points in a history of nightly estimates: E-divisive means (Matteson & James' energy
// statistic with exponent 1, splitting where the two sides differ most), each split kept only
// when Student's t-test between the two sides gives p below the threshold; run on windows so a
// long history's small steps are not hidden by a large one.
//
//   series   x0 x1 x2 | x3 x4 x5 x6        a change point at index 3: the first point of the
//                     ^                    new segment; every segment has >= min_segment points
#pragma once

#include <cstddef>
#include <vector>

namespace hilq::reports {

struct ChangePointOptions {
  double p = 0.001;     // a split is kept when the t-test p is below this
  int window = 50;      // points per window; windows overlap by half
  int min_segment = 3;  // points on each side of a split (a single spike is never a change)
};

struct ChangePoint {
  size_t index = 0;                        // first point after the change
  double mean_before = 0, mean_after = 0;  // of the neighbouring segments
  double p = 1;                            // t-test between them
};

// E-divisive's divergence of splitting x[begin, end) before `split` (both sides non-empty).
double e_divisive_q(const std::vector<double>& x, size_t begin, size_t split, size_t end);

// The change points of `series`, in order; throws std::invalid_argument for bad options.
std::vector<ChangePoint> change_points(const std::vector<double>& series,
                                       const ChangePointOptions& options = {});

}  // namespace hilq::reports
