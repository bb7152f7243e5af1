// Multi-head attention over the KV cache, in float on the dequantized values the QAT engine
// attends with (qat/ops_attention.cpp): scores = q.k / sqrt(head_dim), masked softmax, importance
// (Squat: attention to the first token, averaged over heads), then P.V. Quantized Q/K/V are held
// as int8 codes with one scale per token, so q.k is an exact integer dot product times the two
// scales, and the cache stays 4x smaller than float.
#pragma once

#include <cstdint>

#include "kernels/mkmp.h"

namespace hilq::runtime {

// Rows of one tensor (Q of the chunk, or K / V of the whole cache): float, or int8 codes with a
// scale per row; row r of head h starts at r * ld + h * head_dim.
struct AttnRows {
  const float* f = nullptr;
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  int64_t ld = 0;
};

struct AttnShape {
  int n = 0;   // query tokens in the chunk
  int p0 = 0;  // position of the first of them
  int heads = 1;
  int head_dim = 1;
  bool causal = true;  // query p0 + t sees keys [0, p0 + t]; else keys [0, p0 + n)
  int stride = 0;      // floats between consecutive query rows of `probs` per head (>= p0 + n)
  int keys(int t) const { return causal ? p0 + t + 1 : p0 + n; }
};

struct AttnOps;
// The inner loops this context's kernel path uses (HILQ_ISA=ref: the portable ones).
const AttnOps& attn_ops(const kernels::Context& ctx);

// probs[(t * heads + h) * stride + j] for j < keys(t), and score[t] = mean over heads of the
// probability of key 0 (before any probability quantization).
void attention_probs(kernels::Context& ctx, const AttnShape& s, const AttnRows& q,
                     const AttnRows& k, float* probs, float* score);
// Quantizes the probabilities with the fixed 8-bit quantizer (scale 1/127) in place.
void quantize_probs(kernels::Context& ctx, const AttnShape& s, float* probs);
// out[t][h * head_dim + e] = sum_j probs[t][h][j] * v[j][h * head_dim + e] (row stride ldo).
void attention_apply(kernels::Context& ctx, const AttnShape& s, const float* probs,
                     const AttnRows& v, float* out, int64_t ldo);

}  // namespace hilq::runtime
