// Small summary statistics shared by the folders above base (reports' verdicts, the search's
// scoring bench, the QAT experiment's time estimate).
#pragma once

#include <vector>

namespace hilq {

// The median (mean of the two middle values for an even count); throws std::invalid_argument
// for an empty sample.
double median(std::vector<double> values);

}  // namespace hilq
