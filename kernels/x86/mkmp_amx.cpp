// AMX kernels: W{2,3,4,6,8}A{4,8} GEMM per channel and with g32, g64 and g128 group scales on the
// tile unit (16x16 int32 outputs per instruction, K up to 64). The int32 sums equal the VNNI
// kernels' exactly, and the float epilogue is the same operation, so outputs are bit-identical to
// the AVX-512 VNNI path. Compiled with the AVX-512 flags plus -mamx-tile -mamx-int8; see
// kernel_iface.h for why nothing here is shared with baseline code. GEMV and the activation
// quantizer stay on the AVX-512 VNNI path.
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

// The next panel's codes are prefetched into L2, a few lines per step over the current panel, so
// that the next unpack reads them from there: unpacking straight from DRAM stalled for about a
// quarter of the group GEMM's time. The cursor lives in the kernel's locals (a member cursor,
// reloaded around every tile store, made g32 a fifth slower).
int prefetch_lines_per_step(const KernelArgs& k, int64_t steps_per_panel) {
  return static_cast<int>(((k.panel_bytes + 63) / 64 + steps_per_panel - 1) / steps_per_panel);
}
// [next, end) of the panel after p, empty for the last one.
void next_panel_lines(const KernelArgs& k, int p, const char*& next, const char*& end) {
  next = end = nullptr;
  if (p + 1 >= k.panel_end) return;
  next = reinterpret_cast<const char*>(k.w_data + (p + 1) * k.panel_bytes);
  end = next + k.panel_bytes;
}
inline void prefetch_step(const char*& next, const char* end, int lines) {
  for (int i = 0; i < lines && next < end; ++i, next += 64) _mm_prefetch(next, _MM_HINT_T1);
}

// Weights: the panel's codes unpacked once per call into [k-block][slot A | slot B][64] u8, which
// is the tile's VNNI layout (row = k-block, 16 output rows x 4 k), padded with zero codes to whole
// steps (the activations there are zero, so padding adds nothing).
// Activations: 16-token blocks are loaded in place when their rows are consecutive and all
// present; otherwise (token-adaptive groups, the last partial block) they are copied once per call
// into a zero-padded buffer.
template <int B>
void gemm(const KernelArgs& k) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr uint32_t kOff = 1u << (B - 1);
  constexpr int kb_step = 16;  // k-blocks per step
  const int kbs = k.cols_pad / 4;
  const int kbs_pad = (kbs + kb_step - 1) / kb_step * kb_step;
  const int steps = kbs_pad / kb_step;
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
  // -2^(b-1) * sum(a) over the row, the offset of the unsigned codes.
  auto corr_of = [&](int row) {
    const auto total = static_cast<uint32_t>(a_sums[row * ld_sums + ld_sums - 1]);
    return _mm512_set1_epi32(static_cast<int32_t>(0u - kOff * total));
  };
  const int pf_lines = prefetch_lines_per_step(k, int64_t{(blocks + 1) / 2} * steps);
  for (int p = k.panel_begin; p < k.panel_end; ++p) {
    const char *pf, *pf_end;
    next_panel_lines(k, p, pf, pf_end);
    // Per panel: y = fma(acc, w_scale * a_scale, bias) per channel, the VNNI kernels' epilogue.
    __mmask16 mask[2];
    __m512 ws[2], bias[2];
    for (int h = 0; h < 2; ++h) {
      const int m0 = p * 32 + 16 * h;
      mask[h] = row_mask(k, m0);
      ws[h] = _mm512_loadu_ps(k.w_scales + m0);
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
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int s = 0; s < steps; ++s) {
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
        prefetch_step(pf, pf_end, pf_lines);
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
              store_acc(
                  k, rows[t0 + i], p * 32 + 16 * h, 0,
                  _mm512_add_epi32(_mm512_load_si512(out[2 * bb + h][i]), corr_of(rows[t0 + i])));
          continue;
        }
        for (int i = 0; i < cnt; ++i) {
          const int row = rows[t0 + i];
          const __m512i corr = corr_of(row);
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
  }
  _tile_release();
  free(a_meta);
  free(mem);
}

