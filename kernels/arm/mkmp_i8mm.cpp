// NEON i8mm GEMM kernels (ARMv8.6 usmmla; Pixel 8 class): W{2,3,4,6,8}A{4,8}. Two k-blocks of a
// quarter (4 rows x 4 k each) zip into two row-pair operands of 2 rows x 8 k; usmmla multiplies
// them (unsigned codes) by 2 tokens x 8 k (signed activations) into a 2x2 int32 tile. Tile: one
// 16-row slot x 4 tokens. GEMV stays on the dotprod kernel (a 2x2 tile would waste half).
#include <utility>

#include "kernels/arm/neon_common.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaI8mm = 13;

template <int N, class F>
inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f.template operator()<I>(), ...); }
  (std::make_integer_sequence<int, N>{});
}

// One 16-row slot h of panel p x 4 tokens (rows[] has 4 entries; `live` of them are stored).
template <int B, bool kGrouped>
void tile(const KernelArgs& k, int p, int h, const int32_t* rows, int live) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr int Step = 4 / S;
  constexpr int kOff = 1 << (B - 1);
  const uint8_t* w = k.w_data + p * k.panel_bytes;
  const int8_t* a[4];
  for (int t = 0; t < 4; ++t) a[t] = k.a + rows[t] * k.lda;
  const int kb_per_group = (k.group ? k.group : k.cols_pad) / 4;
  float facc[16][4] = {};
  int kb = 0;
  for (int g = 0; g < k.groups; ++g) {
    int32x4_t acc[4][2][2];  // [quarter][row pair][token pair]
    for (int q = 0; q < 4; ++q)
      for (int r = 0; r < 2; ++r) acc[q][r][0] = acc[q][r][1] = vdupq_n_s32(0);
    const int kb_end = kb + kb_per_group;
    for (; kb < kb_end; kb += 4) {
      int8x16_t act[2][2];  // [token pair][k-block pair]
      for (int tp = 0; tp < 2; ++tp)
        for (int pr = 0; pr < 2; ++pr)
          act[tp][pr] = vcombine_s8(vld1_s8(a[2 * tp] + 4 * kb + 8 * pr),
                                    vld1_s8(a[2 * tp + 1] + 4 * kb + 8 * pr));
      for (int q = 0; q < 4; ++q) {
        uint8x16_t wv[4];  // slot h of k-blocks kb..kb+3
        static_for<Step>([&]<int St>() {
          uint8x16_t v[2 * S];
          U::run(w + (kb + St * S) * (16 * B) + 16 * q, v);
          for (int j = 0; j < S; ++j) wv[St * S + j] = v[2 * j + h];
        });
        for (int pr = 0; pr < 2; ++pr) {
          const uint32x4_t x0 = vreinterpretq_u32_u8(wv[2 * pr]);
          const uint32x4_t x1 = vreinterpretq_u32_u8(wv[2 * pr + 1]);
          const uint8x16_t r01 = vreinterpretq_u8_u32(vzip1q_u32(x0, x1));
          const uint8x16_t r23 = vreinterpretq_u8_u32(vzip2q_u32(x0, x1));
          for (int tp = 0; tp < 2; ++tp) {
            acc[q][0][tp] = vusmmlaq_s32(acc[q][0][tp], r01, act[tp][pr]);
            acc[q][1][tp] = vusmmlaq_s32(acc[q][1][tp], r23, act[tp][pr]);
          }
        }
      }
    }
    // acc[q][rp][tp] = [r0 t0, r0 t1, r1 t0, r1 t1], r0 = 4q + 2rp, t0 = 2tp.
    int32_t out[16][4];
    for (int q = 0; q < 4; ++q)
      for (int rp = 0; rp < 2; ++rp)
        for (int tp = 0; tp < 2; ++tp) {
          int32_t v[4];
          vst1q_s32(v, acc[q][rp][tp]);
          const int r0 = 4 * q + 2 * rp;
          out[r0][2 * tp] = v[0];
          out[r0][2 * tp + 1] = v[1];
          out[r0 + 1][2 * tp] = v[2];
          out[r0 + 1][2 * tp + 1] = v[3];
        }
    for (int t = 0; t < live; ++t) {
      const int32_t corr = kOff * group_sum(k, rows[t], g);
      for (int r = 0; r < 16; ++r) {
        const int m = p * 32 + 16 * h + r;
        const int32_t s = out[r][t] - corr;
        if (k.acc) {
          if (m < k.rows) k.acc[(int64_t{rows[t]} * k.rows + m) * k.groups + g] = s;
        } else if (kGrouped) {
          facc[r][t] =
              __builtin_fmaf(static_cast<float>(s),
                             k.w_scales[(int64_t{p} * k.groups + g) * 32 + 16 * h + r], facc[r][t]);
        } else {
          facc[r][t] = static_cast<float>(s);
        }
      }
    }
  }
  if (k.acc) return;
  for (int t = 0; t < live; ++t) {
    const float as = k.a_scales[rows[t]];
    for (int r = 0; r < 16; ++r) {
      const int m = p * 32 + 16 * h + r;
      if (m >= k.rows) break;
      const float b = k.bias ? k.bias[m] : 0.0f;
      k.y[rows[t] * k.ldy + m] = kGrouped ? __builtin_fmaf(facc[r][t], as, b)
                                          : __builtin_fmaf(facc[r][t], k.w_scales[m] * as, b);
    }
  }
}

template <int B, bool G>
void gemm(const KernelArgs& k) {
  for (int p = k.panel_begin; p < k.panel_end; ++p)
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < k.n; t += 4) {
        const int live = k.n - t < 4 ? k.n - t : 4;
        int32_t rows[4];
        for (int i = 0; i < 4; ++i) rows[i] = k.a_rows[t + (i < live ? i : live - 1)];
        tile<B, G>(k, p, h, rows, live);
      }
}

}  // namespace

#define HILQ_PC(W, A)                                                                           \
  {                                                                                             \
    "gemm_w" #W "a" #A "_16x4__i8mm", kOpGemm, kKindInt, kIsaI8mm, W, A, 0, 0, &gemm<W, false>, \
        nullptr                                                                                 \
  }
#define HILQ_G(W, A, G)                                                                \
  {                                                                                    \
    "gemm_w" #W "a" #A "_g" #G "_16x4__i8mm", kOpGemm, kKindInt, kIsaI8mm, W, A, G, 0, \
        &gemm<W, true>, nullptr                                                        \
  }
#define HILQ_PAIR(W, A) HILQ_PC(W, A), HILQ_G(W, A, 32), HILQ_G(W, A, 64), HILQ_G(W, A, 128)

const KernelInfo kI8mmKernels[] = {
    HILQ_PAIR(2, 4), HILQ_PAIR(2, 8), HILQ_PAIR(3, 4), HILQ_PAIR(3, 8), HILQ_PAIR(4, 4),
    HILQ_PAIR(4, 8), HILQ_PAIR(6, 4), HILQ_PAIR(6, 8), HILQ_PAIR(8, 4), HILQ_PAIR(8, 8),
};
#undef HILQ_PAIR
#undef HILQ_G
#undef HILQ_PC

extern const KernelTable kI8mmKernelTable = {
    kI8mmKernels, sizeof(kI8mmKernels) / sizeof(kI8mmKernels[0]), nullptr, kIsaI8mm};

}  // namespace hilq::kernels
