// NEON dotprod kernels (ARMv8.2 sdot; Raspberry Pi 5 / Cortex-A76): W{2,3,4,6,8}A{4,8}. A 16-byte
// quarter of a slot is 4 rows x 4 k, one sdot by lane against 16 activations covers it. GEMV runs
// all 32 rows of a panel for one token (8 accumulators); GEMM one 16-row slot for 4 tokens.
#include <utility>

#include "kernels/arm/neon_common.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaDotprod = 12;

// Calls f.template operator()<I>() for I = 0..N-1 (the sdot lane must be a constant).
template <int N, class F>
inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f.template operator()<I>(), ...); }
  (std::make_integer_sequence<int, N>{});
}

// NH halves (slots) starting at h0, T tokens, one panel.
template <int B, int T, int NH, bool kGrouped>
void tile(const KernelArgs& k, int p, int h0, const int32_t* rows, const int32_t* corr) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr int Step = 4 / S;  // super-blocks per 4 k-blocks (one 16-byte activation load)
  const uint8_t* w = k.w_data + p * k.panel_bytes;
  const int8_t* a[T];
  for (int t = 0; t < T; ++t) a[t] = k.a + rows[t] * k.lda;
  const int kb_per_group = (k.group ? k.group : k.cols_pad) / 4;
  float32x4_t facc[NH][4][T];
  for (int h = 0; h < NH; ++h)
    for (int q = 0; q < 4; ++q)
      for (int t = 0; t < T; ++t) facc[h][q][t] = vdupq_n_f32(0.0f);
  int kb = 0;
  for (int g = 0; g < k.groups; ++g) {
    int32x4_t acc[NH][4][T];
    for (int h = 0; h < NH; ++h)
      for (int q = 0; q < 4; ++q)
        for (int t = 0; t < T; ++t) acc[h][q][t] = vdupq_n_s32(corr[t * k.groups + g]);
    const int kb_end = kb + kb_per_group;
    for (; kb < kb_end; kb += 4) {
      int8x16_t av[T];
      for (int t = 0; t < T; ++t) av[t] = vld1q_s8(a[t] + 4 * kb);
      static_for<Step>([&]<int St>() {
        const uint8_t* sb = w + (kb + St * S) * (16 * B);
        for (int q = 0; q < 4; ++q) {
          uint8x16_t v[2 * S];
          U::run(sb + 16 * q, v);
          static_for<S>([&]<int J>() {
            for (int h = 0; h < NH; ++h) {
              const int8x16_t ws = as_s8<B>(v[2 * J + h0 + h]);
              for (int t = 0; t < T; ++t)
                acc[h][q][t] = vdotq_laneq_s32(acc[h][q][t], ws, av[t], St * S + J);
            }
          });
        }
      });
    }
    // Test hook out of the float epilogue, both fully unrolled (a runtime index into acc would
    // keep the accumulators in memory).
    if (k.acc) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t)
#pragma GCC unroll 2
        for (int h = 0; h < NH; ++h)
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q)
            store_acc4(k, rows[t], p * 32 + 16 * (h0 + h) + 4 * q, g, acc[h][q][t]);
      continue;
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t)
#pragma GCC unroll 2
      for (int h = 0; h < NH; ++h)
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
          if (kGrouped)
            facc[h][q][t] = group_fma(k, p, g, 16 * (h0 + h) + 4 * q, acc[h][q][t], facc[h][q][t]);
          else
            facc[h][q][t] = vcvtq_f32_s32(acc[h][q][t]);
        }
  }
  if (k.acc) return;
  for (int t = 0; t < T; ++t) {
    const float32x4_t as = vdupq_n_f32(k.a_scales[rows[t]]);
    for (int h = 0; h < NH; ++h)
      for (int q = 0; q < 4; ++q) {
        const int m0 = p * 32 + 16 * (h0 + h) + 4 * q;
        if (m0 >= k.rows) continue;
        store_y4(k, rows[t], m0, facc[h][q][t],
                 kGrouped ? as : vmulq_f32(vld1q_f32(k.w_scales + m0), as));
      }
  }
}

