// FP32 and FP16-storage (F16C) GEMV/GEMM baselines for x86 AVX2+FMA: row-major weights, 4 rows x
// up to 3 tokens per register tile, 8-wide FMA along K with a masked tail.
#include <immintrin.h>

#include "kernels/kernel_iface.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaAvx2 = 1;

inline __m256i tail_mask(int left) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), idx);
}

template <bool kHalf>
inline __m256 load_w(const void* w, int64_t i) {
  if constexpr (kHalf)
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  else
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
}

template <bool kHalf>
inline __m256 load_w_tail(const void* w, int64_t i, int left) {
  if constexpr (kHalf) {
    alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < left; ++j) tmp[j] = static_cast<const uint16_t*>(w)[i + j];
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
  } else {
    return _mm256_maskload_ps(static_cast<const float*>(w) + i, tail_mask(left));
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// R rows (R <= 4) x T tokens (T <= 3).
template <bool kHalf, int R, int T>
void tile(const FpArgs& f, int m, int t0) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const int k8 = f.cols / 8 * 8;
  for (int c = 0; c < k8; c += 8) {
    __m256 x[T];
    for (int t = 0; t < T; ++t) x[t] = _mm256_loadu_ps(f.x + (t0 + t) * f.ldx + c);
    for (int r = 0; r < R; ++r) {
      const __m256 w = load_w<kHalf>(f.w, int64_t{m + r} * f.cols + c);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(w, x[t], acc[r][t]);
    }
  }
  if (k8 < f.cols) {
    const int left = f.cols - k8;
    __m256 x[T];
    for (int t = 0; t < T; ++t)
      x[t] = _mm256_maskload_ps(f.x + (t0 + t) * f.ldx + k8, tail_mask(left));
    for (int r = 0; r < R; ++r) {
      const __m256 w = load_w_tail<kHalf>(f.w, int64_t{m + r} * f.cols + k8, left);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(w, x[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      f.y[(t0 + t) * f.ldy + m + r] = hsum(acc[r][t]) + (f.bias ? f.bias[m + r] : 0.0f);
}

template <bool kHalf, int T>
void rows_for_tokens(const FpArgs& f, int t0) {
  int m = f.row_begin;
  for (; m + 4 <= f.row_end; m += 4) tile<kHalf, 4, T>(f, m, t0);
  for (; m < f.row_end; ++m) tile<kHalf, 1, T>(f, m, t0);
}

template <bool kHalf>
void fp_kernel(const FpArgs& f) {
  int t = 0;
  for (; t + 3 <= f.n; t += 3) rows_for_tokens<kHalf, 3>(f, t);
  if (f.n - t == 2) rows_for_tokens<kHalf, 2>(f, t);
  if (f.n - t == 1) rows_for_tokens<kHalf, 1>(f, t);
}

const KernelInfo kFpKernels[] = {
    {"gemv_fp32_4x1__avx2", kOpGemv, kKindFp32, kIsaAvx2, 32, 32, 0, 0, nullptr, &fp_kernel<false>},
    {"gemm_fp32_4x3__avx2", kOpGemm, kKindFp32, kIsaAvx2, 32, 32, 0, 0, nullptr, &fp_kernel<false>},
    {"gemv_fp16_4x1__avx2", kOpGemv, kKindFp16, kIsaAvx2, 16, 32, 0, 0, nullptr, &fp_kernel<true>},
    {"gemm_fp16_4x3__avx2", kOpGemm, kKindFp16, kIsaAvx2, 16, 32, 0, 0, nullptr, &fp_kernel<true>},
};

}  // namespace

extern const KernelTable kAvx2FpKernelTable = {kFpKernels, 4, nullptr, kIsaAvx2};

}  // namespace hilq::kernels
