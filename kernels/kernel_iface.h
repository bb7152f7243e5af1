// The plain-C contract between the dispatcher and the kernel files. SIMD files are compiled with
// ISA flags, so they include only this header and intrinsics: no inline functions or templates
// shared with baseline code may be emitted there (the linker could keep the AVX-512 copy).
#pragma once

#include <cstdint>

namespace hilq::kernels {

enum KernelOp : int { kOpGemv = 0, kOpGemm = 1 };
// kVariantTokenPairs: a float kernel that reads FpArgs::x_pairs, never x.
enum KernelVariant : int { kVariantDot = 0, kVariantConcat = 1, kVariantTokenPairs = 2 };
enum KernelKind : int { kKindInt = 0, kKindFp32 = 1, kKindFp16 = 2 };

// One call of an integer kernel: rows a_rows[0..n) of the activation matrix times the panels
// [panel_begin, panel_end) of the packed weights (pack.h), all rows of a_rows having the kernel's
// a_bits. Output row t goes to y + a_rows[t] * ldy (columns = weight rows, only those < rows).
struct KernelArgs {
  const uint8_t* w_data;  // packed codes
  const float* w_scales;  // panel-major scales
  int rows;               // M
  int cols_pad;           // K padded (multiple of 32 and of group)
  int w_bits;
  int group;   // 0 = per channel
  int groups;  // cols_pad / group, or 1
  int64_t panel_bytes;
  const int8_t* a;  // activation codes, row stride lda, zero beyond the real K
  int64_t lda;
  const float* a_scales;  // per activation row
  const int32_t* a_sums;  // per row: sum of codes of each 32 columns, then the total
  int64_t ld_sums;
  const int32_t* a_rows;  // which activation rows
  int n;
  int panel_begin, panel_end;
  float* y;
  int64_t ldy;
  const float* bias;  // [rows] or null
  // Whether the AVX-512 GEMV prefetches its codes ahead of the hardware prefetcher, and where to:
  // L1 paid on Zen 5 and was slower than no prefetch on Zen 4, where L2 was as fast as none; on
  // the Intel guest L2 paid for weights out of cache and cost a quarter for weights already in L2
  // (kernels/README.md).
  bool prefetch_codes;
  bool prefetch_to_l1;
  // Test hook: when not null, the exact int32 accumulators are stored here instead of y, at
  // acc[(a_rows[t] * rows + m) * groups + g].
  int32_t* acc;
};
using IntKernelFn = void (*)(const KernelArgs&);

// Float baselines: y[t][m] = sum_k w[m][k] * x[t][k] (+ bias[m]) for m in [row_begin, row_end).
// w is row-major float (fp32) or IEEE binary16 bits (fp16 storage).
struct FpArgs {
  const void* w;
  int rows, cols;
  const float* x;
  int64_t ldx;
  // For kVariantTokenPairs kernels, x packed by the dispatcher: tokens 2p and 2p + 1 (2p again
  // when n is odd) as 16-float blocks [x[2p][c..c+8) | x[2p+1][c..c+8)], c = 0, 8, ... over K
  // rounded up to 8 (zeros past K); pair p starts at x_pairs + p * 2 * round8(K).
  const float* x_pairs;
  int n;
  const float* bias;
  float* y;
  int64_t ldy;
  int row_begin, row_end;
};
using FpKernelFn = void (*)(const FpArgs&);

struct KernelInfo {
  const char* name;  // <op>_w<W>a<A>[_g<G>]_<tile>__<isa>, see kernels/README.md
  int op;            // KernelOp
  int kind;          // KernelKind
  int isa;           // Isa value (isa.h)
  int w_bits;        // 2..8; 32 / 16 for the float baselines
  int a_bits;        // 4, 8; 32 for the float baselines
  int group;         // 0, 32, 64, 128
  int variant;       // KernelVariant
  IntKernelFn fn;
  FpKernelFn fp_fn;
};

// Quantizes one activation row with the shared quantizer (quantize.h), bit-identically:
// scale = absmax / qmax(bits) (1 for a zero row), q[0..cols_pad) (zeros past cols), sums per 32
// columns and the total (sums[cols_pad / 32]).
using ActQuantFn = void (*)(const float* x, int cols, int cols_pad, int bits, int8_t* q,
                            float* scale, int32_t* sums);

// Each kernel file defines one table (a constant array, no code runs at start-up).
struct KernelTable {
  const KernelInfo* kernels;
  int count;
  ActQuantFn act_quant;  // may be null
  int isa;
};

}  // namespace hilq::kernels
