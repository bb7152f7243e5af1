// AVX-512 VNNI kernels: W{2,3,4,6,8}A{4,8} GEMV/GEMM with vpdpbusd (unsigned weight codes x
// signed activations, offset corrected per group), the Squat concatenated-int16 W4A4 kernel with
// vpdpwssd, and the activation quantizer. Compiled with -mavx512{f,bw,vl,vnni}; see kernel_iface.h
// for why nothing here is shared with baseline code.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/kernel_iface.h"
#include "kernels/x86/avx512_common.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaAvx512 = 3;  // Isa::kAvx512Vnni

// acc += u8 x s8 dot products, in place: GCC 12 copies the accumulator around the intrinsic's
// tied operand (one extra move per vpdpbusd in the GEMV loop); the asm keeps it in its register.
inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
  return acc;
}
inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Offset correction -2^(b-1) * sum(a) of every (token, group), computed once per call (per token
// block in GEMM) and used as the initial value of the group's accumulators: the correction then
// costs a broadcast load instead of a vector subtract per accumulator. Group-major, [g][t][2]: the
// tokens of a GEMM tile read one line per group. Entry [g][t][1] is shifted
// left by the in-place code shift of odd halves, Unpack::shift(1), for the tiles whose codes stay
// in place (exact: the final sum fits int32).
// Entries per table: 2 x 8 tokens x 2048 groups (K = 65536 at g32), 128 KiB of stack.
constexpr int kMaxCorr = 32768;

template <int B>
void fill_corr(const KernelArgs& k, const int32_t* rows, int n, int shift1, int32_t* corr) {
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
      const uint32_t c = 0u - static_cast<uint32_t>(kOff) * static_cast<uint32_t>(v);
      corr[(g * n + t) * 2] = static_cast<int32_t>(c);
      corr[(g * n + t) * 2 + 1] = static_cast<int32_t>(c << shift1);
    }
  }
}

// NP panels x T tokens, group scales or per channel.
// GEMV runs 4 panels per activation broadcast: 4 sequential weight streams keep more lines in
// flight from the hardware prefetcher than 1 or 2 (the read-bandwidth probe uses 4 as well; 8 is
// slower again), and the per-panel prologue and epilogue are shared. KU independent accumulator
// sets hide the vpdpbusd latency; W2 and W3 keep 2 so that each accumulator sees one slot
// position (in-place codes, see Unpack::shift). (On Zen 4 every software prefetch distance from
// 1 to 8 KiB was slower than the hardware prefetcher alone; on Zen 5 1 KiB pays, below.)
//
// Per group the work outside the k loop is: accumulators start at the offset correction (a
// broadcast load from the corr table), then one vcvtdq2ps + one vfmadd (scale from memory) per
// 16 rows. With one accumulator set (KU == 1) the in-place shift of a half is not undone in the
// integer domain: the float accumulator of that half carries the factor 2^shift exactly (a power
// of two commutes with every rounding) and the final scale takes it out (2^-shift * a_s, exact),
// so the outputs are bit-identical to shifting first.
// GEMV: each panel's codes are prefetched this many bytes ahead, except with g32 on Zen 5, on top
// of the hardware prefetcher. On Zen 5, 3 interleaved rounds, W4A8 4096 x 4096, fastest-decile
// call: per channel 263-274 -> 230-243 us at 1 thread and 134-147 -> 114-132 at 2, g64 and g128 2-9
// % faster, g32 7-16 % slower at 1 thread (it prefetches its scales as well); 2 KiB ahead was
// between none and 1 KiB. On 2 Dec, on a Zen 4 guest (AMD family 25 model 17, about 28 GB/s for one
// core), the same prefetch into L1 (T0) made every entry slower than none (2T g64 0.69-0.81 against
// 0.88-0.97 of the read bandwidth, g128 0.79-0.89 against 0.89-0.99, per channel 0.74-0.91 against
// 0.94-1.16, 3 interleaved rounds), and into L2 (T1) as fast as none. So the codes go to L1 on Zen
// 5 and to L2 elsewhere (KernelArgs::prefetch_to_l1). On 3 Dec, on the Intel guest (2 MiB L2), the
// L2 prefetch made a W4A8 GEMV already in L2 slower (512 x 512 1.58 -> 2.07 us, 768 x 3072 13.0
// -> 17.5 us) while 4096 x 4096 out of cache gained 8-10 %: so elsewhere than Zen 5 it runs only
// for matrices larger than half the L2 (KernelArgs::prefetch_codes). There g32 gains from it as
// well (3 Dec, 3 interleaved rounds, W4A8 g32 4096 x 4096 median call: 1T 714-740 -> 660-686 us, 2T
// 373-377 -> 342-350 us, paired roofline 0.89-0.91 -> 0.97-0.98), so only Zen 5 leaves g32's codes
// to the hardware.
constexpr int kGemvCodePrefetch = 1024;

