// AMX kernels: W{2,3,4,6,8}A{4,8} GEMM per channel, g64 and g128 on the tile unit (tdpbsud: signed
// activation codes x unsigned weight codes, 16x16 int32 outputs per instruction, K = 64 per step).
// The int32 sums equal the VNNI kernels' exactly (same offset correction), and the float epilogue
// is the same operation, so outputs are bit-identical to the AVX-512 VNNI path. Compiled with the
// AVX-512 flags plus -mamx-tile -mamx-int8; see kernel_iface.h for why nothing here is shared with
// baseline code. GEMV, g32 and the activation quantizer stay on the AVX-512 VNNI path.
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <stdio.h>  // NOLINT(modernize-deprecated-headers)
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): aligned_alloc without <cstdlib>'s inlines
#include <string.h>  // NOLINT(modernize-deprecated-headers)

#include "kernels/kernel_iface.h"
#include "kernels/x86/avx512_common.h"

namespace hilq::kernels {
namespace {

constexpr int kIsaAmx = 4;  // Isa::kAmx

// Tile roles (the intrinsics take literal tile numbers): C[2 token blocks][2 row halves] in tiles
// 0-3, the two token blocks' activations in 4-5, the panel's two 16-row slots in 6-7. Every tile
// is 16 rows of 64 bytes.

struct alignas(64) TileConfig {
  uint8_t palette = 0;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// A tiles hold 16 tokens x 64 codes, B tiles 16 k-blocks x 64 codes, C tiles 16 x 16 int32.
void configure_tiles() {
  TileConfig c;
  c.palette = 1;
  for (int i = 0; i < 8; ++i) {
    c.rows[i] = 16;
    c.colsb[i] = 64;
  }
  _tile_loadconfig(&c);
}

// Weights: the panel's codes unpacked once per call into [k-block][slot A | slot B][64] u8, which
// is the tile's VNNI layout (row = k-block, 16 output rows x 4 k), padded with zero codes to whole
// steps (the activations there are zero, so padding adds nothing).
// Group scales: each group's int32 sums leave the C tiles through memory and are folded into float
// accumulators [32 tokens][32 rows] with one convert and one FMA, group by group, then
// y = fma(facc, a_scale, bias): the VNNI kernels' (and the reference's) operation order.
// Activations: 16-token blocks are loaded in place when their rows are consecutive and all
// present; otherwise (token-adaptive groups, the last partial block) they are copied once per call
// into a zero-padded buffer.
template <int B, bool kGrouped>
void gemm(const KernelArgs& k) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr uint32_t kOff = 1u << (B - 1);
  constexpr int kb_step = 16;  // k-blocks per step: a whole g64 group, half a g128 one
  const int kbs = k.cols_pad / 4;
  const int kbs_pad = (kbs + kb_step - 1) / kb_step * kb_step;
  const int steps = kbs_pad / kb_step;
  const int steps_per_group = kGrouped ? k.group / 4 / kb_step : steps;
  const int64_t ka = int64_t{kbs_pad} * 4;  // row length of a copied activation block
  const int blocks = (k.n + 15) / 16;

  // A 16-token block loads in place when it is full and its rows are consecutive.
  auto in_place = [&](int b) {
    const int32_t* r = k.a_rows + 16 * b;
    bool direct = k.n - 16 * b >= 16;
    for (int i = 1; direct && i < 16; ++i) direct = r[i] == r[0] + i;
    return direct;
  };
  int copied = 0;
  for (int b = 0; b < blocks; ++b) copied += !in_place(b);
  const size_t w_bytes = static_cast<size_t>(kbs_pad) * 128;
  const size_t a_bytes = static_cast<size_t>(copied) * 16 * ka;
  auto* mem = static_cast<uint8_t*>(aligned_alloc(64, w_bytes + a_bytes));
  uint8_t* wbuf = mem;
  auto* abuf = reinterpret_cast<int8_t*>(mem + w_bytes);
  memset(wbuf + static_cast<size_t>(kbs) * 128, 0, static_cast<size_t>(kbs_pad - kbs) * 128);

