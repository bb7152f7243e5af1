// The one quantizer of the project: float -> signed symmetric integer of a given bit width.
// qat/ calls these same functions for fake quantization, so training simulates exactly the
// integers the boards multiply.
//
//   q = clamp(round_half_even(x / scale), -2^(b-1), 2^(b-1) - 1)     x_hat = scale * q
//
// Division (not multiplication by a reciprocal) is part of the contract: both sides must agree
// bit for bit, and x / s and x * (1 / s) differ in the last place for some inputs.
#pragma once

#include <cmath>
#include <cstdint>

namespace hilq::kernels {

constexpr int qmin(int bits) { return -(1 << (bits - 1)); }
constexpr int qmax(int bits) { return (1 << (bits - 1)) - 1; }

// Rounds half to even (std::nearbyint in the default rounding mode), then clamps.
inline int32_t quantize_value(float x, float scale, int bits) {
  float r = std::nearbyint(x / scale);
  const float lo = static_cast<float>(qmin(bits));
  const float hi = static_cast<float>(qmax(bits));
  r = r < lo ? lo : (r > hi ? hi : r);  // NaN compares false both ways and stays NaN
  return std::isnan(r) ? 0 : static_cast<int32_t>(r);
}

inline float dequantize_value(int32_t q, float scale) { return scale * static_cast<float>(q); }

// Symmetric absmax scale for a row: the largest magnitude maps to qmax(bits).
// A row of zeros gets scale 1 so that it quantizes to zeros without dividing by zero.
inline float absmax_scale(const float* x, int n, int bits) {
  float m = 0.0f;
  for (int i = 0; i < n; ++i) m = std::fmax(m, std::fabs(x[i]));
  return m > 0.0f ? m / static_cast<float>(qmax(bits)) : 1.0f;
}

// Quantizes n values with one scale into int8 storage (bits <= 8).
inline void quantize_row(const float* x, int n, float scale, int bits, int8_t* q) {
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(quantize_value(x[i], scale, bits));
}

}  // namespace hilq::kernels
