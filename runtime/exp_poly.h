// A branch-free exp for the SwiGLU loop (vectorizable), with its accuracy checked in
// tests/runtime/test_act_quant.cpp.
#pragma once

#include <bit>

namespace hilq::runtime {

// exp(x) by Cephes' polynomial (the one Eigen's vectorized exp uses, which the QAT engine's silu
// runs through), written without branches or calls so that the SwiGLU loop vectorizes; about 1
// ulp from std::exp. 2^m is applied in two halves so every partial power stays a normal float.
inline float exp_poly(float x) {
  x = x < -88.723f ? -88.723f : x;
  x = x > 88.723f ? 88.723f : x;
  const float t = x * 1.44269504088896341f + 0.5f;
  int m = static_cast<int>(t);
  m -= static_cast<float>(m) > t ? 1 : 0;  // floor
  const float fm = static_cast<float>(m);
  float r = fm * -0.693359375f + x;
  r = fm * 2.12194440e-4f + r;
  const float r2 = r * r, r3 = r2 * r;
  float y = 1.9875691500e-4f * r + 1.3981999507e-3f;
  float y1 = 4.1665795894e-2f * r + 1.6666665459e-1f;
  const float y2 = r + 1.0f;
  y = y * r + 8.3334519073e-3f;
  y1 = y1 * r + 5.0000001201e-1f;
  y = y * r3 + y1;
  y = y * r2 + y2;
  const int a = m / 2, b = m - a;
  return y * std::bit_cast<float>((a + 127) << 23) * std::bit_cast<float>((b + 127) << 23);
}

}  // namespace hilq::runtime