template <int B, int T, bool kGrouped, int NP = 1>
void tile(const KernelArgs& k, int p, const int32_t* rows, const int32_t* corr, int ldc) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr int KU = T > 1 ? 1 : NP >= 4 ? (B == 2 || B == 3 ? 2 : 1) : 4 / NP;
  constexpr int Step = (S > KU ? S : KU) / S;  // super-blocks per iteration
  // In-place codes need every accumulator to see one slot position only (see Unpack::shift).
  constexpr bool kScaled = B == 4 || ((B == 2 || B == 3) && KU % 2 == 0);
  constexpr bool kFold = kScaled && KU == 1;  // shift carried in the float accumulator
  constexpr int H = 2 * NP;                   // 16-row halves
  auto shift_of = [](int u, int h) {
    if constexpr (kScaled)
      return U::shift(2 * (u % U::kScalePeriod) + h % 2);
    else
      return (void)u, (void)h, 0;
  };
  const uint8_t* w = k.w_data + p * k.panel_bytes;
  const int8_t* a[T];
  for (int t = 0; t < T; ++t) a[t] = k.a + rows[t] * k.lda;
  const int kb_per_group = (k.group ? k.group : k.cols_pad) / 4;
  const bool prefetch_codes =
      k.prefetch_codes && T == 1 && (!kGrouped || k.group >= 64 || !k.prefetch_to_l1);
  __m512 facc[T][H];
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) facc[t][h] = _mm512_setzero_ps();
  int kb = 0;
  for (int g = 0; g < k.groups; ++g) {
    __m512i acc[KU][T][H];
    for (int u = 0; u < KU; ++u)
      for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h)
          acc[u][t][h] = u ? _mm512_setzero_si512()
                           : _mm512_set1_epi32(corr[g * ldc + 2 * t + (kScaled ? h % 2 : 0)]);
    const int kb_end = kb + kb_per_group;
    // GEMV: each panel's group scales (128 bytes a group) are a second stream beside its codes;
    // prefetched 16 groups ahead, 2T g32 went from 0.83-0.84 to 0.86-0.89 of the read bandwidth
    // on Zen 5 (a prefetch of the codes as well made g32 slower: 0.75-0.80).
    if constexpr (T == 1 && kGrouped)
      for (int np = 0; np < NP; ++np) {
        const float* ahead = k.w_scales + (int64_t{p + np} * k.groups + g + 16) * 32;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 16), _MM_HINT_T0);
      }
    for (; kb < kb_end; kb += S * Step) {
      const uint8_t* sb = w + kb * (16 * B);
      if constexpr (T == 1) {
        // One panel at a time: its codes go straight into vpdpbusd, so only 2*S code vectors are
        // live (unpacking all NP panels first spilled them to the stack).
        __m512i av[S * Step];
        for (int i = 0; i < S * Step; ++i) av[i] = bcast4(a[0] + 4 * (kb + i));
        if (prefetch_codes)
          for (int np = 0; np < NP; ++np)
            for (int line = 0; line < S * Step * 16 * B; line += 64) {
              const char* ahead =
                  reinterpret_cast<const char*>(sb + np * k.panel_bytes + line + kGemvCodePrefetch);
              if (k.prefetch_to_l1)
                _mm_prefetch(ahead, _MM_HINT_T0);
              else
                _mm_prefetch(ahead, _MM_HINT_T1);
            }
#pragma GCC unroll 4
        for (int st = 0; st < Step; ++st)
#pragma GCC unroll 8
          for (int np = 0; np < NP; ++np) {
            __m512i v[2 * S];
            if constexpr (kScaled)
              U::run_scaled(sb + np * k.panel_bytes + st * S * 16 * B, v);
            else
              U::run(sb + np * k.panel_bytes + st * S * 16 * B, v);
#pragma GCC unroll 4
            for (int j = 0; j < S; ++j) {
              const int u = (st * S + j) % KU;
              acc[u][0][2 * np] = dpbusd(acc[u][0][2 * np], v[2 * j], av[st * S + j]);
              acc[u][0][2 * np + 1] = dpbusd(acc[u][0][2 * np + 1], v[2 * j + 1], av[st * S + j]);
            }
          }
        continue;
      }
#pragma GCC unroll 4
      for (int st = 0; st < Step; ++st) {
        __m512i v[NP][2 * S];
        for (int np = 0; np < NP; ++np) {
          if constexpr (kScaled)
            U::run_scaled(sb + np * k.panel_bytes + st * S * 16 * B, v[np]);
          else
            U::run(sb + np * k.panel_bytes + st * S * 16 * B, v[np]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < S; ++j) {
          const int kk = kb + (st * S + j);
          const int u = (st * S + j) % KU;
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m512i av = bcast4(a[t] + 4 * kk);
            for (int np = 0; np < NP; ++np) {
              acc[u][t][2 * np] = dpbusd(acc[u][t][2 * np], v[np][2 * j], av);
              acc[u][t][2 * np + 1] = dpbusd(acc[u][t][2 * np + 1], v[np][2 * j + 1], av);
            }
          }
        }
      }
    }
    // Test hook: the exact int32 sums (shifts undone). Fully unrolled like everything that
    // indexes acc: one runtime index would put the accumulators in memory, and GCC then stores
    // them in every k iteration.
    if (k.acc) {
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
#pragma GCC unroll 8
        for (int h = 0; h < H; ++h) {
          __m512i s = _mm512_setzero_si512();
#pragma GCC unroll 4
          for (int u = 0; u < KU; ++u)
            s = _mm512_add_epi32(s, _mm512_srai_epi32(acc[u][t][h], shift_of(u, h)));
          store_acc(k, rows[t], (p + h / 2) * 32 + 16 * (h % 2), g, s);
        }
      continue;
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
#pragma GCC unroll 8
      for (int h = 0; h < H; ++h) {
        __m512i s = acc[0][t][h];
        if constexpr (!kFold) {
          if (shift_of(0, h)) s = _mm512_srai_epi32(s, shift_of(0, h));
          for (int u = 1; u < KU; ++u)
            s = _mm512_add_epi32(s, _mm512_srai_epi32(acc[u][t][h], shift_of(u, h)));
        }
        const int pp = p + h / 2;
        if constexpr (kGrouped) {
          const __m512 sc =
              _mm512_loadu_ps(k.w_scales + (int64_t{pp} * k.groups + g) * 32 + 16 * (h % 2));
          facc[t][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, facc[t][h]);
        } else {
          facc[t][h] = _mm512_cvtepi32_ps(s);
        }
      }
    }
  }
  if (k.acc) return;
  for (int t = 0; t < T; ++t) {
    const __m512 as = _mm512_set1_ps(k.a_scales[rows[t]]);
    for (int h = 0; h < H; ++h) {
      const int m0 = p * 32 + 16 * h;
      __m512 sc = kGrouped ? as : _mm512_mul_ps(_mm512_loadu_ps(k.w_scales + m0), as);
      if constexpr (kFold)
        if (shift_of(0, h)) sc = _mm512_mul_ps(sc, _mm512_set1_ps(1.0f / (1 << shift_of(0, h))));
      store_y(k, rows[t], m0, facc[t][h], sc);
    }
  }
}

