// One inference stream over a loaded Model: prefill of a prompt, token-by-token decode with a KV
// cache, and the classifier's forward. Every linear runs through kernels::matmul at its
// configured bits (or the FP32 / FP16-storage baselines); norms, RoPE, softmax and residuals are
// float, exactly in the order of the QAT engine's fake-quantized forward (qat/model.cpp).
//
//   chunk of n tokens at positions p0..p0+n-1, per layer l:
//     h = rmsnorm(x);  [q|k|v] = W_qkv Aq(qkv.in, prev)      prev = layer l-1's decisions
//     rope(q, k);  q, k -> Aq(q.out / k.out, prev) -> int8 codes (K into the cache)
//     P = softmax(q k^T / sqrt(dh));  score[t] = mean_h P[t][h][0]
//     decide cur (1 = high bits): from position 0, the top ceil(f n) scores (the QAT rule);
//       later tokens one by one with the decode rule (act_quant.h decode_high)
//     V -> Aq(v.out, cur) into the cache;  P8 = Q8(P) when v.out is quantized;  a = P8 V
//     x += W_o Aq(o.in, cur) a;  h = rmsnorm(x);  m = silu(W_g h') * (W_u h'), h' = Aq(gate_up.in,
//     cur) x += W_d Aq(down.in, cur) m
//   logits = Aq(head.in) rmsnorm(x) E^T;  classifier: softmax(W_c mean_t rmsnorm(x) + b_c)
//
// All buffers are sized at construction (one arena, the KV cache, the activation buffers); decode
// allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/mkmp.h"
#include "runtime/act_quant_ops.h"
#include "runtime/model.h"

namespace hilq::runtime {

struct SessionOptions {
  // Tokens the KV cache holds; 0: the model's max_seq. Larger values run RoPE past the training
  // length (fine for latency measurements, not for quality).
  int max_context = 0;
  // Most tokens per forward (prefill chunk); 0: min(max_context, max_seq). A prompt longer than
  // this is prefilled in chunks; chunks after the first decide token bits with the decode rule.
  int max_chunk = 0;
  // Reserve logits for every token of a chunk (prefill(ids, true)); else only the last one.
  bool all_logits = false;
};

struct MemoryUse {
  int64_t weight_bytes = 0;    // the model's weights as held for compute
  int64_t kv_cache_bytes = 0;  // K and V of every layer for max_context tokens
  int64_t arena_bytes = 0;     // activations, scratch, RoPE table, token statistics
};

class Session {
 public:
  Session(const Model& model, kernels::Context& ctx, const SessionOptions& options = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Model& model() const { return model_; }
  int position() const { return pos_; }
  int max_context() const { return max_context_; }
  int max_chunk() const { return max_chunk_; }
  // Forgets the cached tokens (no allocation).
  void reset();

  // Causal LM: appends the tokens to the cache; returns the logits of the last token [vocab], or
  // of every token [n][vocab] when all_logits (needs SessionOptions::all_logits and n <=
  // max_chunk). Throws RuntimeError on a bad id, a full cache or the wrong model kind.
  std::span<const float> prefill(std::span<const int32_t> ids, bool all_logits = false);
  // One token; the logits of it [vocab]. Valid until the next call.
  std::span<const float> decode(int32_t id);

  // Classifier: one bidirectional forward of a sequence (at most max_chunk tokens, the cache is
  // reset first); class probabilities [n_classes]. class_logits() holds the logits.
  std::span<const float> classify(std::span<const int32_t> ids);
  std::span<const float> class_logits() const { return {cls_logits_, cls_count()}; }

  // Token-adaptive state of cached token t: layer l's decision (true = high bits) and score.
  bool token_high(int layer, int t) const;
  float token_score(int layer, int t) const;
  // Test hook: the next forwards take layer l's decisions for position p from masks[l][p]
  // instead of the rules (an empty argument switches the rules back on).
  void force_masks(std::vector<std::vector<uint8_t>> masks) { forced_ = std::move(masks); }

  MemoryUse memory() const;
  // Distinct kernels that ran in this session, in first-use order.
  const std::vector<std::string>& kernels() const { return kernels_; }
  std::string kernels_joined() const;  // '+'-joined (the format of Context::last_kernel)

 private:
  struct Cache {  // one layer's K or V
    float* f = nullptr;
    int8_t* q = nullptr;
    float* scale = nullptr;
  };
  struct LinearIo {
    const float* x;
    int64_t ldx;
    int cols;
    float* y;
    int64_t ldy;
  };

  void carve(uint8_t* base, size_t* total, bool need_fq);
  void check_ids(std::span<const int32_t> ids) const;
  void forward(const int32_t* ids, int n, bool causal, int logits_rows);
  void layer_forward(int l, int n);
  void decide(int l, int n);
  void linears(const std::vector<const Linear*>& parts, const ActQuant& point, const uint8_t* high,
               int n, const LinearIo& io);
  void embed_rows(const int32_t* ids, int n);
  void note_kernel();
  size_t cls_count() const;

  const Model& model_;
  kernels::Context& ctx_;
  RowQuantFn quant_;  // activation rows (act_quant.h row_quantizer)
  int max_context_ = 0, max_chunk_ = 0, logits_cap_ = 1;
  int pos_ = 0, p0_ = 0;
  bool causal_ = true;
  int64_t kv_bytes_ = 0;

  kernels::AlignedBuffer<uint8_t> arena_;
  kernels::QuantizedActivations qa_d_, qa_ff_;
  float *x_ = nullptr, *h_ = nullptr, *qkv_ = nullptr, *att_ = nullptr, *gu_ = nullptr;
  float *out_ = nullptr, *fq_ = nullptr, *probs_ = nullptr, *score_ = nullptr;
  float *logits_ = nullptr, *rope_cos_ = nullptr, *rope_sin_ = nullptr;
  float *pooled_ = nullptr, *cls_logits_ = nullptr, *cls_probs_ = nullptr;
  int8_t* qcodes_ = nullptr;
  float* qscales_ = nullptr;
  float* scores_ = nullptr;  // [layers][max_context]
  uint8_t* high_ = nullptr;  // [layers][max_context]
  std::vector<Cache> k_cache_, v_cache_;
  kernels::AlignedBuffer<uint8_t> kv_;
  std::vector<std::vector<uint8_t>> forced_;
  std::vector<std::string> kernels_;
  struct Parts {  // per layer, built once so that forwards allocate nothing
    std::vector<const Linear*> qkv, o, gate_up, down;
  };
  std::vector<Parts> parts_;
  std::vector<const Linear*> head_;
};

}  // namespace hilq::runtime