template <int B, bool G>
void gemv(const KernelArgs& k) {
  int32_t corr[kMaxCorr];
  for (int t = 0; t < k.n; ++t) {
    fill_corr<B>(k, k.a_rows + t, 1, corr);
    for (int p = k.panel_begin; p < k.panel_end; ++p) tile<B, 1, 2, G>(k, p, 0, k.a_rows + t, corr);
  }
}

template <int B, bool G, int T>
void gemm_rest(const KernelArgs& k, int p, int h, const int32_t* rows, int left,
               const int32_t* corr) {
  if constexpr (T > 0) {
    if (left == T) return tile<B, T, 1, G>(k, p, h, rows, corr);
    return gemm_rest<B, G, T - 1>(k, p, h, rows, left, corr);
  }
}

// Tokens in blocks whose correction table fits (the weights are read once per block), panels
// inside, T-token tiles inside a panel.
template <int B, bool G>
void gemm(const KernelArgs& k) {
  constexpr int T = G ? 2 : 4;
  int32_t corr[kMaxCorr];
  const int block = corr_block(k, T);
  for (int t0 = 0; t0 < k.n; t0 += block) {
    const int nb = k.n - t0 < block ? k.n - t0 : block;
    const int32_t* rows = k.a_rows + t0;
    fill_corr<B>(k, rows, nb, corr);
    for (int p = k.panel_begin; p < k.panel_end; ++p)
      for (int h = 0; h < 2; ++h)
        for (int t = 0; t < nb; t += T)
          gemm_rest<B, G, T>(k, p, h, rows + t, nb - t < T ? nb - t : T, corr + t * k.groups);
  }
}

}  // namespace

#define HILQ_PC(op, fn, W, A, tile)                                                               \
  {                                                                                               \
#op "_w" #W "a" #A "_" tile "__dotprod", kOp##fn, kKindInt, kIsaDotprod, W, A, 0, 0, &op < W, \
        false>, nullptr                                                                           \
  }
#define HILQ_G(op, fn, W, A, G, tile)                                                            \
  {                                                                                              \
#op "_w" #W "a" #A "_g" #G "_" tile "__dotprod", kOp##fn, kKindInt, kIsaDotprod, W, A, G, 0, \
        &op < W, true>, nullptr                                                                  \
  }
#define HILQ_PAIR(W, A)                                                           \
  HILQ_PC(gemv, Gemv, W, A, "32x1"), HILQ_PC(gemm, Gemm, W, A, "16x4"),           \
      HILQ_G(gemv, Gemv, W, A, 32, "32x1"), HILQ_G(gemm, Gemm, W, A, 32, "16x2"), \
      HILQ_G(gemv, Gemv, W, A, 64, "32x1"), HILQ_G(gemm, Gemm, W, A, 64, "16x2"), \
      HILQ_G(gemv, Gemv, W, A, 128, "32x1"), HILQ_G(gemm, Gemm, W, A, 128, "16x2")

const KernelInfo kDotprodKernels[] = {
    HILQ_PAIR(2, 4), HILQ_PAIR(2, 8), HILQ_PAIR(3, 4), HILQ_PAIR(3, 8), HILQ_PAIR(4, 4),
    HILQ_PAIR(4, 8), HILQ_PAIR(6, 4), HILQ_PAIR(6, 8), HILQ_PAIR(8, 4), HILQ_PAIR(8, 8),
};
#undef HILQ_PAIR
#undef HILQ_G
#undef HILQ_PC

extern const KernelTable kDotprodKernelTable = {
    kDotprodKernels, sizeof(kDotprodKernels) / sizeof(kDotprodKernels[0]), nullptr, kIsaDotprod};

}  // namespace hilq::kernels
