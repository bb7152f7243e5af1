// Baseline NEON (ARMv8.0) kernels: W{2,3,4,6,8}A{4,8} with widening multiplies (smull + sadalp;
// A4 accumulates 8 k-blocks in int16 with smlal first), the Squat concatenated-int16 W4A4 kernel
// (two rows per 16-bit lane, smlal by a 4-bit activation, periodic 12-bit split) and the FP32 /
// FP16-storage baselines.
#include "kernels/arm/neon_common.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaNeon = 11;

// One panel (32 rows) x one token.
template <int B, int A, bool kGrouped>
void tile(const KernelArgs& k, int p, int row, const int32_t* corr) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  const uint8_t* w = k.w_data + p * k.panel_bytes;
  const int8_t* a = k.a + row * k.lda;
  const int kb_per_group = (k.group ? k.group : k.cols_pad) / 4;
  float32x4_t facc[2][4];
  int32x4_t acc[2][4];
  for (int h = 0; h < 2; ++h)
    for (int q = 0; q < 4; ++q) facc[h][q] = vdupq_n_f32(0.0f);
  int kb = 0;
  for (int g = 0; g < k.groups; ++g) {
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 4; ++q) acc[h][q] = vdupq_n_s32(corr[g]);
    const int kb_end = kb + kb_per_group;
    for (; kb < kb_end; kb += 8) {  // chunks of 8 k-blocks: int16 sums stay below 2^15
      for (int q = 0; q < 4; ++q) {
        int32x4_t a32[2][2];
        int16x8_t a16[2][2];
        for (int h = 0; h < 2; ++h)
          for (int i = 0; i < 2; ++i) {
            a32[h][i] = vdupq_n_s32(0);
            a16[h][i] = vdupq_n_s16(0);
          }
        for (int c = kb; c < kb + 8; c += S) {
          uint8x16_t v[2 * S];
          U::run(w + c * (16 * B) + 16 * q, v);
          for (int j = 0; j < S; ++j) {
            const int8x16_t av = vreinterpretq_s8_s32(load_act4(a + 4 * (c + j)));
            for (int h = 0; h < 2; ++h) {
              const int8x16_t ws = as_s8<B>(v[2 * j + h]);
              if constexpr (A == 4) {
                a16[h][0] = vmlal_s8(a16[h][0], vget_low_s8(ws), vget_low_s8(av));
                a16[h][1] = vmlal_high_s8(a16[h][1], ws, av);
              } else {
                a32[h][0] = vpadalq_s16(a32[h][0], vmull_s8(vget_low_s8(ws), vget_low_s8(av)));
                a32[h][1] = vpadalq_s16(a32[h][1], vmull_high_s8(ws, av));
              }
            }
          }
        }
        for (int h = 0; h < 2; ++h) {
          if constexpr (A == 4) {
            a32[h][0] = vpaddlq_s16(a16[h][0]);
            a32[h][1] = vpaddlq_s16(a16[h][1]);
          }
          acc[h][q] = vaddq_s32(acc[h][q], vpaddq_s32(a32[h][0], a32[h][1]));
        }
      }
    }
    // Test hook out of the float epilogue, both fully unrolled (a runtime index into acc would
    // keep the accumulators in memory).
    if (k.acc) {
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) store_acc4(k, row, p * 32 + 16 * h + 4 * q, g, acc[h][q]);
      continue;
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) {
        if (kGrouped)
          facc[h][q] = group_fma(k, p, g, 16 * h + 4 * q, acc[h][q], facc[h][q]);
        else
          facc[h][q] = vcvtq_f32_s32(acc[h][q]);
      }
  }
  if (k.acc) return;
  const float32x4_t as = vdupq_n_f32(k.a_scales[row]);
  for (int h = 0; h < 2; ++h)
    for (int q = 0; q < 4; ++q) {
      const int m0 = p * 32 + 16 * h + 4 * q;
      if (m0 >= k.rows) continue;
      store_y4(k, row, m0, facc[h][q], kGrouped ? as : vmulq_f32(vld1q_f32(k.w_scales + m0), as));
    }
}

// Tokens in blocks whose correction table fits (the weights are read once per block), panels
// inside, tokens inside a panel.
template <int B, int A, bool G>
void kernel(const KernelArgs& k) {
  int32_t corr[kMaxCorr];
  const int block = corr_block(k, 1);
  for (int t0 = 0; t0 < k.n; t0 += block) {
    const int nb = k.n - t0 < block ? k.n - t0 : block;
    fill_corr<B>(k, k.a_rows + t0, nb, corr);
    for (int p = k.panel_begin; p < k.panel_end; ++p)
      for (int t = 0; t < nb; ++t) tile<B, A, G>(k, p, k.a_rows[t0 + t], corr + t * k.groups);
  }
}

// ---- Squat concatenated-int16 W4A4 --------------------------------------------------------
// Lane (row r, kk) holds v = u_A + 4096 * w_B for rows r and r+16; smlal by the int16 activation
// accumulates L + 4096 H per lane, one MAC per k-block. L terms are in [-120, 105], so 16 k-blocks
// keep L within 12 bits; each chunk (started at 2048) is split with H_c = acc >> 12.
constexpr int kCatChunk = 16;

