// Activation quantization of the runtime: the shared quantizer's arithmetic (kernels/quantize.h,
// bit for bit) on whole rows, written into the kernels' QuantizedActivations (integer matmuls),
// into int8 codes + one scale per row (Q, K, V and the KV cache), or back to floats (fake
// quantization before a float matmul); and Squat's token-importance decisions
// (doc/token_adaptive.md).
//
//   row t of point p:  bits = p.bits_of(high, t);  scale = learned step of that width group
//                      (p.scale_hi / p.scale_lo) or, for dynamic points, absmax / qmax(bits)
//                      q = clamp(round_half_even(x / scale)),  x_hat = scale * q
#pragma once

#include <cstdint>

#include "kernels/mkmp.h"
#include "runtime/act_quant_ops.h"
#include "runtime/model.h"

namespace hilq::runtime {

// Sizes a QuantizedActivations once for up to rows x cols; later calls with fewer rows or
// columns reuse the storage (no allocation on the decode path).
void reserve_acts(int rows, int cols, kernels::QuantizedActivations* a);
int64_t acts_bytes(const kernels::QuantizedActivations& a);

// Quantizes one row into q[0..cols_pad) (zeros past cols) with `scale`, or with the absmax scale
// when scale <= 0; returns the scale used. sums (optional): per 32 columns, then the total.
float quantize_row(const float* x, int cols, int cols_pad, int bits, float scale, int8_t* q,
                   int32_t* sums);
// The fastest row quantizer of the context's kernel path (same bits as quantize_row).
RowQuantFn row_quantizer(const kernels::Context& ctx);

// Rows x[t][0..cols), t < n (row stride ldx), of point p with token mask `high` (null: all high),
// each through `quant`.
void quantize_rows(const ActQuant& p, const float* x, int n, int cols, int64_t ldx,
                   const uint8_t* high, kernels::QuantizedActivations* a,
                   RowQuantFn quant = &quantize_row);
void quantize_codes(const ActQuant& p, const float* x, int n, int cols, int64_t ldx,
                    const uint8_t* high, int8_t* q, int64_t ldq, float* scales,
                    RowQuantFn quant = &quantize_row);
// y = x_hat (y may equal x).
void fake_quantize(const ActQuant& p, const float* x, int n, int cols, int64_t ldx,
                   const uint8_t* high, float* y, int64_t ldy, RowQuantFn quant = &quantize_row);

// How many of n tokens are high at this fraction: ceil(fraction * n) (as the QAT engine rounds).
int high_count(double fraction, int n);
// Prefill rule of the QAT engine (qat/quant.cpp token_importance_mask): the high_count tokens
// with the largest scores are high, ties going to the earlier token. O(n^2), no allocation.
void top_fraction_mask(const float* score, int n, double fraction, uint8_t* high);
// Decode rule (a project decision, doc/token_adaptive.md): a new token is high when its score is
// at or above the fraction-quantile of the scores seen so far, i.e. with seen[0..n) the
// sequence's scores (the new one included), fewer than high_count(fraction, n) of them exceed
// `score`.
bool decode_high(const float* seen, int n, float score, double fraction);

}  // namespace hilq::runtime
