// The 256-bit integer kernels, included by two files with their ISA flags: mkmp_avx2.cpp
// (HILQ_YMM_VNNI 0) and mkmp_avxvnni.cpp (HILQ_YMM_VNNI 1). W{2,3,4,6,8}A{4,8} GEMV/GEMM, offset
// corrected per group. AVX2: vpmaddubsw (unsigned weight codes x signed activations) + vpmaddwd;
// A4 and W<=3 A8 products are small enough to accumulate 8 k-blocks in int16 before widening,
// and W8A8 splits the code into nibbles (vpmaddubsw would saturate on 255 * 128 pairs). AVX-VNNI:
// one vpdpbusd per slot, exact in int32 for every width, so the same sums in a third of the
// multiplier instructions (prefill 1.6-1.75x the AVX2 kernels on Zen 5; kernels/README).
// Everything here is in an anonymous namespace: each including file gets its own copy.
#include <immintrin.h>

#include "kernels/kernel_iface.h"

#if !defined(HILQ_YMM_VNNI)
#error "define HILQ_YMM_VNNI (0: AVX2, 1: AVX-VNNI) before including mkmp_avx2_impl.h"
#endif

#if HILQ_YMM_VNNI
#define HILQ_YMM_SUFFIX "__avxvnni"
#define HILQ_YMM_TABLE kAvxVnniKernelTable
#else
#define HILQ_YMM_SUFFIX "__avx2"
#define HILQ_YMM_TABLE kAvx2KernelTable
#endif

namespace hilq::kernels {
namespace {

constexpr bool kVnni = HILQ_YMM_VNNI;
constexpr int kIsaYmm = kVnni ? 2 : 1;  // Isa::kAvxVnni, Isa::kAvx2

inline __m256i load(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline __m256i bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }
template <int N>
inline __m256i shift_bytes(__m256i x) {
  if constexpr (N > 0) return _mm256_srli_epi16(x, N);
  if constexpr (N < 0) return _mm256_slli_epi16(x, -N);
  return x;
}
inline __m256i and_(__m256i a, __m256i b) { return _mm256_and_si256(a, b); }
inline __m256i or_(__m256i a, __m256i b) { return _mm256_or_si256(a, b); }

// Rows 8*r8 .. 8*r8+7 of every slot of one super-block: the bytes [32*r8, 32*r8+32) of each
// 64-byte plane chunk.
template <int B>
struct Unpack;
template <>
struct Unpack<8> {
  static constexpr int S = 1;
  static void run(const uint8_t* p, __m256i* v) {
    v[0] = load(p);
    v[1] = load(p + 64);
  }
};
template <>
struct Unpack<4> {
  static constexpr int S = 1;
  static void run(const uint8_t* p, __m256i* v) {
    const __m256i x = load(p), m = bytes(0x0F);
    v[0] = and_(x, m);
    v[1] = and_(_mm256_srli_epi16(x, 4), m);
  }
};
template <>
struct Unpack<2> {
  static constexpr int S = 2;
  static void run(const uint8_t* p, __m256i* v) {
    const __m256i x = load(p), m = bytes(0x03);
    v[0] = and_(x, m);
    v[1] = and_(_mm256_srli_epi16(x, 2), m);
    v[2] = and_(_mm256_srli_epi16(x, 4), m);
    v[3] = and_(_mm256_srli_epi16(x, 6), m);
  }
};
template <>
struct Unpack<6> {
  static constexpr int S = 2;
  static void run(const uint8_t* p, __m256i* v) {
    const __m256i n0 = load(p), n1 = load(p + 64), h = load(p + 128);
    const __m256i m4 = bytes(0x0F), m30 = bytes(0x30);
    v[0] = or_(and_(n0, m4), and_(shift_bytes<-4>(h), m30));
    v[1] = or_(and_(_mm256_srli_epi16(n0, 4), m4), and_(shift_bytes<-2>(h), m30));
    v[2] = or_(and_(n1, m4), and_(h, m30));
    v[3] = or_(and_(_mm256_srli_epi16(n1, 4), m4), and_(shift_bytes<2>(h), m30));
  }
};
template <>
struct Unpack<3> {
  static constexpr int S = 4;
  template <int Sl>
  static __m256i slot(__m256i l, __m256i h, __m256i m3, __m256i m4) {
    return or_(and_(shift_bytes<2 * (Sl % 4)>(l), m3), and_(shift_bytes<Sl - 2>(h), m4));
  }
  static void run(const uint8_t* p, __m256i* v) {
    const __m256i l0 = load(p), l1 = load(p + 64), h = load(p + 128);
    const __m256i m3 = bytes(0x03), m4 = bytes(0x04);
    v[0] = slot<0>(l0, h, m3, m4);
    v[1] = slot<1>(l0, h, m3, m4);
    v[2] = slot<2>(l0, h, m3, m4);
    v[3] = slot<3>(l0, h, m3, m4);
    v[4] = slot<4>(l1, h, m3, m4);
    v[5] = slot<5>(l1, h, m3, m4);
    v[6] = slot<6>(l1, h, m3, m4);
    v[7] = slot<7>(l1, h, m3, m4);
  }
};

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Offset correction -2^(b-1) * sum(a) of every (token, group), computed once per call (per token
// block in GEMM) and used as the initial value of the group's int32 accumulators instead of a
// subtract per accumulator and group.
constexpr int kMaxCorr = 16384;  // entries: 8 tokens x 2048 groups (K = 65536 at g32), 64 KiB

template <int B>
void fill_corr(const KernelArgs& k, const int32_t* rows, int n, int32_t* corr) {
  constexpr int kOff = 1 << (B - 1);
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
      corr[t * k.groups + g] =
          static_cast<int32_t>(0u - static_cast<uint32_t>(kOff) * static_cast<uint32_t>(v));
    }
  }
}

inline __m256i row_mask(const KernelArgs& k, int m0) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k.rows - m0), idx);
}

