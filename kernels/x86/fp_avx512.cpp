// FP32 and FP16-storage GEMM for AVX-512, bit-identical to the AVX2 one (fp_avx2.cpp): there the
// output (row, token) is the 8-lane hsum of an accumulator whose lane j sums k = j (mod 8) in K
// order. Here one zmm holds two tokens of one row, [row r x token t | row r x token u]: the 8
// weights of row r are broadcast to both halves, the token pair is one load of the dispatcher's
// packed pairs (FpArgs::x_pairs; two 256-bit loads and an insert were 14 % slower on Zen 5), so
// each half runs exactly the AVX2 lane sums; the epilogue reduces 4 rows x 2 token pairs (8 zmm, 16
// outputs) with the AVX2 hsum's additions and operands, lanes side by side. Register tile 8 rows x
// 3 token pairs (24 accumulators; 8 x 2 and 4 x 4 were 10-15 % slower on the tiny LM's head).
// Compiled with -mavx512{f,bw,vl}; see kernel_iface.h for why nothing here is shared. GCC 12 flags
// _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/kernel_iface.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaAvx512 = 3;  // Isa::kAvx512Vnni
constexpr int kRows = 8;       // rows per register tile (a multiple of 4: the epilogue's group)
constexpr int kPairs = 3;      // token pairs per register tile
// Rows per pass over the tokens: 32 rows of K = 256 fp32 weights (32 KiB) stay in L1 while every
// token tile passes (64 rows, the dispatcher's task, did not fit: 2.14 -> 1.85 ms per tiny-LM
// head call, best of ~150, 8 x 6 tile).
constexpr int kChunkRows = 32;

// 256-bit moves through their 64-bit-element forms (AVX-512F; the f32x8 ones need DQ, which the
// avx512vnni path does not require): a broadcast from memory is a plain load.
inline __m512 bcast(__m256 v) {
  return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(v)));
}
inline __m512 join(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
}

// The 8 weights w[i..i+8) (the first `left` when left < 8, zeros after) in both 256-bit halves.
template <bool kHalf>
inline __m512 load_w(const void* w, int64_t i, int left) {
  const __mmask8 m = left >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << left) - 1);
  if constexpr (kHalf) {
    const __m128i h = _mm_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i);
    return _mm512_cvtph_ps(_mm256_broadcastsi128_si256(h));
  } else {
    return bcast(_mm256_maskz_loadu_ps(m, static_cast<const float*>(w) + i));
  }
}
template <bool kHalf>
inline __m512 load_w(const void* w, int64_t i) {
  if constexpr (kHalf)
    return _mm512_cvtph_ps(_mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i))));
  else
    return bcast(_mm256_loadu_ps(static_cast<const float*>(w) + i));
}

