// AVX2 log-softmax ops (see log_softmax.h): exp_poly on 8 floats, the 16 double lane sums in four
// ymm. Compiled with -mavx2 -ffp-contract=off: no FMA, so every rounding is exp_poly's.
#include <immintrin.h>

#include "runtime/exp_poly_x86.h"
#include "search/log_softmax.h"

namespace hilq::search {
namespace {

using runtime::exp_poly8;

inline __m256i tail_mask(int left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 exp terms of x[i..i+8) (the first `left`, zeros after) added to the lanes in two ymm.
inline void add8(const float* x, int i, int left, __m256 vmax, __m256d& lo, __m256d& hi) {
  __m256 e;
  if (left >= 8) {
    e = exp_poly8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
  } else {
    const __m256i m = tail_mask(left);
    e = exp_poly8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vmax));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
  }
  lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
  hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

void exp_sums(const float* x, int n, float max, double lanes[16], const float* const* pf) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
  const __m256 vmax = _mm256_set1_ps(max);
  for (int i = 0; i < n; i += 16) {
    if (pf) prefetch_lines(pf, i);
    add8(x, i, n - i, vmax, acc[0], acc[1]);
    if (n - i > 8) add8(x, i + 8, n - i - 8, vmax, acc[2], acc[3]);
  }
  for (int j = 0; j < 4; ++j) _mm256_storeu_pd(lanes + 4 * j, acc[j]);
}

void shift(const float* x, int n, double lse, float* out) {
  const __m256d l = _mm256_set1_pd(lse);
  int i = 0;
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(out + i, _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), l)));
  for (; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(x[i]) - lse);
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

// The terms of 4 values of one row in double: p * (ref - dst), the difference in float.
inline __m256d kl_terms(const float* ref, const float* p, const float* dst, int i) {
  const __m128 d = _mm_sub_ps(_mm_loadu_ps(ref + i), _mm_loadu_ps(dst + i));
  return _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(p + i)), _mm256_cvtps_pd(d));
}

// Rows 4g..4g+3 of 4 values transposed (lane r: row 4g + r) and added to acc value by value.
inline __m256d kl_add4(const float* const* ref, const float* const* p, const float* const* dst,
                       int g, int i, __m256d acc) {
  const int r = 4 * g;
  const __m256d t0 = kl_terms(ref[r], p[r], dst[r], i);
  const __m256d t1 = kl_terms(ref[r + 1], p[r + 1], dst[r + 1], i);
  const __m256d t2 = kl_terms(ref[r + 2], p[r + 2], dst[r + 2], i);
  const __m256d t3 = kl_terms(ref[r + 3], p[r + 3], dst[r + 3], i);
  const __m256d a0 = _mm256_unpacklo_pd(t0, t1), a1 = _mm256_unpackhi_pd(t0, t1);
  const __m256d a2 = _mm256_unpacklo_pd(t2, t3), a3 = _mm256_unpackhi_pd(t2, t3);
  acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(a0, a2, 0x20));   // value i
  acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(a1, a3, 0x20));   // i + 1
  acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(a0, a2, 0x31));   // i + 2
  return _mm256_add_pd(acc, _mm256_permute2f128_pd(a1, a3, 0x31));  // i + 3
}

// The portable kl8's 8 sums in two ymm (rows 0-3, 4-7), 4 values at a time; the tail in order.
void kl8(const float* const* ref, const float* const* p, const float* const* dst, int n,
         double k[8]) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    lo = kl_add4(ref, p, dst, 0, i, lo);
    hi = kl_add4(ref, p, dst, 1, i, hi);
  }
  _mm256_storeu_pd(k, lo);
  _mm256_storeu_pd(k + 4, hi);
  for (; i < n; ++i)
    for (int r = 0; r < 8; ++r) k[r] += static_cast<double>(p[r][i]) * (ref[r][i] - dst[r][i]);
}

}  // namespace

extern const LogSoftmaxOps kLogSoftmaxAvx2 = {&max8, &exp_sums, &shift, &kl8, "avx2"};

}  // namespace hilq::search
