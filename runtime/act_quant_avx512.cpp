// AVX-512 row quantizer (see act_quant_ops.h): quantize_row's codes without a division per value.
// y = x * fl(1 / scale) is within 3 ulp of fl(x / scale) (two roundings of 2^-24 each), which is
// under 4.6e-5 for |y| < 256. So where y, clamped to the code range, is more than 2^-12 from a
// half-integer it rounds to the quotient's code; a vector with any other lane (a near tie, a NaN)
// divides, as do rows whose reciprocal scale is not a normal float.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "runtime/act_quant_ops.h"

namespace hilq::runtime {
namespace {

inline __mmask16 lanes(int left) {
  return static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1);
}

float quantize_row(const float* x, int cols, int cols_pad, int bits, float scale, int8_t* q,
                   int32_t* sums) {
  const auto qmax = static_cast<float>((1 << (bits - 1)) - 1);
  if (!(scale > 0.0f)) {  // absmax, NaN ignored: max(|x|, m) keeps m for a NaN
    // Four chains: one vmaxps chain is bound by its latency. Max is exact in any order.
    __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
    int c = 0;
    for (; c + 64 <= cols; c += 64) {
      m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + c)), m0);
      m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + c + 16)), m1);
      m2 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + c + 32)), m2);
      m3 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + c + 48)), m3);
    }
    for (; c < cols; c += 16)
      m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(lanes(cols - c), x + c)), m0);
    const float mx =
        _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
    scale = mx > 0.0f ? mx / qmax : 1.0f;
  }
  const float r = 1.0f / scale;
  const bool fast = r >= 1.17549435e-38f && r <= 3.40282347e38f;  // normal
  const __m512 vs = _mm512_set1_ps(scale), vr = _mm512_set1_ps(r);
  const __m512 lo = _mm512_set1_ps(-qmax - 1.0f), hi = _mm512_set1_ps(qmax);
  const __m512 near = _mm512_set1_ps(0.5f - 1.0f / 4096.0f);
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int c = 0; c < cols; c += 16) {
    const __mmask16 m = lanes(cols - c);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
    __m512i codes;
    bool exact = false;
    if (fast) {
      // Clamped first (rounding and clamping to integer bounds commute; a y past a bound means
      // the quotient is past it or rounds to it). min/max with the constant first keep a NaN,
      // whose distance compares false: such a vector divides.
      const __m512 y = _mm512_max_ps(lo, _mm512_min_ps(hi, _mm512_mul_ps(xv, vr)));
      const __m512 n = _mm512_roundscale_ps(y, kRound);
      const __mmask16 safe =
          _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(y, n)), near, _CMP_LE_OQ);
      exact = (safe & m) == m;
      codes = _mm512_cvtps_epi32(n);
    }
    if (!exact) {
      __m512 v = _mm512_roundscale_ps(_mm512_div_ps(xv, vs), kRound);
      const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);  // NaN -> 0
      v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
      codes = _mm512_maskz_cvtps_epi32(ordered, v);
    }
    if (m == 0xffff)  // the register form and a plain store: the masked byte store is slower
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c), _mm512_cvtepi32_epi8(codes));
    else
      _mm512_mask_cvtepi32_storeu_epi8(q + c, m, codes);
  }
  for (int c = cols; c < cols_pad; ++c) q[c] = 0;
  if (sums) {  // code + 128 as unsigned bytes summed by vpsadbw (exact), minus 32 x 128
    int32_t total = 0;
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int c0 = 0; c0 < cols_pad; c0 += 32) {
      const __m256i u = _mm256_sad_epu8(
          _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + c0)), flip),
          _mm256_setzero_si256());
      const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
      const auto s =
          static_cast<int32_t>(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) - 32 * 128;
      sums[c0 / 32] = s;
      total += s;
    }
    sums[cols_pad / 32] = total;
  }
  return scale;
}

}  // namespace

extern const RowQuantFn kQuantizeRowAvx512 = &quantize_row;

}  // namespace hilq::runtime
