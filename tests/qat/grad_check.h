// Finite-difference gradient check shared by the qat tests: compares backward() against central
// differences of L = sum(f(inputs) .* R) for a fixed random R.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <random>
#include <vector>

#include "qat/autograd.h"
#include "qat/ops.h"

namespace hilq::qat::testing {

inline Mat random_mat(int rows, int cols, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Mat m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
  return m;
}

using OpFn = std::function<Var(const std::vector<Var>&)>;

// Checks every input element (or `max_checks` of them, spread evenly). eps and tolerances are
// chosen for float32 forwards: central differences with eps 1e-2 have O(eps^2) truncation error
// and ~1e-7*|L|/eps rounding error, both far below rtol 2e-2 for the smooth ops tested here.
inline void check_gradients(const OpFn& f, std::vector<Mat> inputs, double eps = 1e-2,
                            double rtol = 2e-2, double atol = 2e-3, int max_checks = 60) {
  std::vector<Var> vars;
  for (auto& m : inputs) vars.push_back(parameter(m));
  Var out = f(vars);
  const Mat weights = random_mat(out->rows(), out->cols(), 12345);
  backward(sum(mul(out, constant(weights))));

  auto loss_at = [&](const std::vector<Mat>& xs) {
    NoGrad ng;
    std::vector<Var> vs;
    for (const auto& m : xs) vs.push_back(constant(m));
    const Mat o = f(vs)->value;
    return (o.cast<double>().array() * weights.cast<double>().array()).sum();
  };
  for (size_t v = 0; v < inputs.size(); ++v) {
    const Eigen::Index n = inputs[v].size();
    const Eigen::Index stride = std::max<Eigen::Index>(1, n / max_checks);
    for (Eigen::Index i = 0; i < n; i += stride) {
      std::vector<Mat> plus = inputs, minus = inputs;
      plus[v].data()[i] += static_cast<float>(eps);
      minus[v].data()[i] -= static_cast<float>(eps);
      const double numeric = (loss_at(plus) - loss_at(minus)) /
                             (static_cast<double>(plus[v].data()[i]) - minus[v].data()[i]);
      const double analytic = vars[v]->grad.size() ? vars[v]->grad.data()[i] : 0.0;
      CAPTURE(v, i, analytic, numeric);
      REQUIRE(std::abs(analytic - numeric) <=
              atol + rtol * std::max(std::abs(analytic), std::abs(numeric)));
    }
  }
}

}  // namespace hilq::qat::testing
