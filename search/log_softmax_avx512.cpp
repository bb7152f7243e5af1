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

void exp_sums(const float* x, int n, float max, double lanes[16], const float* const* pf) {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  const __m512 vmax = _mm512_set1_ps(max);
  for (int i = 0; i < n; i += 16) {
    if (pf) prefetch_lines(pf, i);
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

// The portable kl8's 8 sums in one zmm (lane r: row r), 8 values at a time: the terms of 8 values
// of each row (one zmm per row) transposed to one zmm per value, added in value order; the tail
// in order.
void kl8(const float* const* ref, const float* const* p, const float* const* dst, int n,
         double k[8]) {
  __m512d acc = _mm512_setzero_pd();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d t[8];
    for (int r = 0; r < 8; ++r) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(ref[r] + i), _mm256_loadu_ps(dst[r] + i));
      t[r] = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p[r] + i)), _mm512_cvtps_pd(d));
    }
    // a: row pairs, 128-bit lane q holds values 2q (lo) or 2q + 1 (hi) of both rows.
    __m512d a[8];
    for (int r = 0; r < 8; r += 2) {
      a[r] = _mm512_unpacklo_pd(t[r], t[r + 1]);
      a[r + 1] = _mm512_unpackhi_pd(t[r], t[r + 1]);
    }
    // b: rows 0-3 (b[0..3]) and 4-7 (b[4..7]), values {0, 4}, {2, 6}, {1, 5}, {3, 7}.
    __m512d b[8];
    for (int h = 0; h < 8; h += 4) {
      b[h] = _mm512_shuffle_f64x2(a[h], a[h + 2], _MM_SHUFFLE(2, 0, 2, 0));
      b[h + 1] = _mm512_shuffle_f64x2(a[h], a[h + 2], _MM_SHUFFLE(3, 1, 3, 1));
      b[h + 2] = _mm512_shuffle_f64x2(a[h + 1], a[h + 3], _MM_SHUFFLE(2, 0, 2, 0));
      b[h + 3] = _mm512_shuffle_f64x2(a[h + 1], a[h + 3], _MM_SHUFFLE(3, 1, 3, 1));
    }
    // u[j]: value i + j of rows 0..7.
    __m512d u[8];
    for (int q = 0; q < 4; ++q) {
      const int lo = q == 0 ? 0 : q == 1 ? 2 : q == 2 ? 1 : 3;
      u[lo] = _mm512_shuffle_f64x2(b[q], b[q + 4], _MM_SHUFFLE(2, 0, 2, 0));
      u[lo + 4] = _mm512_shuffle_f64x2(b[q], b[q + 4], _MM_SHUFFLE(3, 1, 3, 1));
    }
    for (const __m512d& v : u) acc = _mm512_add_pd(acc, v);  // value i, i + 1, ...
  }
  _mm512_storeu_pd(k, acc);
  for (; i < n; ++i)
    for (int r = 0; r < 8; ++r) k[r] += static_cast<double>(p[r][i]) * (ref[r][i] - dst[r][i]);
}

}  // namespace

extern const LogSoftmaxOps kLogSoftmaxAvx512 = {&max8, &exp_sums, &shift, &kl8, "avx512"};

}  // namespace hilq::search
