// Differentiable operations of the autograd (qat/autograd.h): what a small transformer, its
// losses and its distillation need. Every op has a finite-difference check in tests/qat/.
//
// Shapes: activations are (batch*seq) x features, row r = token (r % seq) of sequence (r / seq).
// Multi-head tensors keep heads side by side in the columns: (batch*seq) x (heads*head_dim), head h
// in columns [h*head_dim, (h+1)*head_dim). Attention maps are (batch*heads*seq) x seq, the map of
// (b, h) in rows [(b*heads + h)*seq, ... + seq).
#pragma once

#include <cstdint>
#include <vector>

#include "qat/autograd.h"

namespace hilq::qat {

struct AttnShape {
  int batch = 1;
  int seq = 1;
  int heads = 1;
  int head_dim = 1;
};

// Which keys a query may attend to: causal (key <= query) and/or the first lengths[b] tokens of
// sequence b (padding mask; empty = every token is real).
struct AttnMask {
  bool causal = false;
  std::vector<int> lengths;
  bool allowed(int b, int query, int key) const {
    if (causal && key > query) return false;
    return lengths.empty() || key < lengths[static_cast<size_t>(b)];
  }
};

// --- linear algebra and broadcasting ---
Var matmul(const Var& a, const Var& b);     // a (m x k) * b (k x n)
Var linear(const Var& x, const Var& w);     // x (m x k) * w^T, w is (n x k) (out x in)
Var add(const Var& a, const Var& b);        // same shapes
Var sub(const Var& a, const Var& b);        // same shapes
Var mul(const Var& a, const Var& b);        // elementwise, same shapes
Var add_row(const Var& a, const Var& row);  // a (m x n) + row (1 x n) broadcast over rows
Var mul_row(const Var& a, const Var& row);  // a (m x n) .* row (1 x n) broadcast over rows
Var scale(const Var& a, float s);           // s * a
Var add_scalar(const Var& a, float s);      // a + s

// --- elementwise nonlinearities ---
Var silu(const Var& x);
Var gelu(const Var& x);  // tanh approximation
Var log_op(const Var& x);
Var log1p_op(const Var& x);

// --- reductions ---
Var sum(const Var& x);   // 1x1
Var mean(const Var& x);  // 1x1

// --- normalisation ---
Var rms_norm(const Var& x, const Var& gain, float eps);  // gain 1 x n
Var layer_norm(const Var& x, const Var& gain, const Var& bias, float eps);

// --- probabilities and losses (mean over rows unless said) ---
Var softmax_rows(const Var& x);
// Mean cross-entropy of softmax(logits) against targets; rows with target < 0 are ignored.
Var cross_entropy(const Var& logits, const std::vector<int32_t>& targets);
// Mean over rows of KL(softmax(teacher/tau) || softmax(student/tau)); the teacher is constant.
Var kl_divergence(const Mat& teacher_logits, const Var& student_logits, float tau);
// Mean over rows of the entropy of softmax(logits).
Var entropy(const Var& logits);

// --- embedding and dropout ---
// Rows ids[i] of table (vocab x d); backward scatter-adds into the table.
Var embedding(const Var& table, const std::vector<int32_t>& ids);
// Inverted dropout with a counter-based generator keyed by seed: same seed, same mask.
Var dropout(const Var& x, float p, uint64_t seed);

// --- attention ---
// scores = scale * Q K^T per (batch, head): (batch*heads*seq) x seq.
Var attention_scores(const Var& q, const Var& k, const AttnShape& s, float scale);
// Row softmax over the allowed keys; disallowed entries are exactly 0.
Var masked_softmax(const Var& scores, const AttnShape& s, const AttnMask& mask);
// out = P V per (batch, head), heads side by side: (batch*seq) x (heads*head_dim).
Var attention_apply(const Var& probs, const Var& v, const AttnShape& s);
// Rotary position embedding on interleaved pairs (x[2i], x[2i+1]) of each head, position
// (row % seq) + offset, frequency theta^(-2i/head_dim).
Var rope(const Var& x, const AttnShape& s, float theta, int offset = 0);
// Variance of each head's entries over all rows: 1 x heads.
Var head_variance(const Var& x, const AttnShape& s);
// Variance of each token's head vector over head_dim, unbiased (divisor head_dim - 1, as
// torch.var): (batch*seq) x heads, entry (r, h) from row r's columns of head h. head_dim >= 2.
Var token_variance(const Var& x, const AttnShape& s);
// Mean over (batch, head) of the cosine similarity between the flattened maps of student and
// teacher, counting only the rows of real (unpadded) query tokens.
Var attention_cosine(const Var& student, const Mat& teacher, const AttnShape& s,
                     const AttnMask& mask);
// Mean of the first lengths[b] rows of each sequence: batch x d.
Var mean_pool(const Var& x, int batch, int seq, const std::vector<int>& lengths);

// Splitmix64: the counter-based generator used for dropout, masking and sampling.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// Uniform in [0, 1) from a 64-bit hash.
inline float unit_float(uint64_t h) { return static_cast<float>(h >> 40) * (1.0f / 16777216.0f); }

}  // namespace hilq::qat