template <int T>
void cat_tile(const KernelArgs& k, int p, const int32_t* rows) {
  const uint8_t* w = k.w_data + p * k.panel_bytes;
  const int kbs = k.cols_pad / 4;
  int32x4_t tot[4][4][T], hs[4][4][T];  // [quarter][row in quarter][token]
  for (int q = 0; q < 4; ++q)
    for (int i = 0; i < 4; ++i)
      for (int t = 0; t < T; ++t) tot[q][i][t] = hs[q][i][t] = vdupq_n_s32(0);
  int chunks = 0;
  for (int kb0 = 0; kb0 < kbs; kb0 += kCatChunk, ++chunks) {
    const int n_kb = kbs - kb0 < kCatChunk ? kbs - kb0 : kCatChunk;
    int16_t a16[T][kCatChunk * 4];
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < n_kb * 4; c += 8)
        vst1q_s16(a16[t] + c, vmovl_s8(vld1_s8(k.a + rows[t] * k.lda + 4 * kb0 + c)));
    for (int q = 0; q < 4; ++q) {
      int32x4_t acc[4][T];
      for (int i = 0; i < 4; ++i)
        for (int t = 0; t < T; ++t) acc[i][t] = vdupq_n_s32(2048);
      for (int j = 0; j < n_kb; ++j) {
        const uint8x16_t x = vld1q_u8(w + (kb0 + j) * 64 + 16 * q);
        const uint8x16_t lo = vandq_u8(x, vdupq_n_u8(0x0F));
        const uint8x16_t hi = veorq_u8(vandq_u8(x, vdupq_n_u8(0xF0)), vdupq_n_u8(0x80));
        const int16x8_t z0 = vreinterpretq_s16_u8(vzip1q_u8(lo, hi));
        const int16x8_t z1 = vreinterpretq_s16_u8(vzip2q_u8(lo, hi));
        for (int t = 0; t < T; ++t) {
          const int16x4_t av = vld1_s16(a16[t] + 4 * j);
          acc[0][t] = vmlal_s16(acc[0][t], vget_low_s16(z0), av);
          acc[1][t] = vmlal_s16(acc[1][t], vget_high_s16(z0), av);
          acc[2][t] = vmlal_s16(acc[2][t], vget_low_s16(z1), av);
          acc[3][t] = vmlal_s16(acc[3][t], vget_high_s16(z1), av);
        }
      }
      for (int i = 0; i < 4; ++i)
        for (int t = 0; t < T; ++t) {
          tot[q][i][t] = vaddq_s32(tot[q][i][t], acc[i][t]);
          hs[q][i][t] = vaddq_s32(hs[q][i][t], vshrq_n_s32(acc[i][t], 12));
        }
    }
  }
  for (int t = 0; t < T; ++t) {
    const int row = rows[t];
    const int32_t corr = 8 * k.a_sums[row * k.ld_sums + k.ld_sums - 1];
    const float as = k.a_scales[row];
    for (int q = 0; q < 4; ++q)
      for (int i = 0; i < 4; ++i) {
        const int32_t h = vaddvq_s32(hs[q][i][t]);
        const int32_t all = static_cast<int32_t>(static_cast<uint32_t>(vaddvq_s32(tot[q][i][t])) -
                                                 2048u * 4u * static_cast<uint32_t>(chunks));
        const int32_t l =
            static_cast<int32_t>(static_cast<uint32_t>(all) - (static_cast<uint32_t>(h) << 12)) -
            corr;
        const int ms[2] = {p * 32 + 4 * q + i, p * 32 + 16 + 4 * q + i};
        const int32_t out[2] = {l, h};
        for (int hh = 0; hh < 2; ++hh) {
          const int m = ms[hh];
          if (m >= k.rows) continue;
          if (k.acc)
            k.acc[int64_t{row} * k.rows + m] = out[hh];
          else
            k.y[row * k.ldy + m] = __builtin_fmaf(static_cast<float>(out[hh]), k.w_scales[m] * as,
                                                  k.bias ? k.bias[m] : 0.0f);
        }
      }
  }
}

template <int T>
void cat_rest(const KernelArgs& k, int p, const int32_t* rows, int left) {
  if constexpr (T > 0) {
    if (left == T) return cat_tile<T>(k, p, rows);
    return cat_rest<T - 1>(k, p, rows, left);
  }
}

void cat_kernel(const KernelArgs& k) {
  constexpr int T = 2;
  for (int p = k.panel_begin; p < k.panel_end; ++p)
    for (int t = 0; t < k.n; t += T) cat_rest<T>(k, p, k.a_rows + t, k.n - t < T ? k.n - t : T);
}

// ---- float baselines ------------------------------------------------------------------------

template <bool kHalf>
inline float32x4_t load_w(const void* w, int64_t i) {
  if constexpr (kHalf)
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(w) + i)));
  else
    return vld1q_f32(static_cast<const float*>(w) + i);
}