template <int B, bool G>
void gemv(const KernelArgs& k) {
  int32_t corr[kMaxCorr];
  constexpr int kShift1 = B == 4 ? 4 : (B == 2 || B == 3) ? 2 : 0;  // Unpack::shift(1)
  for (int t = 0; t < k.n; ++t) {
    const int32_t* row = k.a_rows + t;
    fill_corr<B>(k, row, 1, kShift1, corr);
    int p = k.panel_begin;
    for (; p + 4 <= k.panel_end; p += 4) tile<B, 1, G, 4>(k, p, row, corr, 2);
    if (p + 2 <= k.panel_end) {
      tile<B, 1, G, 2>(k, p, row, corr, 2);
      p += 2;
    }
    if (p < k.panel_end) tile<B, 1, G, 1>(k, p, row, corr, 2);
  }
}

template <int B, bool G, int T>
void gemm_rest(const KernelArgs& k, int p, const int32_t* rows, int left, const int32_t* corr,
               int ldc) {
  if constexpr (T > 1) {
    if (left == T - 1) return tile<B, T - 1, G>(k, p, rows, corr, ldc);
    return gemm_rest<B, G, T - 1>(k, p, rows, left, corr, ldc);
  }
}

// Tokens in blocks whose correction table fits kMaxCorr (64 tokens for K = 4096 g32; the weights
// are read once per block), panels inside, T-token tiles inside a panel. With group scales a tile
// of 6 tokens keeps its 12 float accumulators in registers beside the 12 integer ones; at 8 tokens
// (16 + 16 of 32 registers) GCC kept the float ones on the stack, and the load-FMA-store per
// group cost a fifth of the g32 GEMM's speed on Zen 5 (see kernels/README).
template <int B, bool G>
void gemm(const KernelArgs& k) {
  constexpr int T = G ? 6 : 8;
  constexpr int kShift1 = B == 4 ? 4 : (B == 2 || B == 3) ? 2 : 0;  // Unpack::shift(1)
  int32_t corr[kMaxCorr];
  int block = kMaxCorr / 2 / k.groups / T * T;
  block = block < T ? T : block > 64 ? 64 : block;
  for (int t0 = 0; t0 < k.n; t0 += block) {
    const int nb = k.n - t0 < block ? k.n - t0 : block;
    const int32_t* rows = k.a_rows + t0;
    fill_corr<B>(k, rows, nb, kShift1, corr);
    for (int p = k.panel_begin; p < k.panel_end; ++p) {
      int t = 0;
      for (; t + T <= nb; t += T) tile<B, T, G>(k, p, rows + t, corr + 2 * t, 2 * nb);
      if (t < nb) gemm_rest<B, G, T>(k, p, rows + t, nb - t, corr + 2 * t, 2 * nb);
    }
  }
}