// int16 pair products of one slot (8 rows x 4 k) with 4 broadcast activations.
template <int B, int A>
inline __m256i products16(__m256i u, __m256i a) {
  return _mm256_maddubs_epi16(u, a);
}

// acc + the 8 rows x 4 k dot products in int32. Only the AVX-VNNI build calls it (the AVX2 one
// has no single instruction for it and must not pretend to).
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i a) {
#if HILQ_YMM_VNNI
  return _mm256_dpbusd_avx_epi32(acc, u, a);
#else
  (void)acc;
  (void)u;
  (void)a;
  __builtin_trap();
#endif
}

// acc + the int16 pair products of a and b summed to int32 (vpdpwssd on AVX-VNNI).
inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) {
#if HILQ_YMM_VNNI
  return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

// 8 rows x 4 k dot products in int32 for W8A8 (nibble split: no saturation).
inline __m256i dot32_w8a8(__m256i u, __m256i a, __m256i ones, __m256i sixteen) {
  const __m256i m = bytes(0x0F);
  const __m256i lo = _mm256_maddubs_epi16(and_(u, m), a);
  const __m256i hi = _mm256_maddubs_epi16(and_(_mm256_srli_epi16(u, 4), m), a);
  return _mm256_add_epi32(_mm256_madd_epi16(hi, sixteen), _mm256_madd_epi16(lo, ones));
}

// Rows {8*r8.., 16+8*r8..} (R8N = 2: all 32 rows) of NP consecutive panels x T tokens. GEMM
// runs one row octet pair of one panel per tile. GEMV runs kGemvPanels panels with all their
// rows at once, one memory stream per panel (the one-panel, one-octet GEMV read each line in two
// passes, the second from L2). 4 panels against 2 on Zen 5, 1 thread, fraction of the read
// bandwidth: per channel W4A8 avx2 0.67-0.68 -> 0.73, avxvnni 0.70-0.71 -> 0.80-0.83, W6A8
// avxvnni 0.75 -> 0.79-0.87, W8A8 avx2 0.78-0.79 -> 0.82-0.83; but with group scales (16 float
// accumulators on top of the 16 integer ones in 16 registers) g32 avx2 0.72-0.74 -> 0.57-0.63,
// and W3 (8 slot registers) 0.42 -> 0.39 and 0.53 -> 0.48: those keep 2.
template <int B, bool G>
constexpr int kGemvPanels = G || B == 3 ? 2 : 4;
// GEMV prefetches each panel's stream ahead, HILQ_AVX2_GEMV_PREFETCH bytes over all the panels
// of a step (0: hardware prefetch only). On Zen 5 (44 GB/s for one core) two hardware-prefetched
// streams left the AVX2 GEMV at 0.55-0.65 of the read bandwidth; 4 KiB ahead per panel of 2
// gave g32 0.73-0.74 at one thread. With 4 panels, 2 KiB each beat 4 KiB in all 24
// paired entries of 4 rounds (per channel W4A8 and W4A4, both paths, 1 and 2 threads; 1 KiB
// was worse).
#ifndef HILQ_AVX2_GEMV_PREFETCH
#define HILQ_AVX2_GEMV_PREFETCH 8192
#endif
template <int NP>
constexpr int kGemvPrefetch = HILQ_AVX2_GEMV_PREFETCH / NP / 64 * 64;

template <int B, int A, int T, bool kGrouped, int NP = 1, int R8N = 1>
void tile(const KernelArgs& k, int p, int r8, const int32_t* rows, const int32_t* corr) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr int H = 2 * NP * R8N;  // 8-row groups: (panel, row octet, slot)
  // 8-row group h: panel p + hp(h), rows 8 * hr(h) + 16 * (h % 2) of it.
  auto hp = [](int h) { return h / (2 * R8N); };
  auto hr = [r8](int h) { return r8 + (h / 2) % R8N; };
  // int16 partial sums over 8 k-blocks (one vpmaddwd per 8 instead of per k-block) stay below
  // 2^15: A4 8 * 2 * 255 * 8 = 32640; W<=3 A8 8 * 2 * 7 * 128 = 14336 (W4A8 would fit as well,
  // 30720, but measured 30 % slower on Zen 4).
  constexpr bool kInt16 = !kVnni && (A == 4 || B <= 3);
  constexpr int kAhead = kGemvPrefetch<NP>;  // GEMV prefetch distance per panel, bytes
  const __m256i ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi16(16);
  const uint8_t* w = k.w_data + p * k.panel_bytes + 32 * r8;
  const int8_t* a[T];
  for (int t = 0; t < T; ++t) a[t] = k.a + rows[t] * k.lda;
  const int kb_per_group = (k.group ? k.group : k.cols_pad) / 4;
  __m256 facc[T][H];
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) facc[t][h] = _mm256_setzero_ps();
  int kb = 0;
  for (int g = 0; g < k.groups; ++g) {
    __m256i acc[T][H];
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_set1_epi32(corr[t * k.groups + g]);
    const int kb_end = kb + kb_per_group;
    // GEMV: each panel's group scales (128 bytes a group) are a stream beside its codes, which
    // the code prefetch does not cover; 16 groups ahead, as on the AVX-512 path. Zen 5, 8
    // interleaved rounds, W4A8 g32 4096 x 4096 at 2 threads, paired roofline: avxvnni 0.61-0.79
    // -> 0.65-0.86 (faster in 8 of 8), avx2 0.65-0.78 -> 0.64-0.86 (6 of 8); g128 unchanged.
    if constexpr (T == 1 && kGrouped)
      for (int np = 0; np < NP; ++np) {
        const float* ahead = k.w_scales + (int64_t{p + np} * k.groups + g + 16) * 32;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 16), _MM_HINT_T0);
      }
    while (kb < kb_end) {
      __m256i acc16[T][H];
      if constexpr (kInt16)
        for (int t = 0; t < T; ++t)
          for (int h = 0; h < H; ++h) acc16[t][h] = _mm256_setzero_si256();
      const int kb_stop = kInt16 ? kb + 8 : kb_end;  // groups are multiples of 8 k-blocks
      for (; kb < kb_stop; kb += S) {
        if constexpr (T == 1 && kAhead > 0)
          for (int np = 0; np < NP; ++np)
            for (int line = 0; line < S * 16 * B; line += 64)
              _mm_prefetch(reinterpret_cast<const char*>(w + np * k.panel_bytes + kb * (16 * B) +
                                                         line + kAhead),
                           _MM_HINT_T0);
#pragma GCC unroll 8
        for (int np = 0; np < NP * R8N; ++np) {
          __m256i v[2 * S];
          U::run(w + (np / R8N) * k.panel_bytes + 32 * (np % R8N) + kb * (16 * B), v);
          for (int j = 0; j < S; ++j)
            for (int t = 0; t < T; ++t) {
              const __m256i av = bcast4(a[t] + 4 * (kb + j));
              for (int hs = 0; hs < 2; ++hs) {
                const int h = 2 * np + hs;
                if constexpr (kVnni) {
                  acc[t][h] = dpbusd(acc[t][h], v[2 * j + hs], av);
                } else if constexpr (kInt16) {
                  acc16[t][h] = _mm256_add_epi16(acc16[t][h], products16<B, A>(v[2 * j + hs], av));
                } else if constexpr (B == 8) {
                  acc[t][h] =
                      _mm256_add_epi32(acc[t][h], dot32_w8a8(v[2 * j + hs], av, ones, sixteen));
                } else {
                  acc[t][h] = _mm256_add_epi32(
                      acc[t][h], _mm256_madd_epi16(products16<B, A>(v[2 * j + hs], av), ones));
                }
              }
            }
        }
      }
      if constexpr (kInt16)
        for (int t = 0; t < T; ++t)
          for (int h = 0; h < H; ++h)
            acc[t][h] = _mm256_add_epi32(acc[t][h], _mm256_madd_epi16(acc16[t][h], ones));
    }
    // Test hook: the exact int32 sums. Fully unrolled like everything that indexes acc (one
    // runtime index would keep the accumulators in memory).
    if (k.acc) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t)
