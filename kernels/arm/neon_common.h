// Shared NEON pieces of the ARM kernel files: super-block unpacking and the epilogue. Everything
// is in an anonymous namespace on purpose: each file is compiled for a different -march, so no
// function may be shared between them at link time (see kernel_iface.h).
#pragma once

#include <arm_neon.h>

#include "kernels/kernel_iface.h"

namespace hilq::kernels {
namespace {

// Quarter q (rows 4q..4q+3 of each 16-row slot) of one super-block: the bytes [16q, 16q+16) of
// every 64-byte plane chunk -> 2*S vectors of u8 codes (slots A0, B0, A1, B1, ...).
template <int B>
struct Unpack;
template <>
struct Unpack<8> {
  static constexpr int S = 1;
  static inline void run(const uint8_t* p, uint8x16_t* v) {
    v[0] = vld1q_u8(p);
    v[1] = vld1q_u8(p + 64);
  }
};
template <>
struct Unpack<4> {
  static constexpr int S = 1;
  static inline void run(const uint8_t* p, uint8x16_t* v) {
    const uint8x16_t x = vld1q_u8(p);
    v[0] = vandq_u8(x, vdupq_n_u8(0x0F));
    v[1] = vshrq_n_u8(x, 4);
  }
};
template <>
struct Unpack<2> {
  static constexpr int S = 2;
  static inline void run(const uint8_t* p, uint8x16_t* v) {
    const uint8x16_t x = vld1q_u8(p), m = vdupq_n_u8(0x03);
    v[0] = vandq_u8(x, m);
    v[1] = vandq_u8(vshrq_n_u8(x, 2), m);
    v[2] = vandq_u8(vshrq_n_u8(x, 4), m);
    v[3] = vshrq_n_u8(x, 6);
  }
};
template <>
struct Unpack<6> {
  static constexpr int S = 2;
  static inline void run(const uint8_t* p, uint8x16_t* v) {
    const uint8x16_t n0 = vld1q_u8(p), n1 = vld1q_u8(p + 64), h = vld1q_u8(p + 128);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m6 = vdupq_n_u8(0x3F);
    v[0] = vandq_u8(vsliq_n_u8(vandq_u8(n0, m4), h, 4), m6);
    v[1] = vandq_u8(vsliq_n_u8(vshrq_n_u8(n0, 4), vshrq_n_u8(h, 2), 4), m6);
    v[2] = vandq_u8(vsliq_n_u8(vandq_u8(n1, m4), vshrq_n_u8(h, 4), 4), m6);
    v[3] = vsliq_n_u8(vshrq_n_u8(n1, 4), vshrq_n_u8(h, 6), 4);
  }
};
template <>
struct Unpack<3> {
  static constexpr int S = 4;
  template <int Sl>
  static inline uint8x16_t slot(uint8x16_t l, uint8x16_t h, uint8x16_t m7) {
    uint8x16_t lo = l, hi = h;
    if constexpr (Sl % 4 != 0) lo = vshrq_n_u8(l, 2 * (Sl % 4));
    if constexpr (Sl != 0) hi = vshrq_n_u8(h, Sl);
    return vandq_u8(vsliq_n_u8(lo, hi, 2), m7);
  }
  static inline void run(const uint8_t* p, uint8x16_t* v) {
    const uint8x16_t l0 = vld1q_u8(p), l1 = vld1q_u8(p + 64), h = vld1q_u8(p + 128);
    const uint8x16_t m7 = vdupq_n_u8(0x07);
    v[0] = slot<0>(l0, h, m7);
    v[1] = slot<1>(l0, h, m7);
    v[2] = slot<2>(l0, h, m7);
    v[3] = slot<3>(l0, h, m7);
    v[4] = slot<4>(l1, h, m7);
    v[5] = slot<5>(l1, h, m7);
    v[6] = slot<6>(l1, h, m7);
    v[7] = slot<7>(l1, h, m7);
  }
};

// Signed weights for s8 x s8 products: codes below 128 are already valid non-negative int8 (and
// keep the offset correction); 8-bit codes become w = u - 128 by flipping the top bit (no
// correction).
template <int B>
inline int8x16_t as_s8(uint8x16_t u) {
  if constexpr (B == 8) return vreinterpretq_s8_u8(veorq_u8(u, vdupq_n_u8(0x80)));
  return vreinterpretq_s8_u8(u);
}
template <int B>
constexpr int s8_offset() {
  return B == 8 ? 0 : 1 << (B - 1);
}

inline int32_t group_sum(const KernelArgs& k, int row, int g) {
  const int32_t* s = k.a_sums + row * k.ld_sums;
  if (!k.group) return s[k.ld_sums - 1];  // the total
  int32_t v = 0;
  for (int i = g * (k.group / 32); i < (g + 1) * (k.group / 32); ++i) v += s[i];
  return v;
}

// Offset correction -offset * sum(a) of every (token, group), computed once per call (per token
// block in GEMM): a group's accumulators start at it instead of a subtract per accumulator.
constexpr int kMaxCorr = 16384;  // entries: 8 tokens x 2048 groups (K = 65536 at g32), 64 KiB

template <int B>
inline void fill_corr(const KernelArgs& k, const int32_t* rows, int n, int32_t* corr) {
  const int per = k.group / 32;
  for (int t = 0; t < n; ++t) {
    const int32_t* s = k.a_sums + rows[t] * k.ld_sums;
    for (int g = 0; g < k.groups; ++g) {
      int32_t v = 0;
      if (!k.group) {
        v = s[k.ld_sums - 1];  // the total
      } else {
        for (int i = 0; i < per; ++i) v += s[g * per + i];
      }
      corr[t * k.groups + g] = static_cast<int32_t>(0u - static_cast<uint32_t>(s8_offset<B>()) *
                                                             static_cast<uint32_t>(v));
    }
  }
}

// Tokens per block so that the block's correction table fits kMaxCorr (a multiple of t, <= 64).
inline int corr_block(const KernelArgs& k, int t) {
  const int b = kMaxCorr / k.groups / t * t;
  return b < t ? t : b > 64 ? 64 : b;
}

inline int32x4_t load_act4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return vdupq_n_s32(v);
}

// Stores 4 accumulators of rows m0..m0+3 (test hook) for token row `row`, group g.
inline void store_acc4(const KernelArgs& k, int row, int m0, int g, int32x4_t acc) {
  int32_t tmp[4];
  vst1q_s32(tmp, acc);
  for (int i = 0; i < 4 && m0 + i < k.rows; ++i)
    k.acc[(int64_t{row} * k.rows + m0 + i) * k.groups + g] = tmp[i];
}

// y = fma(f, scale, bias) for rows m0..m0+3 (fewer at the end of the matrix).
inline void store_y4(const KernelArgs& k, int row, int m0, float32x4_t f, float32x4_t scale) {
  float* y = k.y + row * k.ldy + m0;
  if (m0 + 4 <= k.rows) {
    const float32x4_t b = k.bias ? vld1q_f32(k.bias + m0) : vdupq_n_f32(0.0f);
    vst1q_f32(y, vfmaq_f32(b, f, scale));
    return;
  }
  float fv[4], sv[4];
  vst1q_f32(fv, f);
  vst1q_f32(sv, scale);
  for (int i = 0; i < 4 && m0 + i < k.rows; ++i)
    y[i] = __builtin_fmaf(fv[i], sv[i], k.bias ? k.bias[m0 + i] : 0.0f);
}

// Per-group accumulation in float: facc = fma(acc, group scales, facc) (reference order).
inline float32x4_t group_fma(const KernelArgs& k, int p, int g, int r0, int32x4_t acc,
                             float32x4_t facc) {
  const float32x4_t sc = vld1q_f32(k.w_scales + (int64_t{p} * k.groups + g) * 32 + r0);
  return vfmaq_f32(facc, vcvtq_f32_s32(acc), sc);
}

}  // namespace
}  // namespace hilq::kernels
