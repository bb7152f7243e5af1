// AVX-512 log-softmax ops (see log_softmax.h): exp_poly on 16 floats, the 16 double lane sums in
// two zmm. Compiled with -mavx512f -ffp-contract=off: no FMA, so every rounding is exp_poly's.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "runtime/exp_poly_x86.h"
#include "search/log_softmax.h"

namespace hilq::search {
namespace {

using runtime::exp_poly16;

void exp_sums(const float* x, int n, float max, double lanes[16]) {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  const __m512 vmax = _mm512_set1_ps(max);
  for (int i = 0; i < n; i += 16) {
    const int left = n - i;
    const auto m = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1);
    const __m512 e =
        _mm512_maskz_mov_ps(m, exp_poly16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    hi = _mm512_add_pd(
        hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  _mm512_storeu_pd(lanes, lo);
  _mm512_storeu_pd(lanes + 8, hi);
}

void shift(const float* x, int n, double lse, float* out) {
  const __m512d l = _mm512_set1_pd(lse);
  for (int i = 0; i < n; i += 8) {
    const int left = n - i;
    const auto m = static_cast<__mmask8>(left >= 8 ? 0xffu : (1u << left) - 1);
    const __m256 v = _mm256_maskz_loadu_ps(m, x + i);
    _mm256_mask_storeu_ps(out + i, m, _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_cvtps_pd(v), l)));
  }
}

// max_portable's 8 lanes in one ymm: max_ps(x, lane) is (x > lane ? x : lane), the portable
// (lane < x ? x : lane) with NaN and +-0 alike; the fold and the tail are the portable code's.
float max8(const float* x, int n) {
  if (n < 8) {
    float m = x[0];
    for (int i = 0; i < n; ++i) m = m < x[i] ? x[i] : m;  // std::max(m, x[i])
    return m;
  }
  const int n8 = n / 8 * 8;
  __m256 lane = _mm256_loadu_ps(x);
  for (int i = 8; i < n8; i += 8) lane = _mm256_max_ps(_mm256_loadu_ps(x + i), lane);
  alignas(32) float l8[8];
  _mm256_store_ps(l8, lane);
  float m = l8[0];
  for (int l = 1; l < 8; ++l) m = m < l8[l] ? l8[l] : m;
  for (int i = n8; i < n; ++i) m = m < x[i] ? x[i] : m;
  return m;
}

}  // namespace

extern const LogSoftmaxOps kLogSoftmaxAvx512 = {&max8, &exp_sums, &shift, "avx512"};

}  // namespace hilq::search