// Group scales (tdpbssd: signed activation codes x signed weight codes). Each group's int32 sums
// must be folded into float (one convert and one FMA per output and group, the VNNI kernels' and
// the reference's order), so the fold, not the tile unit, sets the pace. One 16-token block and one
// 16-row half are done at a time: their 16 float accumulators (one zmm per token) stay in
// registers over all groups, and each group's C tile leaves through a 1 KiB buffer, read back by
// the fold's converts. The weight codes are unpacked once per panel with their offset subtracted
// (u - 2^(b-1) fits int8 for every width), so the tile sums are already the corrected ones: no
// per-group correction. Two C tiles alternate: while the tile unit computes group g + 1, the
// vector units fold group g - 1, whose tile was stored an iteration earlier. (Folding 32 tokens x
// 32 rows through a float buffer in memory, as the per-channel kernel's 2x2 tiles would, stored and
// reloaded every accumulator per group: g32 ran below the VNNI kernel that way.)
template <int G>
void configure_grouped_tiles() {
  constexpr int kd = G < 64 ? G : 64;  // k per tile product: a g32 group is a half-width step
  TileConfig c;
  c.palette = 1;
  for (int t = 0; t < 2; ++t) {  // C: 16 tokens x 16 rows of int32
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  for (int t = 2; t < 4; ++t) {  // A: 16 tokens x kd codes
    c.rows[t] = 16;
    c.colsb[t] = kd;
  }
  for (int t = 4; t < 6; ++t) {  // B: kd / 4 k-blocks x (16 rows x 4 codes)
    c.rows[t] = kd / 4;
    c.colsb[t] = 64;
  }
  _tile_loadconfig(&c);
}

// Group g's products into C tile 0 (A tile 2, B tile 4) or 1 (3, 5). a: the token block's
// activations as kd-wide slices of 16 rows (slice c at a + c * 16 * kd); w: the half's unpacked
// codes, 64 bytes per k-block. Both are contiguous per tile, so each tile load reads whole
// consecutive lines. GCC's tile intrinsics take literal tile numbers.
#define HILQ_GROUP_PRODUCT(C, A, B)                                         \
  template <int G>                                                          \
  inline void group_product_##C(const int8_t* a, const uint8_t* w, int g) { \
    constexpr int kd = G < 64 ? G : 64;                                     \
    _tile_zero(C);                                                          \
    for (int s = 0; s < G / kd; ++s) {                                      \
      const int k0 = g * G + s * kd;                                        \
      _tile_loadd(A, a + k0 * 16, kd);                                      \
      _tile_loadd(B, w + k0 * 16, 64);                                      \
      _tile_dpbssd(C, A, B);                                                \
    }                                                                       \
  }
HILQ_GROUP_PRODUCT(0, 2, 4)
HILQ_GROUP_PRODUCT(1, 3, 5)
#undef HILQ_GROUP_PRODUCT

// Up to `steps` unpack steps (S k-blocks each) of a chunk's codes at src, from k-block kb on,
// into dst's two row halves (half_kbs k-blocks apart), offset removed. The cursor is the caller's
// local (see prefetch_step).
template <int B>
inline void unpack_step(const uint8_t* src, uint8_t* dst, int half_kbs, int& kb, int kbs, int steps,
                        __m512i off) {
  using U = Unpack<B>;
  for (int i = 0; i < steps && kb < kbs; ++i, kb += U::S) {
    __m512i v[2 * U::S];
    U::run(src + kb * 16 * B, v);
    for (int j = 0; j < U::S; ++j) {
      _mm512_store_si512(dst + (kb + j) * 64, _mm512_sub_epi8(v[2 * j], off));
      _mm512_store_si512(dst + (half_kbs + kb + j) * 64, _mm512_sub_epi8(v[2 * j + 1], off));
    }
  }
}

