// AVX-512 apply_i8 of attention (see attention_ops.h): the AVX2 loop on 64 output columns per pass
// instead of 32, so a head of 64 reads its probabilities and scales once. Every output column is
// its own chain of (p[j] * v_scale[j]) * v[j][e] additions in key order, as in the portable and
// AVX2 versions (compiled with -ffp-contract=off: no FMA), so the results are the same bits.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "runtime/attention_ops.h"

namespace hilq::runtime {
namespace {

inline __m512 widen(__m128i bytes) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)); }
inline __m256 widen8(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)); }

void apply_i8(const float* p, const int8_t* v, int64_t ldv, const float* v_scale, int keys, int d,
              float* out) {
  int e = 0;
  for (; e + 64 <= d; e += 64) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < keys; ++j) {
      const float wj = p[j] * v_scale[j];
      if (wj == 0.0f) continue;  // exact: see the portable version
      const __m512 w = _mm512_set1_ps(wj);
      const __m512i raw = _mm512_loadu_si512(v + j * ldv + e);
      a0 = _mm512_add_ps(a0, _mm512_mul_ps(w, widen(_mm512_castsi512_si128(raw))));
      a1 = _mm512_add_ps(a1, _mm512_mul_ps(w, widen(_mm512_extracti32x4_epi32(raw, 1))));
      a2 = _mm512_add_ps(a2, _mm512_mul_ps(w, widen(_mm512_extracti32x4_epi32(raw, 2))));
      a3 = _mm512_add_ps(a3, _mm512_mul_ps(w, widen(_mm512_extracti32x4_epi32(raw, 3))));
    }
    _mm512_storeu_ps(out + e, a0);
    _mm512_storeu_ps(out + e + 16, a1);
    _mm512_storeu_ps(out + e + 32, a2);
    _mm512_storeu_ps(out + e + 48, a3);
  }
  for (; e + 8 <= d; e += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int j = 0; j < keys; ++j) {
      const float wj = p[j] * v_scale[j];
      if (wj == 0.0f) continue;
      const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(v + j * ldv + e));
      a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(wj), widen8(raw)));
    }
    _mm256_storeu_ps(out + e, a);
  }
  for (; e < d; ++e) {
    float a = 0.0f;
    for (int j = 0; j < keys; ++j) {
      const float wj = p[j] * v_scale[j];
      if (wj != 0.0f) a += wj * static_cast<float>(v[j * ldv + e]);
    }
    out[e] = a;
  }
}

}  // namespace

extern const ApplyI8Fn kApplyI8Avx512 = &apply_i8;

}  // namespace hilq::runtime
