// AVX-512 apply_i8 of attention and the SwiGLU gate (see attention_ops.h). apply_i8 is the AVX2
// loop on 64 output columns per pass instead of 32, so a head of 64 reads its probabilities and
// scales once; the gate is the AVX2 one on 16 lanes. Every output column is
// its own chain of (p[j] * v_scale[j]) * v[j][e] additions in key order, as in the portable and
// AVX2 versions (compiled with -ffp-contract=off: no FMA), so the results are the same bits.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "runtime/attention_ops.h"
#include "runtime/exp_poly_x86.h"

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

// g[i] = (g[i] * (1 / (1 + exp_poly(-g[i])))) * u[i], 16 lanes; the tail through masked lanes.
void swiglu(float* g, const float* u, int n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  for (int i = 0; i < n; i += 16) {
    const int left = n - i;
    const auto k = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(k, g + i);
    const __m512 e =
        exp_poly16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), sign)));
    const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(g + i, k,
                          _mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_maskz_loadu_ps(k, u + i)));
  }
}

}  // namespace

extern const ApplyI8Fn kApplyI8Avx512 = &apply_i8;
extern const SwigluFn kSwigluAvx512 = &swiglu;

}  // namespace hilq::runtime
