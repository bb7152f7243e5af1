// Scalar reference GEMV (see gemv_ref.h).
#include "kernels/ref/gemv_ref.h"

namespace hilq::kernels {

void gemv_w8a8_ref(const int8_t* w, const float* w_scales, const int8_t* a, float a_scale,
                   const float* bias, int m_dim, int k_dim, float* y) {
  for (int m = 0; m < m_dim; ++m) {
    const int8_t* row = w + static_cast<int64_t>(m) * k_dim;
    int32_t acc = 0;
    for (int k = 0; k < k_dim; ++k) acc += static_cast<int32_t>(row[k]) * a[k];
    y[m] = w_scales[m] * a_scale * static_cast<float>(acc) + (bias ? bias[m] : 0.0f);
  }
}

}  // namespace hilq::kernels
