// AVX-512 scores_i8, softmax and apply_i8 of attention and the SwiGLU gate (see attention_ops.h).
// scores_i8 runs 16 keys per pass with vpdpbusd and reduces their 16 sums together (integers:
// exact in any order). The softmax keeps the portable version's 16 lane sums in one vector.
// apply_i8 is the AVX2 loop on 64 output columns per pass instead of 32, so a head of 64 reads its
// probabilities and scales once; the gate is the AVX2 one on 16 lanes. Every output column is
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

// Lane r of the result is the sum of a[r]'s 16 lanes: pairs of keys interleaved and added, then
// quads, then the 128-bit lanes of 4 keys folded, so lane order is key order.
inline __m512i hsum16(const __m512i a[16]) {
  __m512i b[8], c[4];
  for (int i = 0; i < 8; ++i)
    b[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                            _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
  for (int i = 0; i < 4; ++i)
    c[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(b[2 * i], b[2 * i + 1]),
                            _mm512_unpackhi_epi64(b[2 * i], b[2 * i + 1]));
  constexpr int kEven = _MM_SHUFFLE(2, 0, 2, 0), kOdd = _MM_SHUFFLE(3, 1, 3, 1);
  const __m512i d0 = _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], kEven),
                                      _mm512_shuffle_i32x4(c[0], c[1], kOdd));
  const __m512i d1 = _mm512_add_epi32(_mm512_shuffle_i32x4(c[2], c[3], kEven),
                                      _mm512_shuffle_i32x4(c[2], c[3], kOdd));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(d0, d1, kEven), _mm512_shuffle_i32x4(d0, d1, kOdd));
}

// vpdpbusd multiplies unsigned by signed bytes: the key codes go in as k + 128 (a sign flip), which
// adds 128 * sum(q) to every dot product, taken off once. Masked-off columns load as 0 in q, so
// their flipped keys (128) add nothing.
void scores_i8(const int8_t* q, float q_scale, const int8_t* k, int64_t ldk, const float* k_scale,
               int keys, int d, float scale, float* out) {
  int32_t qsum = 0;
  for (int e = 0; e < d; ++e) qsum += q[e];
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i corr = _mm512_set1_epi32(128 * qsum);
  const __m512 vq = _mm512_set1_ps(q_scale), vs = _mm512_set1_ps(scale);
  for (int j = 0; j < keys; j += 16) {
    const int nk = keys - j < 16 ? keys - j : 16;
    __m512i acc[16];
#pragma GCC unroll 16
    for (auto& a : acc) a = _mm512_setzero_si512();
    for (int e = 0; e < d; e += 64) {
      const __mmask64 m = d - e >= 64 ? ~__mmask64{0} : (__mmask64{1} << (d - e)) - 1;
      const __m512i qv = _mm512_maskz_loadu_epi8(m, q + e);
      const int8_t* kr = k + int64_t{j} * ldk + e;
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        if (r < nk) {
          const __m512i kv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, kr + r * ldk), flip);
          acc[r] = _mm512_dpbusd_epi32(acc[r], kv, qv);
        }
      }
    }
    const __m512i sums = _mm512_sub_epi32(hsum16(acc), corr);
    const auto km = static_cast<__mmask16>(nk == 16 ? 0xffffu : (1u << nk) - 1);
    const __m512 qk = _mm512_mul_ps(vq, _mm512_maskz_loadu_ps(km, k_scale + j));
    _mm512_mask_storeu_ps(out + j, km,
                          _mm512_mul_ps(vs, _mm512_mul_ps(_mm512_cvtepi32_ps(sums), qk)));
  }
}