// ---- Squat concatenated-int16 W4A4 (per channel) ------------------------------------------
// A w4 byte holds u_A (row r) in its low nibble and u_B (row r+16) in its high nibble. As one
// int16 lane v = u_A + 4096 * w_B (w_B = u_B - 8; fits int16 for every code), a widening
// multiply-add by a 4-bit activation accumulates L + 4096 * H with L = sum u_A a, H = sum w_B a.
// Each term of L is in [-120, 105], so 16 MACs keep L in [-2048, 2047] (12 bits): after 8
// k-blocks (16 MACs per field) the chunk is split: H_c = (acc + 2048) >> 12 exactly. The totals
// give H = sum H_c and L = sum acc - 4096 H (mod 2^32), then L - 8 sum(a) = sum w_A a.
constexpr int kCatChunkKBlocks = 8;

inline void cat_unpack(const uint8_t* p, __m512i* lo, __m512i* hi) {
  const __m512i x = load(p);
  const __m512i a = _mm512_and_si512(x, bytes(0x0F));
  const __m512i b = _mm512_ternarylogic_epi32(x, bytes(0xF0), bytes(0x80), 0x6A);  // (x&F0)^80
  *lo = _mm512_unpacklo_epi8(a, b);
  *hi = _mm512_unpackhi_epi8(a, b);
}