// AVX2 hsum(v) = (s0 + s2) + (s1 + s3) with s = lo128(v) + hi128(v). Step 1 forms s for both
// halves of a and b: quarters [a.lo half, a.hi half, b.lo half, b.hi half].
inline __m512 step1(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
// Step 2: per quarter [c.s0 + c.s2, c.s1 + c.s3, d.s0 + d.s2, d.s1 + d.s3].
inline __m512 step2(__m512 c, __m512 d) {
  return _mm512_add_ps(_mm512_shuffle_ps(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_ps(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
}
// Step 3: per quarter [e0 + e1, e2 + e3, f0 + f1, f2 + f3].
inline __m512 step3(__m512 e, __m512 f) {
  return _mm512_add_ps(_mm512_shuffle_ps(e, f, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(e, f, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Four rows' accumulators for pairs p (tokens t, u) and q (t', u') -> quarters [t | u | t' | u'],
// each the 4 rows in order. After the steps quarter i holds [(r0|r1), (r2|r3)] of pair p then q
// with r0/r2 in quarters 0-1 (tokens t, u) and r1/r3 in quarters 2-3, so rows 0..3 of token t
// are lanes 0, 8, 1, 9.
inline __m512 reduce4x2(const __m512 p[4], const __m512 q[4]) {
  const __m512 d = step2(step1(p[0], p[1]), step1(p[2], p[3]));
  const __m512 e = step2(step1(q[0], q[1]), step1(q[2], q[3]));
  const __m512i idx = _mm512_setr_epi32(0, 8, 1, 9, 4, 12, 5, 13, 2, 10, 3, 11, 6, 14, 7, 15);
  return _mm512_permutexvar_ps(idx, step3(d, e));
}

// R rows (R <= kRows) x P token pairs (P <= kPairs); `single` = the last pair holds one token.
// kCols = K when K is known at compile time (0: f.cols): the full tile on the model widths' K
// keeps one weight and one token pointer with constant offsets, 12 % faster on Zen 5 with the
// packed pairs (kernels/README.md).
template <bool kHalf, int R, int P, int kCols = 0>
void tile(const FpArgs& f, int m, int t0, bool single) {
  const int cols = kCols ? kCols : f.cols;
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  // Pair p's block for columns [c, c + 8) is at xp + p * pair_stride + 2 * c (x_pairs layout).
  const int64_t pair_stride = int64_t{2} * ((cols + 7) / 8 * 8);
  const float* xp = f.x_pairs + int64_t{t0 / 2} * pair_stride;
  const int k8 = cols / 8 * 8;
  for (int c = 0; c < k8; c += 8) {
    __m512 x[P];
    for (int p = 0; p < P; ++p) x[p] = _mm512_loadu_ps(xp + p * pair_stride + 2 * c);
    for (int r = 0; r < R; ++r) {
      const __m512 w = load_w<kHalf>(f.w, int64_t{m + r} * cols + c);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(w, x[p], acc[r][p]);
    }
  }
  if (k8 < cols) {
    const int left = cols - k8;
    __m512 x[P];  // zeros past K in the packed block, as the masked loads gave
    for (int p = 0; p < P; ++p) x[p] = _mm512_loadu_ps(xp + p * pair_stride + 2 * k8);
    for (int r = 0; r < R; ++r) {
      const __m512 w = load_w<kHalf>(f.w, int64_t{m + r} * cols + k8, left);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(w, x[p], acc[r][p]);
    }
  }
  // The AVX2 kernel adds the bias (or 0.0f, which turns -0 into +0) after the hsum.
  const int tokens = 2 * P - (single ? 1 : 0);
  for (int g = 0; g < R; g += 4) {
    const int rows = R - g < 4 ? R - g : 4;
    for (int p = 0; p < P; p += 2) {
      __m512 a[4], b[4];
      for (int r = 0; r < 4; ++r) {
        a[r] = r < rows ? acc[g + r][p] : _mm512_setzero_ps();
        b[r] = r < rows && p + 1 < P ? acc[g + r][p + 1] : a[r];
      }
      __m512 o = reduce4x2(a, b);
      __m128 bias4 = _mm_setzero_ps();
      if (f.bias)
        bias4 = _mm_maskz_loadu_ps(static_cast<__mmask8>((1u << rows) - 1), f.bias + m + g);
      o = _mm512_add_ps(o, _mm512_broadcast_f32x4(bias4));
      // Quarter j of o is token t0 + 2p + j (j < 4), rows m+g .. m+g+3.
      const int nt = tokens - 2 * p < 4 ? tokens - 2 * p : 4;
      if (rows == 4) {
        float* y = f.y + int64_t{t0 + 2 * p} * f.ldy + m + g;
        _mm_storeu_ps(y, _mm512_castps512_ps128(o));
        if (nt > 1) _mm_storeu_ps(y + f.ldy, _mm512_extractf32x4_ps(o, 1));
        if (nt > 2) _mm_storeu_ps(y + 2 * f.ldy, _mm512_extractf32x4_ps(o, 2));
        if (nt > 3) _mm_storeu_ps(y + 3 * f.ldy, _mm512_extractf32x4_ps(o, 3));
      } else {
        alignas(64) float v[16];
        _mm512_store_ps(v, o);
        for (int j = 0; j < nt; ++j)
          for (int r = 0; r < rows; ++r)
            f.y[int64_t{t0 + 2 * p + j} * f.ldy + m + g + r] = v[4 * j + r];
      }
    }
  }
}

template <bool kHalf, int P, int kCols>
void rows_for_tokens(const FpArgs& f, int t0, bool single) {
  int m = f.row_begin;
  for (; m + kRows <= f.row_end; m += kRows) tile<kHalf, kRows, P, kCols>(f, m, t0, single);
  switch (f.row_end - m) {
    case 7:
      tile<kHalf, 7, P>(f, m, t0, single);
      break;
    case 6:
      tile<kHalf, 6, P>(f, m, t0, single);
      break;
    case 5:
      tile<kHalf, 5, P>(f, m, t0, single);
      break;
    case 4:
      tile<kHalf, 4, P>(f, m, t0, single);
      break;
    case 3:
      tile<kHalf, 3, P>(f, m, t0, single);
      break;
    case 2:
      tile<kHalf, 2, P>(f, m, t0, single);
      break;
    case 1:
      tile<kHalf, 1, P>(f, m, t0, single);
      break;
    default:
      break;
  }
}

template <bool kHalf, int kCols>
void fp_chunk(const FpArgs& f) {
  int t = 0;
  for (; t + 2 * kPairs <= f.n; t += 2 * kPairs) rows_for_tokens<kHalf, kPairs, kCols>(f, t, false);
  for (; t + 4 <= f.n; t += 4) rows_for_tokens<kHalf, 2, 0>(f, t, false);
  const int left = f.n - t;  // 0..3
  if (left == 3) rows_for_tokens<kHalf, 2, 0>(f, t, true);
  if (left == 2) rows_for_tokens<kHalf, 1, 0>(f, t, false);
  if (left == 1) rows_for_tokens<kHalf, 1, 0>(f, t, true);
}

template <bool kHalf, int kCols>
void fp_chunks(const FpArgs& f) {
  FpArgs c = f;
  for (int m = f.row_begin; m < f.row_end; m += kChunkRows) {
    c.row_begin = m;
    c.row_end = m + kChunkRows < f.row_end ? m + kChunkRows : f.row_end;
    fp_chunk<kHalf, kCols>(c);
  }
}

// The presets' d_model and d_ff (qat/model.cpp: tiny 256 / 768, small 384 / 1024) at compile time.
template <bool kHalf>
void fp_kernel(const FpArgs& f) {
  switch (f.cols) {
    case 256:
      return fp_chunks<kHalf, 256>(f);
    case 384:
      return fp_chunks<kHalf, 384>(f);
    case 768:
      return fp_chunks<kHalf, 768>(f);
    case 1024:
      return fp_chunks<kHalf, 1024>(f);
    default:
      return fp_chunks<kHalf, 0>(f);
  }
}

// GEMM only: a single token would fill half of each zmm, and the GEMV is bound by the weight
// stream, so one token stays on the AVX2 kernel.
const KernelInfo kFpKernels[] = {
    {"gemm_fp32_8x6__avx512vnni", kOpGemm, kKindFp32, kIsaAvx512, 32, 32, 0, kVariantTokenPairs,
     nullptr, &fp_kernel<false>},
    {"gemm_fp16_8x6__avx512vnni", kOpGemm, kKindFp16, kIsaAvx512, 16, 32, 0, kVariantTokenPairs,
     nullptr, &fp_kernel<true>},
};

}  // namespace

extern const KernelTable kAvx512FpKernelTable = {kFpKernels, 2, nullptr, kIsaAvx512};

}  // namespace hilq::kernels