// The portable softmax with its 16 lane sums in one vector; the unused lanes of the last block
// add +0.
void softmax(float* p, int keys) {
  __m512 vm = _mm512_set1_ps(-__builtin_inff());
  for (int j = 0; j < keys; j += 16) {
    const auto k = static_cast<__mmask16>(keys - j >= 16 ? 0xffffu : (1u << (keys - j)) - 1);
    vm = _mm512_mask_max_ps(vm, k, _mm512_maskz_loadu_ps(k, p + j), vm);  // NaN: keeps vm
  }
  const __m512 vmx = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
  __m512 z = _mm512_setzero_ps();
  for (int j = 0; j < keys; j += 16) {
    const auto k = static_cast<__mmask16>(keys - j >= 16 ? 0xffffu : (1u << (keys - j)) - 1);
    const __m512 e = exp_poly16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + j), vmx));
    _mm512_mask_storeu_ps(p + j, k, e);
    z = _mm512_mask_add_ps(z, k, z, e);
  }
  // Tree levels 2-4 as the AVX2 hsum: ((0+4)+(2+6)) + ((1+5)+(3+7)).
  const __m256 z8 = _mm256_add_ps(_mm512_castps512_ps256(z),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(z8), _mm256_extractf128_ps(z8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  const __m512 vz = _mm512_set1_ps(_mm_cvtss_f32(s));
  for (int j = 0; j < keys; j += 16) {
    const auto k = static_cast<__mmask16>(keys - j >= 16 ? 0xffffu : (1u << (keys - j)) - 1);
    _mm512_mask_storeu_ps(p + j, k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, p + j), vz));
  }
}

inline __m512 widen(__m128i bytes) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)); }
inline __m256 widen8(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)); }

// The nonzero weights p[j] * v_scale[j] of keys [j0, j0 + len) and their keys, in key order, into
// w and at (room for len + 16); returns their count. 16 keys per compress: the sums then skip the
// zero keys without a branch per key (8-bit probabilities make the pattern of zeros unpredictable).
// A NaN weight is kept (!= 0 unordered), as the portable loop keeps it.
constexpr int kGatherChunk = 256;
int gather_nonzero(const float* p, const float* v_scale, int j0, int len, float* w, int32_t* at) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int nz = 0;
  for (int j = 0; j < len; j += 16) {
    const auto m = static_cast<__mmask16>(len - j >= 16 ? 0xffffu : (1u << (len - j)) - 1);
    const __m512 wj = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j0 + j),
                                    _mm512_maskz_loadu_ps(m, v_scale + j0 + j));
    const __mmask16 keep = _mm512_mask_cmp_ps_mask(m, wj, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    _mm512_storeu_ps(w + nz, _mm512_maskz_compress_ps(keep, wj));
    _mm512_storeu_si512(at + nz, _mm512_maskz_compress_epi32(
                                     keep, _mm512_add_epi32(_mm512_set1_epi32(j0 + j), iota)));
    nz += __builtin_popcount(keep);
  }
  return nz;
}

void apply_i8(const float* p, const int8_t* v, int64_t ldv, const float* v_scale, int keys, int d,
              float* out) {
  alignas(64) float w[kGatherChunk + 16];
  alignas(64) int32_t at[kGatherChunk + 16];
  int e = 0;
  for (; e + 64 <= d; e += 64) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int j0 = 0; j0 < keys; j0 += kGatherChunk) {
      const int len = keys - j0 < kGatherChunk ? keys - j0 : kGatherChunk;
      const int nz = gather_nonzero(p, v_scale, j0, len, w, at);
      for (int i = 0; i < nz; ++i) {
        const __m512 wi = _mm512_set1_ps(w[i]);
        const __m512i raw = _mm512_loadu_si512(v + at[i] * ldv + e);
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(wi, widen(_mm512_castsi512_si128(raw))));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(wi, widen(_mm512_extracti32x4_epi32(raw, 1))));
        a2 = _mm512_add_ps(a2, _mm512_mul_ps(wi, widen(_mm512_extracti32x4_epi32(raw, 2))));
        a3 = _mm512_add_ps(a3, _mm512_mul_ps(wi, widen(_mm512_extracti32x4_epi32(raw, 3))));
      }
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

extern const ScoresI8Fn kScoresI8Avx512 = &scores_i8;
extern const SoftmaxFn kSoftmaxAvx512 = &softmax;
extern const ApplyI8Fn kApplyI8Avx512 = &apply_i8;
extern const SwigluFn kSwigluAvx512 = &swiglu;

}  // namespace hilq::runtime