template <int B, int G>
void gemm_grouped(const KernelArgs& k) {
  using U = Unpack<B>;
  constexpr int S = U::S;
  constexpr int kd = G < 64 ? G : 64;
  constexpr uint32_t kOff = 1u << (B - 1);
  // The panel goes in chunks of 512 columns: a chunk's unpacked codes (16 KiB for both halves)
  // stay in L1 while every token block runs over it, and the float accumulators wait in an L1
  // buffer between chunks. (Unpacking a 4,096-column panel at once wrote 128 KiB that only L2
  // held, and every tile load read it back from there.)
  constexpr int chunk_cols = 512;
  constexpr int chunk_kbs = chunk_cols / 4;  // k-blocks per chunk
  static_assert(chunk_cols % G == 0 && chunk_kbs % S == 0, "whole groups and unpack steps");
  const int cols = k.cols_pad;  // a whole number of groups
  const int groups = k.groups;
  const int n = k.n;
  const int blocks = (n + 15) / 16;
  const int32_t* rows = k.a_rows;

  // One allocation: the unpacked chunk [half][k-block][64] (two with unpack_ahead), the
  // accumulators [half][block][16 tokens][16 rows] and the activations [block][slice of kd
  // columns][16 tokens][kd] (zero rows past n). g32 unpacks the next chunk's codes into a second
  // buffer, a few steps per product, while the current chunk runs: the tile unit no longer idles
  // through a whole chunk's unpacking at every chunk start (5-9 % at K = 4096). g64 and g128, with
  // fewer folds per column, were no faster that way, nor was g32 with one chunk per panel (K <=
  // 512: 7-12 % slower); those unpack each chunk after the previous one, into the one buffer.
  const bool unpack_ahead = G == 32 && cols > chunk_cols;
  const size_t w_bytes = (unpack_ahead ? size_t{2} : size_t{1}) * 2 * chunk_kbs * 64;
  const size_t acc_bytes = size_t{2} * blocks * 16 * 64;
  const size_t a_bytes = static_cast<size_t>(blocks) * 16 * cols;
  auto* mem = static_cast<uint8_t*>(aligned_alloc(64, w_bytes + acc_bytes + a_bytes));
  if (!mem) {
    fputs("gemm (amx): out of memory for the unpacked panel and activation blocks\n", stderr);
    abort();
  }
  uint8_t* const wbufs[2] = {mem, unpack_ahead ? mem + w_bytes / 2 : mem};
  auto* accbuf = reinterpret_cast<float*>(mem + w_bytes);
  auto* apack = reinterpret_cast<int8_t*>(mem + w_bytes + acc_bytes);
  // Only a partial last block has padding rows (interleaved with its tokens in every slice).
  if (n % 16)
    memset(apack + static_cast<size_t>(blocks - 1) * 16 * cols, 0, static_cast<size_t>(16) * cols);
  const int slices = cols / kd;
  for (int t = 0; t < n; ++t) {
    const int8_t* src = k.a + rows[t] * k.lda;
    int8_t* dst = apack + static_cast<size_t>(t / 16) * 16 * cols + (t % 16) * kd;
    for (int c = 0; c < slices; ++c) memcpy(dst + c * 16 * kd, src + c * kd, kd);
  }
  configure_grouped_tiles<G>();
  alignas(64) int32_t out[2][16][16];
  const __m512i off = bytes(static_cast<int>(kOff));
  const float* a_scales = k.a_scales;
  float* y = k.y;
  const int64_t ldy = k.ldy;
  const int pf_lines = prefetch_lines_per_step(k, int64_t{2} * blocks * groups);  // per product
  auto chunk_kbs_at = [&](int k0) { return (cols - k0 < chunk_cols ? cols - k0 : chunk_cols) / 4; };
  // One chunk of panel p: every (row half, token block) over its groups. per_product() runs once
  // per tile product (the interleaved unpack, or nothing); pf is the next-panel prefetch cursor.
  auto run_chunk = [&](int p, int k0, const uint8_t* wbuf, const char*& pf, const char* pf_end,
                       auto&& per_product) {
    const int kbs = chunk_kbs_at(k0);
    const int g0 = k0 / G, chunk_groups = kbs * 4 / G;
    const bool first = k0 == 0, last = k0 + chunk_cols >= cols;
    for (int h = 0; h < 2; ++h) {
      const int m0 = p * 32 + 16 * h;
      const uint8_t* w = wbuf + static_cast<size_t>(h) * chunk_kbs * 64;
      const float* gscale = k.w_scales + (int64_t{p} * groups + g0) * 32 + 16 * h;
      for (int b = 0; b < blocks; ++b) {
        const int8_t* a = apack + static_cast<size_t>(b) * 16 * cols + k0 * 16;
        const int t0 = 16 * b;
        const int cnt = n - t0 < 16 ? n - t0 : 16;
        if (k.acc) {  // the test hook: each group's exact sums
          for (int g = 0; g < chunk_groups; ++g) {
            group_product_0<G>(a, w, g);
            _tile_stored(0, out[0], 64);
            for (int i = 0; i < cnt; ++i)
              store_acc(k, rows[t0 + i], m0, g0 + g, _mm512_load_si512(out[0][i]));
          }
          continue;
        }
        float* saved = accbuf + (static_cast<size_t>(h) * blocks + b) * 256;
        __m512 acc[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          acc[i] = first ? _mm512_setzero_ps() : _mm512_load_ps(saved + 16 * i);
        // Per group: empty its tile (its products ran during the last fold), start the next
        // group on the other tiles, and fold the previous group's sums meanwhile (one group
        // later, so that its tile store has left for memory before the loads read it). Two
        // groups per turn, so that the tile numbers are literals.
        auto fold = [&](int tile, int g) {
          const __m512 gs = _mm512_loadu_ps(gscale + g * 32);
#pragma GCC unroll 16
          for (int i = 0; i < 16; ++i)
            acc[i] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(out[tile][i])), gs, acc[i]);
        };
        group_product_0<G>(a, w, 0);
        int g = 0;
        for (; g + 1 < chunk_groups; g += 2) {  // tile 0 holds group g
          _tile_stored(0, out[0], 64);
          group_product_1<G>(a, w, g + 1);
          prefetch_step(pf, pf_end, pf_lines);
          per_product();
          if (g > 0) fold(1, g - 1);
          _tile_stored(1, out[1], 64);
          if (g + 2 < chunk_groups) group_product_0<G>(a, w, g + 2);
          prefetch_step(pf, pf_end, pf_lines);
          per_product();
          fold(0, g);
        }
        if (g < chunk_groups) {  // an odd count: the last group, in tile 0
          _tile_stored(0, out[0], 64);
          if (g > 0) fold(1, g - 1);
          fold(0, g);
        } else {
          fold(1, g - 1);
        }
        if (!last) {
#pragma GCC unroll 16
          for (int i = 0; i < 16; ++i) _mm512_store_ps(saved + 16 * i, acc[i]);
          continue;
        }
        const __mmask16 mask = row_mask(k, m0);
        const __m512 bias = k.bias ? _mm512_maskz_loadu_ps(mask, k.bias + m0) : _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          if (i < cnt) {
            const int row = rows[t0 + i];
            _mm512_mask_storeu_ps(y + row * ldy + m0, mask,
                                  _mm512_fmadd_ps(acc[i], _mm512_set1_ps(a_scales[row]), bias));
          }
      }
    }
  };
  auto unpack_chunk = [&](int p, int k0, uint8_t* dst, int& kb, int steps) {
    unpack_step<B>(k.w_data + p * k.panel_bytes + k0 / 4 * 16 * B, dst, chunk_kbs, kb,
                   chunk_kbs_at(k0), steps, off);
  };
  if (!unpack_ahead) {
    for (int p = k.panel_begin; p < k.panel_end; ++p) {
      const char *pf, *pf_end;
      next_panel_lines(k, p, pf, pf_end);
      for (int k0 = 0; k0 < cols; k0 += chunk_cols) {
        int kb = 0;
        unpack_chunk(p, k0, wbufs[0], kb, chunk_kbs);
        run_chunk(p, k0, wbufs[0], pf, pf_end, [] {});
      }
    }
  } else {
    int kb = 0, cur = 0;
    unpack_chunk(k.panel_begin, 0, wbufs[0], kb, chunk_kbs);
    for (int p = k.panel_begin; p < k.panel_end; ++p) {
      const char *pf, *pf_end;
      next_panel_lines(k, p, pf, pf_end);
      for (int k0 = 0; k0 < cols; k0 += chunk_cols, cur ^= 1) {
        // The chunk after this one, if any: the panel's next or the next panel's first.
        const bool last = k0 + chunk_cols >= cols;
        const int next_p = last ? p + 1 : p, next_k0 = last ? 0 : k0 + chunk_cols;
        const int products = 2 * blocks * (chunk_kbs_at(k0) * 4 / G);
        const int next_kbs = next_p < k.panel_end ? chunk_kbs_at(next_k0) : 0;
        const int steps = (next_kbs / S + products - 1) / products;
        // Spelt out, not through unpack_chunk: sharing that lambda's address code made g32 2-5 %
        // slower (3 alternating rounds), the compiler's choice of registers being that sensitive.
        const uint8_t* next_src = k.w_data + next_p * k.panel_bytes + next_k0 / 4 * 16 * B;
        uint8_t* next_dst = wbufs[cur ^ 1];
        kb = 0;
        run_chunk(p, k0, wbufs[cur], pf, pf_end,
                  [&] { unpack_step<B>(next_src, next_dst, chunk_kbs, kb, next_kbs, steps, off); });
        // Whatever the products did not cover (the test hook, an odd group count).
        unpack_step<B>(next_src, next_dst, chunk_kbs, kb, next_kbs, next_kbs, off);
      }
    }
  }
  _tile_release();
  free(mem);
}

}  // namespace

