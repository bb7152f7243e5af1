// The paper's LLaMA-style transformer scaled down: token embedding, L blocks of
// [RMSNorm -> multi-head attention with RoPE -> residual, RMSNorm -> SwiGLU -> residual], final
// RMSNorm, LM head tied to the embedding. A causal decoder (LM) or a bidirectional encoder
// (masked-token pretraining, then mean pooling and a classification head).
//
//   x = E[ids]
//   block l:  h = rmsnorm(x)              -> Aq(qkv.in) -> Wq, Wk, Wv -> rope(q), rope(k)
//             Aq(q.out), Aq(k.out), P = softmax(q k^T / sqrt(dh) + mask), P8 = Q8(P), Aq(v.out)
//             a = P8 v -> Aq(o.in) -> Wo;   x += a
//             h = rmsnorm(x) -> Aq(gate_up.in) -> silu(Wg h) * (Wu h) -> Aq(down.in) -> Wd; x += h
//   hidden = rmsnorm(x); LM logits = hidden E^T; class logits = Wc mean_pool(hidden) + bc
// Aq(point) is the activation quantizer of quant.h; W* are fake-quantized weights when a
// QuantState is given. Parameter names: embed.weight, layers.<l>.{attn_norm,mlp_norm}.weight,
// layers.<l>.attn.{q,k,v,o}.weight, layers.<l>.mlp.{gate,up,down}.weight, final_norm.weight,
// cls_head.{weight,bias} (classifier). Linear weights are (out x in), row-major.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/architecture.h"
#include "qat/autograd.h"
#include "qat/ops.h"
#include "qat/quant.h"

namespace hilq::qat {

using model::ModelKind;

// The model's architecture (model/architecture.h) plus what only training uses.
struct ModelConfig : model::Architecture {
  float dropout = 0.0f;

  // The tiny sizes: vocabulary 4096, d_model 256, 4 layers of 4 heads, d_ff 768, max_seq 128.
  ModelConfig();

  // The architecture's rules, and dropout in [0, 1). Throws ConfigError naming the source and
  // the field.
  void validate(const std::string& source = "model config") const;
  // The architecture's JSON plus "dropout".
  std::string to_json() const;
  // Unknown fields are errors; absent ones keep the defaults above.
  static ModelConfig from_json(const std::string& text, const std::string& source = "model config");
  // Built-in sizes: micro (tests, seconds), tiny (~4.5M parameters), small (~14M).
  static ModelConfig preset(const std::string& name, ModelKind kind, int vocab_size);
};

struct Batch {
  int batch = 0;
  int seq = 0;
  std::vector<int32_t> ids;  // batch * seq
  std::vector<int> lengths;  // real tokens per sequence (classifier padding); empty = all real
};

struct ForwardOptions {
  QuantState* quant = nullptr;  // null: float model
  bool train = false;           // dropout on
  uint64_t dropout_seed = 0;
};

struct ForwardResult {
  Var hidden;                         // final-normed, (batch*seq) x d_model
  std::vector<Var> attn;              // per layer, float probabilities (batch*heads*seq) x seq
  std::vector<Var> q, k;              // per layer, queries/keys after RoPE and quantization
  std::vector<Var> q_float, k_float;  // per layer, the same before quantization
  std::vector<uint8_t> last_mask;     // token-adaptive mask of the last layer (empty if unused)
};

// Eigen sizes its matrix-product blocks from the cache sizes the CPU reports, and the blocking
// sets the order of each dot product's float additions: the same build trained differently on a
// 32 KiB L1 (Zen 4: blocks of K = 768 split at 256) and a 48 KiB one (Zen 5, Xeon: not split).
// Every Transformer pins the sizes to these, once per process, so that a run reproduces bit for
// bit on any machine with the same build. L1 is what the Zen 5 and Xeon guests that trained the
// kept tables report; L2 and L3 (1 vs 2 MiB, 32 vs 320 MiB) did not change the tiny model's blocks.
inline constexpr std::ptrdiff_t kEigenBlockingL1 = 48 * 1024;
inline constexpr std::ptrdiff_t kEigenBlockingL2 = 1024 * 1024;
inline constexpr std::ptrdiff_t kEigenBlockingL3 = 32 * 1024 * 1024;
void pin_eigen_blocking();

class Transformer {
 public:
  Transformer(const ModelConfig& config, uint64_t seed);

  const ModelConfig& config() const { return config_; }
  // Fine-tuning may train with another dropout than the checkpoint it starts from; validated.
  void set_dropout(float p);
  ForwardResult forward(const Batch& batch, const ForwardOptions& opt) const;
  // hidden (n x d) -> vocabulary logits through the tied (possibly quantized) embedding.
  Var lm_logits(const Var& hidden, QuantState* quant, const std::vector<uint8_t>& mask) const;
  // Mean over real tokens, then the classification head: batch x n_classes.
  Var class_logits(const ForwardResult& r, const Batch& batch) const;

  // Parameters in a fixed order (checkpoints, the optimizer, determinism).
  const std::vector<std::pair<std::string, Var>>& named_parameters() const { return params_; }
  Var param(const std::string& name) const;
  // Quant-config unit -> its weight ("layers.0.attn.q" -> layers.0.attn.q.weight, "embed").
  std::map<std::string, Var> unit_weights() const;
  // Copies values from another model with the same parameter names and shapes.
  void copy_from(const Transformer& other);

 private:
  Var add_param(const std::string& name, Mat value);
  ModelConfig config_;
  std::vector<std::pair<std::string, Var>> params_;
  std::map<std::string, Var> by_name_;
};

}  // namespace hilq::qat
