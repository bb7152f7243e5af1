// AVX-512 log-softmax ops (see log_softmax.h): exp_poly on 16 floats, the 16 double lane sums in
// two zmm. Compiled with -mavx512f -ffp-contract=off: no FMA, so every rounding is exp_poly's.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "search/log_softmax.h"

namespace hilq::search {
namespace {

// runtime::exp_poly, operation by operation (exp_poly.h).
inline __m512 exp_poly16(__m512 x) {
  // (x < lo ? lo : x) with a NaN kept, as in exp_poly: max/min return their second operand.
  x = _mm512_max_ps(_mm512_set1_ps(-88.723f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.723f), x);
  const __m512 t =
      _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _mm512_set1_ps(0.5f));
  __m512i m = _mm512_cvttps_epi32(t);
  const __mmask16 gt = _mm512_cmp_ps_mask(_mm512_cvtepi32_ps(m), t, _CMP_GT_OQ);
  m = _mm512_mask_sub_epi32(m, gt, m, _mm512_set1_epi32(1));
  const __m512 fm = _mm512_cvtepi32_ps(m);
  __m512 r = _mm512_add_ps(_mm512_mul_ps(fm, _mm512_set1_ps(-0.693359375f)), x);
  r = _mm512_add_ps(_mm512_mul_ps(fm, _mm512_set1_ps(2.12194440e-4f)), r);
  const __m512 r2 = _mm512_mul_ps(r, r), r3 = _mm512_mul_ps(r2, r);
  __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(1.9875691500e-4f), r),
                           _mm512_set1_ps(1.3981999507e-3f));
  __m512 y1 = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(4.1665795894e-2f), r),
                            _mm512_set1_ps(1.6666665459e-1f));
  const __m512 y2 = _mm512_add_ps(r, _mm512_set1_ps(1.0f));
  y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(8.3334519073e-3f));
  y1 = _mm512_add_ps(_mm512_mul_ps(y1, r), _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_add_ps(_mm512_mul_ps(y, r3), y1);
  y = _mm512_add_ps(_mm512_mul_ps(y, r2), y2);
  // a = m / 2 rounded toward zero (C++ division), b = m - a.
  const __m512i a = _mm512_srai_epi32(_mm512_add_epi32(m, _mm512_srli_epi32(m, 31)), 1);
  const __m512i b = _mm512_sub_epi32(m, a);
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512 pa = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(a, bias), 23));
  const __m512 pb = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(b, bias), 23));
  return _mm512_mul_ps(_mm512_mul_ps(y, pa), pb);
}

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