template <bool kHalf>
inline float load_w1(const void* w, int64_t i) {
  if constexpr (kHalf)
    return vgetq_lane_f32(
        vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(static_cast<const uint16_t*>(w)[i]))), 0);
  else
    return static_cast<const float*>(w)[i];
}

template <bool kHalf, int R, int T>
void fp_tile(const FpArgs& f, int m, int t0) {
  float32x4_t acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0.0f);
  const int k4 = f.cols / 4 * 4;
  for (int c = 0; c < k4; c += 4) {
    float32x4_t x[T];
    for (int t = 0; t < T; ++t) x[t] = vld1q_f32(f.x + (t0 + t) * f.ldx + c);
    for (int r = 0; r < R; ++r) {
      const float32x4_t wv = load_w<kHalf>(f.w, int64_t{m + r} * f.cols + c);
      for (int t = 0; t < T; ++t) acc[r][t] = vfmaq_f32(acc[r][t], wv, x[t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float s = vaddvq_f32(acc[r][t]);
      for (int c = k4; c < f.cols; ++c)
        s += load_w1<kHalf>(f.w, int64_t{m + r} * f.cols + c) * f.x[(t0 + t) * f.ldx + c];
      f.y[(t0 + t) * f.ldy + m + r] = s + (f.bias ? f.bias[m + r] : 0.0f);
    }
}

template <bool kHalf, int T>
void fp_rows(const FpArgs& f, int t0) {
  int m = f.row_begin;
  for (; m + 4 <= f.row_end; m += 4) fp_tile<kHalf, 4, T>(f, m, t0);
  for (; m < f.row_end; ++m) fp_tile<kHalf, 1, T>(f, m, t0);
}

template <bool kHalf>
void fp_kernel(const FpArgs& f) {
  int t = 0;
  for (; t + 3 <= f.n; t += 3) fp_rows<kHalf, 3>(f, t);
  if (f.n - t == 2) fp_rows<kHalf, 2>(f, t);
  if (f.n - t == 1) fp_rows<kHalf, 1>(f, t);
}

}  // namespace

#define HILQ_PC(op, fn, W, A)                                                                  \
  {                                                                                            \
#op "_w" #W "a" #A "_32x1__neon", kOp##fn, kKindInt, kIsaNeon, W, A, 0, 0, &kernel < W, A, \
        false>, nullptr                                                                        \
  }
#define HILQ_G(op, fn, W, A, G)                                                        \
  {                                                                                    \
#op "_w" #W "a" #A "_g" #G "_32x1__neon", kOp##fn, kKindInt, kIsaNeon, W, A, G, 0, \
        &kernel < W, A, true>, nullptr                                                 \
  }
#define HILQ_OP(op, fn, W, A)                                                \
  HILQ_PC(op, fn, W, A), HILQ_G(op, fn, W, A, 32), HILQ_G(op, fn, W, A, 64), \
      HILQ_G(op, fn, W, A, 128)
#define HILQ_PAIR(W, A) HILQ_OP(gemv, Gemv, W, A), HILQ_OP(gemm, Gemm, W, A)

const KernelInfo kNeonKernels[] = {
    HILQ_PAIR(2, 4),
    HILQ_PAIR(2, 8),
    HILQ_PAIR(3, 4),
    HILQ_PAIR(3, 8),
    HILQ_PAIR(4, 4),
    HILQ_PAIR(4, 8),
    HILQ_PAIR(6, 4),
    HILQ_PAIR(6, 8),
    HILQ_PAIR(8, 4),
    HILQ_PAIR(8, 8),
    {"gemv_w4a4_32x1cat__neon", kOpGemv, kKindInt, kIsaNeon, 4, 4, 0, kVariantConcat, &cat_kernel,
     nullptr},
    {"gemm_w4a4_32x2cat__neon", kOpGemm, kKindInt, kIsaNeon, 4, 4, 0, kVariantConcat, &cat_kernel,
     nullptr},
    {"gemv_fp32_4x1__neon", kOpGemv, kKindFp32, kIsaNeon, 32, 32, 0, 0, nullptr, &fp_kernel<false>},
    {"gemm_fp32_4x3__neon", kOpGemm, kKindFp32, kIsaNeon, 32, 32, 0, 0, nullptr, &fp_kernel<false>},
    {"gemv_fp16_4x1__neon", kOpGemv, kKindFp16, kIsaNeon, 16, 32, 0, 0, nullptr, &fp_kernel<true>},
    {"gemm_fp16_4x3__neon", kOpGemm, kKindFp16, kIsaNeon, 16, 32, 0, 0, nullptr, &fp_kernel<true>},
};
#undef HILQ_PAIR
#undef HILQ_OP
#undef HILQ_G
#undef HILQ_PC

extern const KernelTable kNeonKernelTable = {
    kNeonKernels, sizeof(kNeonKernels) / sizeof(kNeonKernels[0]), nullptr, kIsaNeon};

}  // namespace hilq::kernels
