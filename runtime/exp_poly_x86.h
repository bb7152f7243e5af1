// exp_poly (exp_poly.h) on 8 (AVX2) and 16 (AVX-512) lanes, giving its bits lane by lane, for the
// files built with those ISA flags (runtime's attention, search's log-softmax). Build them
// without FMA contraction, or a mul + add may fuse and round once. Internal linkage: each ISA
// file compiles its own copy, so no inline definition built for one ISA can stand in for another.
#pragma once

#include <immintrin.h>

namespace hilq::runtime {

#if defined(__AVX2__)
// exp_poly on 8 lanes, the same operations in the same order.
static inline __m256 exp_poly8(__m256 x) {
  const auto c = [](float v) { return _mm256_set1_ps(v); };
  x = _mm256_max_ps(c(-88.723f), x);  // (x < lo ? lo : x), NaN kept
  x = _mm256_min_ps(c(88.723f), x);
  const __m256 t = _mm256_add_ps(_mm256_mul_ps(x, c(1.44269504088896341f)), c(0.5f));
  __m256i m = _mm256_cvttps_epi32(t);
  // floor: m - 1 where float(m) > t (the mask is all ones, -1)
  m = _mm256_add_epi32(m, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(m), t, _CMP_GT_OQ)));
  const __m256 fm = _mm256_cvtepi32_ps(m);
  __m256 r = _mm256_add_ps(_mm256_mul_ps(fm, c(-0.693359375f)), x);
  r = _mm256_add_ps(_mm256_mul_ps(fm, c(2.12194440e-4f)), r);
  const __m256 r2 = _mm256_mul_ps(r, r), r3 = _mm256_mul_ps(r2, r);
  __m256 y = _mm256_add_ps(_mm256_mul_ps(c(1.9875691500e-4f), r), c(1.3981999507e-3f));
  __m256 y1 = _mm256_add_ps(_mm256_mul_ps(c(4.1665795894e-2f), r), c(1.6666665459e-1f));
  const __m256 y2 = _mm256_add_ps(r, c(1.0f));
  y = _mm256_add_ps(_mm256_mul_ps(y, r), c(8.3334519073e-3f));
  y1 = _mm256_add_ps(_mm256_mul_ps(y1, r), c(5.0000001201e-1f));
  y = _mm256_add_ps(_mm256_mul_ps(y, r3), y1);
  y = _mm256_add_ps(_mm256_mul_ps(y, r2), y2);
  // a = m / 2 rounded toward zero, b = m - a: 2^m in two normal halves
  const __m256i a = _mm256_srai_epi32(_mm256_add_epi32(m, _mm256_srli_epi32(m, 31)), 1);
  const __m256i b = _mm256_sub_epi32(m, a);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 pa = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(a, bias), 23));
  const __m256 pb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(b, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, pa), pb);
}
#endif

#if defined(__AVX512F__)
// exp_poly on 16 lanes, the same operations in the same order.
static inline __m512 exp_poly16(__m512 x) {
  const auto c = [](float v) { return _mm512_set1_ps(v); };
  x = _mm512_max_ps(c(-88.723f), x);  // (x < lo ? lo : x), NaN kept
  x = _mm512_min_ps(c(88.723f), x);
  const __m512 t = _mm512_add_ps(_mm512_mul_ps(x, c(1.44269504088896341f)), c(0.5f));
  __m512i m = _mm512_cvttps_epi32(t);
  const __mmask16 gt = _mm512_cmp_ps_mask(_mm512_cvtepi32_ps(m), t, _CMP_GT_OQ);
  m = _mm512_mask_sub_epi32(m, gt, m, _mm512_set1_epi32(1));  // floor
  const __m512 fm = _mm512_cvtepi32_ps(m);
  __m512 r = _mm512_add_ps(_mm512_mul_ps(fm, c(-0.693359375f)), x);
  r = _mm512_add_ps(_mm512_mul_ps(fm, c(2.12194440e-4f)), r);
  const __m512 r2 = _mm512_mul_ps(r, r), r3 = _mm512_mul_ps(r2, r);
  __m512 y = _mm512_add_ps(_mm512_mul_ps(c(1.9875691500e-4f), r), c(1.3981999507e-3f));
  __m512 y1 = _mm512_add_ps(_mm512_mul_ps(c(4.1665795894e-2f), r), c(1.6666665459e-1f));
  const __m512 y2 = _mm512_add_ps(r, c(1.0f));
  y = _mm512_add_ps(_mm512_mul_ps(y, r), c(8.3334519073e-3f));
  y1 = _mm512_add_ps(_mm512_mul_ps(y1, r), c(5.0000001201e-1f));
  y = _mm512_add_ps(_mm512_mul_ps(y, r3), y1);
  y = _mm512_add_ps(_mm512_mul_ps(y, r2), y2);
  const __m512i a = _mm512_srai_epi32(_mm512_add_epi32(m, _mm512_srli_epi32(m, 31)), 1);
  const __m512i b = _mm512_sub_epi32(m, a);
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512 pa = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(a, bias), 23));
  const __m512 pb = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(b, bias), 23));
  return _mm512_mul_ps(_mm512_mul_ps(y, pa), pb);
}
#endif

}  // namespace hilq::runtime