// Pair sums of dword lanes (kk 0-1 with kk 2-3) into rows 0..15 order.
inline __m512i cat_rows(__m512i lo, __m512i hi) {
  lo = _mm512_add_epi32(lo, _mm512_srli_epi64(lo, 32));
  hi = _mm512_add_epi32(hi, _mm512_srli_epi64(hi, 32));
  const __m512i idx = _mm512_setr_epi32(0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30);
  return _mm512_permutex2var_epi32(lo, idx, hi);
}

template <int T>
void cat_tile(const KernelArgs& k, int p, const int32_t* rows) {
  const uint8_t* w = k.w_data + p * k.panel_bytes;
  const int8_t* a8[T];
  for (int t = 0; t < T; ++t) a8[t] = k.a + rows[t] * k.lda;
  const int kbs = k.cols_pad / 4;
  const __m512i bias2048 = _mm512_set1_epi32(2048);
  __m512i tot[T][2], hsum[T][2];
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 2; ++i) tot[t][i] = hsum[t][i] = _mm512_setzero_si512();
  for (int kb0 = 0; kb0 < kbs; kb0 += kCatChunkKBlocks) {
    // The chunk's 32 activations of each token widened to int16 once.
    alignas(64) int16_t a16[T][32];
    for (int t = 0; t < T; ++t)
      _mm512_store_si512(a16[t], _mm512_cvtepi8_epi16(_mm256_loadu_si256(
                                     reinterpret_cast<const __m256i*>(a8[t] + 4 * kb0))));
    __m512i acc[T][2];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = bias2048;
#pragma GCC unroll 8
    for (int j = 0; j < kCatChunkKBlocks; ++j) {
      __m512i lo, hi;
      cat_unpack(w + (kb0 + j) * 64, &lo, &hi);
      for (int t = 0; t < T; ++t) {
        int64_t av;
        __builtin_memcpy(&av, a16[t] + 4 * j, 8);
        const __m512i a = _mm512_set1_epi64(av);
        acc[t][0] = _mm512_dpwssd_epi32(acc[t][0], lo, a);
        acc[t][1] = _mm512_dpwssd_epi32(acc[t][1], hi, a);
      }
    }
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < 2; ++i) {
        tot[t][i] = _mm512_add_epi32(tot[t][i], acc[t][i]);
        hsum[t][i] = _mm512_add_epi32(hsum[t][i], _mm512_srai_epi32(acc[t][i], 12));
      }
  }
  const int chunks = kbs / kCatChunkKBlocks;
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < 2; ++i)  // remove the 2048 biases
      tot[t][i] = _mm512_sub_epi32(tot[t][i], _mm512_set1_epi32(2048 * chunks));
    const __m512i h = cat_rows(hsum[t][0], hsum[t][1]);
    const __m512i all = cat_rows(tot[t][0], tot[t][1]);
    const __m512i l =
        _mm512_sub_epi32(_mm512_sub_epi32(all, _mm512_slli_epi32(h, 12)),
                         _mm512_set1_epi32(8 * k.a_sums[rows[t] * k.ld_sums + k.ld_sums - 1]));
    const __m512i out[2] = {l, h};
    for (int hh = 0; hh < 2; ++hh) {
      const int m0 = p * 32 + 16 * hh;
      if (k.acc) {
        store_acc(k, rows[t], m0, 0, out[hh]);
      } else {
        const __m512 sc =
            _mm512_mul_ps(_mm512_loadu_ps(k.w_scales + m0), _mm512_set1_ps(k.a_scales[rows[t]]));
        store_y(k, rows[t], m0, _mm512_cvtepi32_ps(out[hh]), sc);
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
  constexpr int T = 4;
  for (int p = k.panel_begin; p < k.panel_end; ++p)
    for (int t = 0; t < k.n; t += T) cat_rest<T>(k, p, k.a_rows + t, k.n - t < T ? k.n - t : T);
}

// ---- activation quantizer ------------------------------------------------------------------

void act_quant(const float* x, int cols, int cols_pad, int bits, int8_t* q, float* scale,
               int32_t* sums) {
  __m512 m = _mm512_setzero_ps();
  for (int c = 0; c < cols; c += 16) {
    const int left = cols - c;
    const __mmask16 mk = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    m = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(mk, x + c)), m);  // NaN -> keeps m
  }
  const float mx = _mm512_reduce_max_ps(m);
  const float qmax = static_cast<float>((1 << (bits - 1)) - 1);
  const float s = mx > 0.0f ? mx / qmax : 1.0f;
  *scale = s;
  const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-qmax - 1), hi = _mm512_set1_ps(qmax);
  int32_t total = 0;
  for (int c0 = 0; c0 < cols_pad; c0 += 32) {
    __m512i sum = _mm512_setzero_si512();
    for (int c = c0; c < c0 + 32; c += 16) {
      const int left = cols - c;
      const __mmask16 mk =
          left >= 16 ? 0xFFFF : static_cast<__mmask16>(left > 0 ? (1u << left) - 1 : 0);
      __m512 r = _mm512_div_ps(_mm512_maskz_loadu_ps(mk, x + c), vs);
      r = _mm512_roundscale_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __mmask16 ok = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q);
      r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
      const __m512i v = _mm512_maskz_cvtps_epi32(ok, r);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c), _mm512_cvtepi32_epi8(v));
      sum = _mm512_add_epi32(sum, v);
    }
    const int32_t s32 = _mm512_reduce_add_epi32(sum);
    sums[c0 / 32] = s32;
    total += s32;
  }
  sums[cols_pad / 32] = total;
}

}  // namespace

