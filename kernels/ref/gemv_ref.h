// Scalar reference GEMV on unpacked int8 weights and activations: the oracle the SIMD paths are
// checked against, and the kernel the walking skeleton's kernel-bench jobs time.
#pragma once

#include <cstdint>

namespace hilq::kernels {

// y[m] = w_scales[m] * a_scale * sum_k w[m*k_dim + k] * a[k]  (+ bias[m] when bias != nullptr).
// Accumulates in int32: exact for k_dim < 2^17 with 8-bit operands.
void gemv_w8a8_ref(const int8_t* w, const float* w_scales, const int8_t* a, float a_scale,
                   const float* bias, int m_dim, int k_dim, float* y);

}  // namespace hilq::kernels