  // Per block: where its activation tile starts and its row stride.
  constexpr int kMaxBlocksOnStack = 64;
  const int8_t* a_ptr_stack[kMaxBlocksOnStack];
  int64_t a_ld_stack[kMaxBlocksOnStack];
  const int8_t** a_ptr = a_ptr_stack;
  int64_t* a_ld = a_ld_stack;
  void* a_meta = nullptr;
  if (blocks > kMaxBlocksOnStack) {
    a_meta = malloc(static_cast<size_t>(blocks) * (sizeof(int8_t*) + sizeof(int64_t)));
    a_ptr = static_cast<const int8_t**>(a_meta);
    a_ld = reinterpret_cast<int64_t*>(a_ptr + blocks);
  }
  if (!mem || (blocks > kMaxBlocksOnStack && !a_meta)) {
    fputs("gemm (amx): out of memory for the unpacked panel and activation blocks\n", stderr);
    abort();
  }
  int8_t* next = abuf;
  for (int b = 0; b < blocks; ++b) {
    const int32_t* r = k.a_rows + 16 * b;
    const int cnt = k.n - 16 * b < 16 ? k.n - 16 * b : 16;
    if (in_place(b)) {
      a_ptr[b] = k.a + r[0] * k.lda;
      a_ld[b] = k.lda;
      continue;
    }
    memset(next, 0, static_cast<size_t>(16) * ka);
    for (int i = 0; i < cnt; ++i) memcpy(next + i * ka, k.a + r[i] * k.lda, k.cols_pad);
    a_ptr[b] = next;
    a_ld[b] = ka;
    next += 16 * ka;
  }

  configure_tiles();
  alignas(64) int32_t out[4][16][16];
  // Locals, so that the output stores cannot be taken to alias the arguments.
  const int n = k.n;
  const int32_t* rows = k.a_rows;
  const float* a_scales = k.a_scales;
  const int32_t* a_sums = k.a_sums;
  const int64_t ld_sums = k.ld_sums;
  float* y = k.y;
  const int64_t ldy = k.ldy;
  const int groups = k.groups;
  const int sums_per_group = k.group / 32;
  // -2^(b-1) * sum(a) over group g (or the row), the offset of the unsigned codes.
  auto corr_of = [&](int row, int g) {
    const int32_t* s = a_sums + row * ld_sums;
    uint32_t total = 0;
    if (kGrouped) {
      for (int j = 0; j < sums_per_group; ++j)
        total += static_cast<uint32_t>(s[g * sums_per_group + j]);
    } else {
      total = static_cast<uint32_t>(s[ld_sums - 1]);
    }
    return _mm512_set1_epi32(static_cast<int32_t>(0u - kOff * total));
  };
  alignas(64) float facc[kGrouped ? 32 : 1][2][16];
  for (int p = k.panel_begin; p < k.panel_end; ++p) {
    // Per panel: y = fma(acc, w_scale * a_scale, bias) per channel, the VNNI kernels' epilogue.
    __mmask16 mask[2];
    __m512 ws[2], bias[2];
    for (int h = 0; h < 2; ++h) {
      const int m0 = p * 32 + 16 * h;
      mask[h] = row_mask(k, m0);
      ws[h] = kGrouped ? _mm512_setzero_ps() : _mm512_loadu_ps(k.w_scales + m0);
      bias[h] = k.bias ? _mm512_maskz_loadu_ps(mask[h], k.bias + m0) : _mm512_setzero_ps();
    }
    const uint8_t* src = k.w_data + p * k.panel_bytes;
    for (int kb = 0; kb < kbs; kb += S) {
      __m512i v[2 * S];
      U::run(src + kb * 16 * B, v);
      for (int j = 0; j < S; ++j) {
        _mm512_store_si512(wbuf + (kb + j) * 128, v[2 * j]);
        _mm512_store_si512(wbuf + (kb + j) * 128 + 64, v[2 * j + 1]);
      }
    }
    for (int b = 0; b < blocks; b += 2) {
      const bool two = b + 1 < blocks;
      const int8_t* a0 = a_ptr[b];
      const int8_t* a1 = two ? a_ptr[b + 1] : a0;
      const int64_t ld0 = a_ld[b], ld1 = two ? a_ld[b + 1] : ld0;
      for (int g = 0; g < groups; ++g) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int s = g * steps_per_group; s < (g + 1) * steps_per_group; ++s) {
          _tile_loadd(6, wbuf + s * kb_step * 128, 128);
          _tile_loadd(7, wbuf + s * kb_step * 128 + 64, 128);
          _tile_loadd(4, a0 + s * kb_step * 4, ld0);
          _tile_dpbsud(0, 4, 6);
          _tile_dpbsud(1, 4, 7);
          if (two) {
            _tile_loadd(5, a1 + s * kb_step * 4, ld1);
            _tile_dpbsud(2, 5, 6);
            _tile_dpbsud(3, 5, 7);
          }
        }
        _tile_stored(0, out[0], 64);
        _tile_stored(1, out[1], 64);
        if (two) {
          _tile_stored(2, out[2], 64);
          _tile_stored(3, out[3], 64);
        }
        for (int bb = 0; bb < (two ? 2 : 1); ++bb) {
          const int t0 = 16 * (b + bb);
          const int cnt = n - t0 < 16 ? n - t0 : 16;
          if (k.acc) {
            for (int i = 0; i < cnt; ++i)
              for (int h = 0; h < 2; ++h)
                store_acc(k, rows[t0 + i], p * 32 + 16 * h, g,
                          _mm512_add_epi32(_mm512_load_si512(out[2 * bb + h][i]),
                                           corr_of(rows[t0 + i], g)));
            continue;
          }
          if constexpr (kGrouped) {
            __m512 gs[2];
            for (int h = 0; h < 2; ++h)
              gs[h] = _mm512_loadu_ps(k.w_scales + (int64_t{p} * groups + g) * 32 + 16 * h);
            for (int i = 0; i < cnt; ++i) {
              const __m512i corr = corr_of(rows[t0 + i], g);
              for (int h = 0; h < 2; ++h) {
                const __m512i s = _mm512_add_epi32(_mm512_load_si512(out[2 * bb + h][i]), corr);
                float* f = facc[16 * bb + i][h];
                _mm512_store_ps(f, _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), gs[h],
                                                   g ? _mm512_load_ps(f) : _mm512_setzero_ps()));
              }
            }
            continue;
          }
          for (int i = 0; i < cnt; ++i) {
            const int row = rows[t0 + i];
            const __m512i corr = corr_of(row, 0);
            const __m512 as = _mm512_set1_ps(a_scales[row]);
            float* yr = y + row * ldy + p * 32;
            for (int h = 0; h < 2; ++h) {
              const __m512i s = _mm512_add_epi32(_mm512_load_si512(out[2 * bb + h][i]), corr);
              _mm512_mask_storeu_ps(
                  yr + 16 * h, mask[h],
                  _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws[h], as), bias[h]));
            }
          }
        }
      }
      if (!kGrouped || k.acc) continue;
      for (int i = 0; i < (two ? 32 : 16) && 16 * b + i < n; ++i) {
        const int row = rows[16 * b + i];
        const __m512 as = _mm512_set1_ps(a_scales[row]);
        float* yr = y + row * ldy + p * 32;
        for (int h = 0; h < 2; ++h)
          _mm512_mask_storeu_ps(yr + 16 * h, mask[h],
                                _mm512_fmadd_ps(_mm512_load_ps(facc[i][h]), as, bias[h]));
      }
    }
  }
  _tile_release();
  free(a_meta);
  free(mem);
}

}  // namespace

