// AVX2 inner loops of attention (see attention_ops.h); selected at run time when the kernels'
// context runs an x86 SIMD path. Only this header and intrinsics: no inline code shared with
// baseline translation units.
#include <immintrin.h>

#include "runtime/attention_ops.h"
#include "runtime/exp_poly_x86.h"

namespace hilq::runtime {
namespace {

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)): the portable version's order.
inline float hsum_f32(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Eight keys at a time: q widened once per 16 dims for all eight, the eight sums reduced together
// (integer sums: any order is exact), the float epilogue in the portable order per key.
void scores_i8(const int8_t* q, float q_scale, const int8_t* k, int64_t ldk, const float* k_scale,
               int keys, int d, float scale, float* out) {
  const int d16 = d / 16 * 16;
  int j = 0;
  for (; j + 8 <= keys; j += 8) {
    __m256i acc[8];
    for (auto& a : acc) a = _mm256_setzero_si256();
    for (int e = 0; e < d16; e += 16) {
      const __m256i a =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + e)));
      for (int r = 0; r < 8; ++r) {
        const __m256i b = _mm256_cvtepi8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + (j + r) * ldk + e)));
        acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(a, b));
      }
    }
    // hadd tree: lane r of the result (r < 4 in the low half, 4..7 in the high) is key j + r.
    const __m256i h01 = _mm256_hadd_epi32(acc[0], acc[1]), h23 = _mm256_hadd_epi32(acc[2], acc[3]);
    const __m256i h45 = _mm256_hadd_epi32(acc[4], acc[5]), h67 = _mm256_hadd_epi32(acc[6], acc[7]);
    const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
    __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                    _mm256_permute2x128_si256(h0123, h4567, 0x31));
    alignas(32) int32_t s8[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(s8), sums);
    for (int e = d16; e < d; ++e) {
      for (int r = 0; r < 8; ++r) s8[r] += int32_t{q[e]} * int32_t{k[(j + r) * ldk + e]};
    }
    sums = _mm256_load_si256(reinterpret_cast<const __m256i*>(s8));
    const __m256 qk = _mm256_mul_ps(_mm256_set1_ps(q_scale), _mm256_loadu_ps(k_scale + j));
    _mm256_storeu_ps(
        out + j, _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_mul_ps(_mm256_cvtepi32_ps(sums), qk)));
  }
  for (; j < keys; ++j) {
    const int8_t* kr = k + j * ldk;
    __m256i acc = _mm256_setzero_si256();
    for (int e = 0; e < d16; e += 16) {
      const __m256i a =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + e)));
      const __m256i b =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kr + e)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
    }
    int s = hsum_i32(acc);
    for (int e = d16; e < d; ++e) s += int32_t{q[e]} * int32_t{kr[e]};
    out[j] = scale * (static_cast<float>(s) * (q_scale * k_scale[j]));
  }
}

void scores_f32(const float* q, const float* k, int64_t ldk, int keys, int d, float scale,
                float* out) {
  const int d8 = d / 8 * 8;
  for (int j = 0; j < keys; ++j) {
    const float* kr = k + j * ldk;
    __m256 acc = _mm256_setzero_ps();
    for (int e = 0; e < d8; e += 8) {
      acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(kr + e)));
    }
    float s = hsum_f32(acc);
    for (int e = d8; e < d; ++e) s += q[e] * kr[e];
    out[j] = scale * s;
  }
}

