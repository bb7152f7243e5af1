// AVX-512 helpers shared by the kernel files compiled with the AVX-512 flags (mkmp_avx512vnni.cpp,
// mkmp_amx.cpp): code unpacking of every weight width and the output stores. Everything here has
// internal linkage, so no copy built with these flags can stand in for baseline code (see
// kernel_iface.h); include it only from such files, after <immintrin.h>.
#pragma once

#include <immintrin.h>

#include "kernels/kernel_iface.h"

namespace hilq::kernels {
namespace {  // NOLINT(cert-dcl59-cpp, google-build-namespaces): per-ISA copies on purpose

// One load per 64 bytes: without the empty asm GCC folds the load into every AND that uses it,
// and a zmm load costs both of Zen 4's load slots of a cycle.
inline __m512i load(const uint8_t* p) {
  __m512i x = _mm512_loadu_si512(p);
  __asm__("" : "+v"(x));
  return x;
}
inline __m512i bytes(int v) { return _mm512_set1_epi8(static_cast<char>(v)); }
// (a & c) | b, one vpternlogd.
inline __m512i or_and(__m512i a, __m512i b, __m512i c) {
  return _mm512_ternarylogic_epi32(a, b, c, 0xEC);
}
template <int N>
inline __m512i shift_bytes(__m512i x) {  // 16-bit shift; callers mask to bits of the same byte
  if constexpr (N > 0) return _mm512_srli_epi16(x, N);
  if constexpr (N < 0) return _mm512_slli_epi16(x, -N);
  return x;
}

// One super-block of a panel -> 2*S vectors of u8 codes (slots A0, B0, A1, B1, ...).
template <int B>
struct Unpack;
template <>
struct Unpack<8> {
  static constexpr int S = 1;
  static void run(const uint8_t* p, __m512i* v) {
    v[0] = load(p);
    v[1] = load(p + 64);
  }
};
template <>
struct Unpack<4> {
  static constexpr int S = 1;
  static void run(const uint8_t* p, __m512i* v) {
    const __m512i x = load(p), m = bytes(0x0F);
    v[0] = _mm512_and_si512(x, m);
    v[1] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m);
  }
  // Codes left in place (slot s scaled by 2^shift(s)): one AND per slot; the accumulators are
  // shifted back exactly at the end (u << 4 <= 240 still fits the unsigned byte). The shift of a
  // slot repeats every kScalePeriod k-blocks.
  static constexpr int kScalePeriod = 1;
  static constexpr int shift(int s) { return 4 * s; }
  static void run_scaled(const uint8_t* p, __m512i* v) {
    const __m512i x = load(p);
    v[0] = _mm512_and_si512(x, bytes(0x0F));
    v[1] = _mm512_and_si512(x, bytes(0xF0));
  }
};
template <>
struct Unpack<2> {
  static constexpr int S = 2;
  static void run(const uint8_t* p, __m512i* v) {
    const __m512i x = load(p), m = bytes(0x03);
    v[0] = _mm512_and_si512(x, m);
    v[1] = _mm512_and_si512(_mm512_srli_epi16(x, 2), m);
    v[2] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m);
    v[3] = _mm512_and_si512(_mm512_srli_epi16(x, 6), m);
  }
  static constexpr int kScalePeriod = 2;
  static constexpr int shift(int s) { return 2 * s; }
  static void run_scaled(const uint8_t* p, __m512i* v) {
    const __m512i x = load(p);
    v[0] = _mm512_and_si512(x, bytes(0x03));
    v[1] = _mm512_and_si512(x, bytes(0x0C));
    v[2] = _mm512_and_si512(x, bytes(0x30));
    v[3] = _mm512_and_si512(x, bytes(0xC0));
  }
};
template <>
struct Unpack<6> {
  static constexpr int S = 2;
  static void run(const uint8_t* p, __m512i* v) {
    const __m512i n0 = load(p), n1 = load(p + 64), h = load(p + 128);
    const __m512i m4 = bytes(0x0F), m30 = bytes(0x30);
    v[0] = or_and(n0, _mm512_and_si512(shift_bytes<-4>(h), m30), m4);
    v[1] = or_and(_mm512_srli_epi16(n0, 4), _mm512_and_si512(shift_bytes<-2>(h), m30), m4);
    v[2] = or_and(n1, _mm512_and_si512(h, m30), m4);
    v[3] = or_and(_mm512_srli_epi16(n1, 4), _mm512_and_si512(shift_bytes<2>(h), m30), m4);
  }
};
template <>
struct Unpack<3> {
  static constexpr int S = 4;
  template <int Sl>
  static __m512i slot(__m512i l, __m512i h, __m512i m3, __m512i m4) {
    return or_and(shift_bytes<2 * (Sl % 4)>(l), _mm512_and_si512(shift_bytes<Sl - 2>(h), m4), m3);
  }
  static void run(const uint8_t* p, __m512i* v) {
    const __m512i l0 = load(p), l1 = load(p + 64), h = load(p + 128);
    const __m512i m3 = bytes(0x03), m4 = bytes(0x04);
    v[0] = slot<0>(l0, h, m3, m4);
    v[1] = slot<1>(l0, h, m3, m4);
    v[2] = slot<2>(l0, h, m3, m4);
    v[3] = slot<3>(l0, h, m3, m4);
    v[4] = slot<4>(l1, h, m3, m4);
    v[5] = slot<5>(l1, h, m3, m4);
    v[6] = slot<6>(l1, h, m3, m4);
    v[7] = slot<7>(l1, h, m3, m4);
  }
  // In place: the low 2 bits stay where they are in the plane byte and the high bit is moved just
  // above them (slots at bits 0-1 / 2-3 / 4-5 scaled by 1 / 4 / 16, <= 112; the slots at bits 6-7
  // are shifted down): 3 ops per slot instead of 4. Slot order A0 B0 A1 B1 A2 B2 A3 B3.
  static constexpr int kScalePeriod = 2;
  static constexpr int shift(int s) { return s == 1 ? 2 : s == 2 ? 4 : 0; }
  template <int From, int To>  // bit From of every byte of h, at bit To, all other bits 0
  static __m512i bit(__m512i h) {
    return _mm512_and_si512(shift_bytes<From - To>(h), bytes(1 << To));
  }
  static void run_scaled(const uint8_t* p, __m512i* v) {
    const __m512i l0 = load(p), l1 = load(p + 64), h = load(p + 128);
    v[0] = or_and(l0, bit<0, 2>(h), bytes(0x03));
    v[1] = or_and(l0, bit<1, 4>(h), bytes(0x0C));
    v[2] = or_and(l0, bit<2, 6>(h), bytes(0x30));
    v[3] = or_and(_mm512_srli_epi16(l0, 6), bit<3, 2>(h), bytes(0x03));
    v[4] = or_and(l1, bit<4, 2>(h), bytes(0x03));
    v[5] = or_and(l1, bit<5, 4>(h), bytes(0x0C));
    v[6] = or_and(l1, bit<6, 6>(h), bytes(0x30));
    v[7] = or_and(_mm512_srli_epi16(l1, 6), bit<7, 2>(h), bytes(0x03));
  }
};

