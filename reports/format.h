// Number and duration formatting shared by the reporters, so a figure reads the same in every file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hilq::reports {

// Up to 10 significant digits, no trailing zeros ("12345", "0.0123"); "" when absent.
std::string number_text(double v);
std::string number_text(int64_t v);
template <typename T>
std::string number_text(const std::optional<T>& v) {
  return v ? number_text(*v) : std::string();
}

// Fixed-point with `digits` decimals; "" when absent or not finite.
std::string fixed(double v, int digits);
inline std::string fixed(const std::optional<double>& v, int digits) {
  return v ? fixed(*v, digits) : std::string();
}

// The kernels a model-bench row names ("gemm_w4a8_32x8__avx2+gemv_w4a8_32x1__avx2") in short:
// ISA, ops and formats in order of first appearance ("avx2: gemm/gemv w4a8"); the text itself
// when it does not follow the <op>_<format>_..__<isa> scheme.
std::string kernel_summary(const std::string& kernels);

// A duration in the largest unit that keeps it >= 1: "1.500 s", "2.250 ms", "12.35 µs", "800 ns".
std::string duration_text(double ns);

}  // namespace hilq::reports