#define HILQ_AMX(W, A)                                                                           \
  {"gemm_w" #W "a" #A "_32x32__amx", kOpGemm, kKindInt, kIsaAmx, W, A, 0, 0, &gemm<W>, nullptr}, \
      {"gemm_w" #W "a" #A "_g32_32x16__amx",                                                     \
       kOpGemm,                                                                                  \
       kKindInt,                                                                                 \
       kIsaAmx,                                                                                  \
       W,                                                                                        \
       A,                                                                                        \
       32,                                                                                       \
       0,                                                                                        \
       &gemm_grouped<W, 32>,                                                                     \
       nullptr},                                                                                 \
      {"gemm_w" #W "a" #A "_g64_32x16__amx",                                                     \
       kOpGemm,                                                                                  \
       kKindInt,                                                                                 \
       kIsaAmx,                                                                                  \
       W,                                                                                        \
       A,                                                                                        \
       64,                                                                                       \
       0,                                                                                        \
       &gemm_grouped<W, 64>,                                                                     \
       nullptr},                                                                                 \
  {                                                                                              \
    "gemm_w" #W "a" #A "_g128_32x16__amx", kOpGemm, kKindInt, kIsaAmx, W, A, 128, 0,             \
        &gemm_grouped<W, 128>, nullptr                                                           \
  }

const KernelInfo kAmxKernels[] = {
    HILQ_AMX(2, 4), HILQ_AMX(2, 8), HILQ_AMX(3, 4), HILQ_AMX(3, 8), HILQ_AMX(4, 4),
    HILQ_AMX(4, 8), HILQ_AMX(6, 4), HILQ_AMX(6, 8), HILQ_AMX(8, 4), HILQ_AMX(8, 8),
};
#undef HILQ_AMX

extern const KernelTable kAmxKernelTable = {
    kAmxKernels, sizeof(kAmxKernels) / sizeof(kAmxKernels[0]), nullptr, kIsaAmx};

}  // namespace hilq::kernels