#pragma GCC unroll 8
        for (int h = 0; h < H; ++h) {
          const int m0 = (p + hp(h)) * 32 + 16 * (h % 2) + 8 * hr(h);
          alignas(32) int32_t tmp[8];
          _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), acc[t][h]);
          for (int i = 0; i < 8 && m0 + i < k.rows; ++i)
            k.acc[(int64_t{rows[t]} * k.rows + m0 + i) * k.groups + g] = tmp[i];
        }
      continue;
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t)
#pragma GCC unroll 8
      for (int h = 0; h < H; ++h) {
        if (kGrouped) {
          const __m256 sc = _mm256_loadu_ps(k.w_scales + (int64_t{p + hp(h)} * k.groups + g) * 32 +
                                            16 * (h % 2) + 8 * hr(h));
          facc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][h]), sc, facc[t][h]);
        } else {
          facc[t][h] = _mm256_cvtepi32_ps(acc[t][h]);
        }
      }
  }
  if (k.acc) return;
  for (int t = 0; t < T; ++t) {
    const __m256 as = _mm256_set1_ps(k.a_scales[rows[t]]);
    for (int h = 0; h < H; ++h) {
      const int m0 = (p + hp(h)) * 32 + 16 * (h % 2) + 8 * hr(h);
      if (m0 >= k.rows) continue;
      const __m256i mask = row_mask(k, m0);
      const __m256 sc = kGrouped ? as : _mm256_mul_ps(_mm256_loadu_ps(k.w_scales + m0), as);
      const __m256 b = k.bias ? _mm256_maskload_ps(k.bias + m0, mask) : _mm256_setzero_ps();
      _mm256_maskstore_ps(k.y + rows[t] * k.ldy + m0, mask, _mm256_fmadd_ps(facc[t][h], sc, b));
    }
  }
}