// The portable softmax's 16 lane sums as two vectors (lanes 0-7, 8-15): their sum is the tree's
// first level, hsum_f32 the rest.
void softmax(float* p, int keys) {
  __m256 vm = _mm256_set1_ps(-__builtin_inff());
  int j = 0;
  for (; j + 8 <= keys; j += 8) vm = _mm256_max_ps(_mm256_loadu_ps(p + j), vm);  // NaN: keeps vm
  alignas(32) float lane[8];
  _mm256_store_ps(lane, vm);
  float mx = lane[0];
  for (int l = 1; l < 8; ++l) mx = lane[l] > mx ? lane[l] : mx;
  for (; j < keys; ++j) mx = p[j] > mx ? p[j] : mx;
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 z0 = _mm256_setzero_ps(), z1 = z0;
  j = 0;
  for (; j + 16 <= keys; j += 16) {
    const __m256 e0 = exp_poly8(_mm256_sub_ps(_mm256_loadu_ps(p + j), vmx));
    const __m256 e1 = exp_poly8(_mm256_sub_ps(_mm256_loadu_ps(p + j + 8), vmx));
    _mm256_storeu_ps(p + j, e0);
    _mm256_storeu_ps(p + j + 8, e1);
    z0 = _mm256_add_ps(z0, e0);
    z1 = _mm256_add_ps(z1, e1);
  }
  if (j < keys) {  // the tail through a padded block; its unused lanes add +0
    alignas(32) float x[16] = {};
    const int left = keys - j;
    for (int i = 0; i < left; ++i) x[i] = p[j + i];
    __m256 e0 = exp_poly8(_mm256_sub_ps(_mm256_load_ps(x), vmx));
    __m256 e1 = exp_poly8(_mm256_sub_ps(_mm256_load_ps(x + 8), vmx));
    const __m256i lane_id = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i n = _mm256_set1_epi32(left);
    e0 = _mm256_and_ps(e0, _mm256_castsi256_ps(_mm256_cmpgt_epi32(n, lane_id)));
    e1 = _mm256_and_ps(e1, _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                               n, _mm256_add_epi32(lane_id, _mm256_set1_epi32(8)))));
    z0 = _mm256_add_ps(z0, e0);
    z1 = _mm256_add_ps(z1, e1);
    _mm256_store_ps(x, e0);
    _mm256_store_ps(x + 8, e1);
    for (int i = 0; i < left; ++i) p[j + i] = x[i];
  }
  const __m256 z = _mm256_set1_ps(hsum_f32(_mm256_add_ps(z0, z1)));
  j = 0;
  for (; j + 8 <= keys; j += 8) _mm256_storeu_ps(p + j, _mm256_div_ps(_mm256_loadu_ps(p + j), z));
  const float zs = _mm256_cvtss_f32(z);
  for (; j < keys; ++j) p[j] /= zs;
}

void apply_i8(const float* p, const int8_t* v, int64_t ldv, const float* v_scale, int keys, int d,
              float* out) {
  int e = 0;
  for (; e + 32 <= d; e += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < keys; ++j) {
      const float wj = p[j] * v_scale[j];
      if (wj == 0.0f) continue;  // exact: see the portable version
      const __m256 w = _mm256_set1_ps(wj);
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + j * ldv + e));
      const __m128i lo = _mm256_castsi256_si128(raw), hi = _mm256_extracti128_si256(raw, 1);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(w, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
      a1 = _mm256_add_ps(
          a1, _mm256_mul_ps(w, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(w, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
      a3 = _mm256_add_ps(
          a3, _mm256_mul_ps(w, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
    }
    _mm256_storeu_ps(out + e, a0);
    _mm256_storeu_ps(out + e + 8, a1);
    _mm256_storeu_ps(out + e + 16, a2);
    _mm256_storeu_ps(out + e + 24, a3);
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

void apply_f32(const float* p, const float* v, int64_t ldv, int keys, int d, float* out) {
  int e = 0;
  for (; e + 32 <= d; e += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < keys; ++j) {
      const __m256 w = _mm256_set1_ps(p[j]);
      const float* vr = v + j * ldv + e;
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(w, _mm256_loadu_ps(vr)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(w, _mm256_loadu_ps(vr + 8)));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(w, _mm256_loadu_ps(vr + 16)));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(w, _mm256_loadu_ps(vr + 24)));
    }
    _mm256_storeu_ps(out + e, a0);
    _mm256_storeu_ps(out + e + 8, a1);
    _mm256_storeu_ps(out + e + 16, a2);
    _mm256_storeu_ps(out + e + 24, a3);
  }
  for (; e < d; ++e) {
    float a = 0.0f;
    for (int j = 0; j < keys; ++j) a += p[j] * v[j * ldv + e];
    out[e] = a;
  }
}

void swiglu(float* g, const float* u, int n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 e = exp_poly8(_mm256_xor_ps(x, sign));
    const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_loadu_ps(u + i)));
  }
  if (i < n) {  // the tail through a padded lane block, so it runs the same arithmetic
    alignas(32) float gx[8] = {}, ux[8] = {};
    for (int k = i; k < n; ++k) gx[k - i] = g[k], ux[k - i] = u[k];
    swiglu(gx, ux, 8);
    for (int k = i; k < n; ++k) g[k] = gx[k - i];
  }
}

}  // namespace

extern const AttnOps kAttnOpsAvx2 = {&scores_i8, &scores_f32, &softmax, &apply_i8,
                                     &apply_f32, &swiglu,     "avx2"};

}  // namespace hilq::runtime