// g32 stays on AVX-512 VNNI: with a half-width step per group (tiles of K = 32) and its C tiles
// stored and folded every 32 k, the AMX kernel was slower than VNNI (kernels/README.md).
#define HILQ_AMX(W, A)                                                               \
  {"gemm_w" #W "a" #A "_32x32__amx",                                                 \
   kOpGemm,                                                                          \
   kKindInt,                                                                         \
   kIsaAmx,                                                                          \
   W,                                                                                \
   A,                                                                                \
   0,                                                                                \
   0,                                                                                \
   &gemm<W, false>,                                                                  \
   nullptr},                                                                         \
      {"gemm_w" #W "a" #A "_g64_32x32__amx",                                         \
       kOpGemm,                                                                      \
       kKindInt,                                                                     \
       kIsaAmx,                                                                      \
       W,                                                                            \
       A,                                                                            \
       64,                                                                           \
       0,                                                                            \
       &gemm<W, true>,                                                               \
       nullptr},                                                                     \
  {                                                                                  \
    "gemm_w" #W "a" #A "_g128_32x32__amx", kOpGemm, kKindInt, kIsaAmx, W, A, 128, 0, \
        &gemm<W, true>, nullptr                                                      \
  }

const KernelInfo kAmxKernels[] = {
    HILQ_AMX(2, 4), HILQ_AMX(2, 8), HILQ_AMX(3, 4), HILQ_AMX(3, 8), HILQ_AMX(4, 4),
    HILQ_AMX(4, 8), HILQ_AMX(6, 4), HILQ_AMX(6, 8), HILQ_AMX(8, 4), HILQ_AMX(8, 8),
};
#undef HILQ_AMX

extern const KernelTable kAmxKernelTable = {
    kAmxKernels, sizeof(kAmxKernels) / sizeof(kAmxKernels[0]), nullptr, kIsaAmx};

}  // namespace hilq::kernels