inline __mmask16 row_mask(const KernelArgs& k, int m0) {
  const int left = k.rows - m0;
  return left >= 16 ? static_cast<__mmask16>(0xFFFF)
                    : static_cast<__mmask16>(left > 0 ? (1u << left) - 1 : 0);
}

inline void store_acc(const KernelArgs& k, int row, int m0, int g, __m512i acc) {
  alignas(64) int32_t tmp[16];
  _mm512_store_si512(tmp, acc);
  for (int i = 0; i < 16 && m0 + i < k.rows; ++i)
    k.acc[(int64_t{row} * k.rows + m0 + i) * k.groups + g] = tmp[i];
}

// Output of one 16-row half for one token: per channel y = fma(acc, s * a_s, bias), grouped
// y = fma(facc, a_s, bias) (the same operation order as the reference).
inline void store_y(const KernelArgs& k, int row, int m0, __m512 f, __m512 scale) {
  const __mmask16 mask = row_mask(k, m0);
  const __m512 b = k.bias ? _mm512_maskz_loadu_ps(mask, k.bias + m0) : _mm512_setzero_ps();
  _mm512_mask_storeu_ps(k.y + row * k.ldy + m0, mask, _mm512_fmadd_ps(f, scale, b));
}

}  // namespace
}  // namespace hilq::kernels