template <int B, int A, bool G>
void gemv(const KernelArgs& k) {
  int32_t corr[kMaxCorr];
  for (int t = 0; t < k.n; ++t) {
    fill_corr<B>(k, k.a_rows + t, 1, corr);
    constexpr int NP = kGemvPanels<B, G>;
    int p = k.panel_begin;
    for (; p + NP <= k.panel_end; p += NP) tile<B, A, 1, G, NP, 2>(k, p, 0, k.a_rows + t, corr);
    if constexpr (NP > 2)
      for (; p + 2 <= k.panel_end; p += 2) tile<B, A, 1, G, 2, 2>(k, p, 0, k.a_rows + t, corr);
    for (; p < k.panel_end; ++p)
      for (int r8 = 0; r8 < 2; ++r8) tile<B, A, 1, G>(k, p, r8, k.a_rows + t, corr);
  }
}

template <int B, int A, bool G, int T>
void gemm_rest(const KernelArgs& k, int p, int r8, const int32_t* rows, int left,
               const int32_t* corr) {
  if constexpr (T > 0) {
    if (left == T) return tile<B, A, T, G>(k, p, r8, rows, corr);
    return gemm_rest<B, A, G, T - 1>(k, p, r8, rows, left, corr);
  }
}

// Tokens in blocks whose correction table fits kMaxCorr (64 tokens for K = 4096 g32; the weights
// are read once per block), panels inside, T-token tiles inside a panel.
template <int B, int A, bool G>
void gemm(const KernelArgs& k) {
  constexpr int T = 4;
  int32_t corr[kMaxCorr];
  int block = kMaxCorr / k.groups / T * T;
  block = block < T ? T : block > 64 ? 64 : block;
  for (int t0 = 0; t0 < k.n; t0 += block) {
    const int nb = k.n - t0 < block ? k.n - t0 : block;
    const int32_t* rows = k.a_rows + t0;
    fill_corr<B>(k, rows, nb, corr);
    for (int p = k.panel_begin; p < k.panel_end; ++p)
      for (int r8 = 0; r8 < 2; ++r8)
        for (int t = 0; t < nb; t += T)
          gemm_rest<B, A, G, T>(k, p, r8, rows + t, nb - t < T ? nb - t : T, corr + t * k.groups);
  }
}