#define HILQ_PC(op, fn, W, A, tile)                                                        \
  {                                                                                        \
#op "_w" #W "a" #A "_" tile "__avx512vnni", kOp##fn, kKindInt, kIsaAvx512, W, A, 0, 0, \
        &op < W, false>, nullptr                                                           \
  }
#define HILQ_G(op, fn, W, A, G, tile)                                                              \
  {                                                                                                \
#op "_w" #W "a" #A "_g" #G "_" tile "__avx512vnni", kOp##fn, kKindInt, kIsaAvx512, W, A, G, 0, \
        &op < W, true>, nullptr                                                                    \
  }
#define HILQ_PAIR(W, A)                                                           \
  HILQ_PC(gemv, Gemv, W, A, "32x1"), HILQ_PC(gemm, Gemm, W, A, "32x8"),           \
      HILQ_G(gemv, Gemv, W, A, 32, "32x1"), HILQ_G(gemm, Gemm, W, A, 32, "32x6"), \
      HILQ_G(gemv, Gemv, W, A, 64, "32x1"), HILQ_G(gemm, Gemm, W, A, 64, "32x6"), \
      HILQ_G(gemv, Gemv, W, A, 128, "32x1"), HILQ_G(gemm, Gemm, W, A, 128, "32x6")

const KernelInfo kAvx512Kernels[] = {
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
    {"gemv_w4a4_32x1cat__avx512vnni", kOpGemv, kKindInt, kIsaAvx512, 4, 4, 0, kVariantConcat,
     &cat_kernel, nullptr},
    {"gemm_w4a4_32x4cat__avx512vnni", kOpGemm, kKindInt, kIsaAvx512, 4, 4, 0, kVariantConcat,
     &cat_kernel, nullptr},
};
#undef HILQ_PAIR
#undef HILQ_G
#undef HILQ_PC

extern const KernelTable kAvx512KernelTable = {
    kAvx512Kernels, sizeof(kAvx512Kernels) / sizeof(kAvx512Kernels[0]), &act_quant, kIsaAvx512};

}  // namespace hilq::kernels