// ---- Squat concatenated-int16 W4A4 (per channel), vpmaddwd ----------------------------------
// As in the AVX-512 file: v = u_A + 4096 * w_B per int16 lane (rows r and r+16), vpmaddwd by the
// int16 activations adds two MACs per field per dword; 8 k-blocks = 16 MACs keep L in 12 bits,
// then H_c = (acc + 2048) >> 12 splits the chunk exactly.
constexpr int kCatChunkKBlocks = 8;

template <int T>
void cat_tile(const KernelArgs& k, int p, int r8, const int32_t* rows) {
  const uint8_t* w = k.w_data + p * k.panel_bytes + 32 * r8;
  const int kbs = k.cols_pad / 4;
  const __m256i m0f = bytes(0x0F), mf0 = bytes(0xF0), m80 = bytes(0x80);
  __m256i tot[T][2], hsum[T][2];
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 2; ++i) tot[t][i] = hsum[t][i] = _mm256_setzero_si256();
  int chunks = 0;
  for (int kb0 = 0; kb0 < kbs; kb0 += kCatChunkKBlocks, ++chunks) {
    alignas(32) int16_t a16[T][32];
    for (int t = 0; t < T; ++t)
      for (int half = 0; half < 2; ++half)
        _mm256_store_si256(reinterpret_cast<__m256i*>(a16[t] + 16 * half),
                           _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(
                               k.a + rows[t] * k.lda + 4 * kb0 + 16 * half))));
    __m256i acc[T][2];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_set1_epi32(2048);
    for (int j = 0; j < kCatChunkKBlocks; ++j) {
      const __m256i x = load(w + (kb0 + j) * 64);
      const __m256i lo = and_(x, m0f), hi = _mm256_xor_si256(and_(x, mf0), m80);
      const __m256i v0 = _mm256_unpacklo_epi8(lo, hi), v1 = _mm256_unpackhi_epi8(lo, hi);
      for (int t = 0; t < T; ++t) {
        int64_t av;
        __builtin_memcpy(&av, a16[t] + 4 * j, 8);
        const __m256i a = _mm256_set1_epi64x(av);
        acc[t][0] = dpwssd(acc[t][0], v0, a);
        acc[t][1] = dpwssd(acc[t][1], v1, a);
      }
    }
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < 2; ++i) {
        tot[t][i] = _mm256_add_epi32(tot[t][i], acc[t][i]);
        hsum[t][i] = _mm256_add_epi32(hsum[t][i], _mm256_srai_epi32(acc[t][i], 12));
      }
  }
  for (int t = 0; t < T; ++t) {
    // Dword d of lane L in v0 is row 4L + d/2 (kk pair d%2); in v1 row 4L + 2 + d/2.
    alignas(32) int32_t tv[2][8], hv[2][8];
    for (int i = 0; i < 2; ++i) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(tv[i]), tot[t][i]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(hv[i]), hsum[t][i]);
    }
    const int row = rows[t];
    const int32_t corr = 8 * k.a_sums[row * k.ld_sums + k.ld_sums - 1];
    const float as = k.a_scales[row];
    for (int r = 0; r < 8; ++r) {
      const int lane = r / 4, i = (r % 4) / 2, d = 4 * lane + 2 * (r % 2);
      const uint32_t h = static_cast<uint32_t>(hv[i][d]) + static_cast<uint32_t>(hv[i][d + 1]);
      const uint32_t all = static_cast<uint32_t>(tv[i][d]) + static_cast<uint32_t>(tv[i][d + 1]) -
                           2u * 2048u * static_cast<uint32_t>(chunks);
      const int32_t out[2] = {static_cast<int32_t>(all - (h << 12)) - corr,
                              static_cast<int32_t>(h)};
      for (int hh = 0; hh < 2; ++hh) {
        const int m = p * 32 + 16 * hh + 8 * r8 + r;
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
void cat_rest(const KernelArgs& k, int p, int r8, const int32_t* rows, int left) {
  if constexpr (T > 0) {
    if (left == T) return cat_tile<T>(k, p, r8, rows);
    return cat_rest<T - 1>(k, p, r8, rows, left);
  }
}

void cat_kernel(const KernelArgs& k) {
  constexpr int T = 4;
  for (int p = k.panel_begin; p < k.panel_end; ++p)
    for (int r8 = 0; r8 < 2; ++r8)
      for (int t = 0; t < k.n; t += T)
        cat_rest<T>(k, p, r8, k.a_rows + t, k.n - t < T ? k.n - t : T);
}

}  // namespace

#define HILQ_PC(op, fn, W, A, tile)                                                               \
  {                                                                                               \
#op "_w" #W "a" #A "_" tile HILQ_YMM_SUFFIX, kOp##fn, kKindInt, kIsaYmm, W, A, 0, 0, &op < W, \
        A, false>, nullptr                                                                        \
  }
#define HILQ_G(op, fn, W, A, G, tile)                                                            \
  {                                                                                              \
#op "_w" #W "a" #A "_g" #G "_" tile HILQ_YMM_SUFFIX, kOp##fn, kKindInt, kIsaYmm, W, A, G, 0, \
        &op < W, A, true>, nullptr                                                               \
  }
#define HILQ_PAIR(W, A)                                                           \
  HILQ_PC(gemv, Gemv, W, A, "32x1"), HILQ_PC(gemm, Gemm, W, A, "16x4"),           \
      HILQ_G(gemv, Gemv, W, A, 32, "32x1"), HILQ_G(gemm, Gemm, W, A, 32, "16x4"), \
      HILQ_G(gemv, Gemv, W, A, 64, "32x1"), HILQ_G(gemm, Gemm, W, A, 64, "16x4"), \
      HILQ_G(gemv, Gemv, W, A, 128, "32x1"), HILQ_G(gemm, Gemm, W, A, 128, "16x4")

const KernelInfo kYmmKernels[] = {
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
    {"gemv_w4a4_16x1cat" HILQ_YMM_SUFFIX, kOpGemv, kKindInt, kIsaYmm, 4, 4, 0, kVariantConcat,
     &cat_kernel, nullptr},
    {"gemm_w4a4_16x4cat" HILQ_YMM_SUFFIX, kOpGemm, kKindInt, kIsaYmm, 4, 4, 0, kVariantConcat,
     &cat_kernel, nullptr},
};
#undef HILQ_PAIR
#undef HILQ_G
#undef HILQ_PC

extern const KernelTable HILQ_YMM_TABLE = {
    kYmmKernels, sizeof(kYmmKernels) / sizeof(kYmmKernels[0]), nullptr, kIsaYmm};

}  // namespace hilq::kernels

#undef HILQ_YMM_TABLE
#undef HILQ_YMM_SUFFIX
