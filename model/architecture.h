// The architecture of a hilq model, one for the trainer (qat) and the runtime: a LLaMA-style
// transformer scaled down, and its JSON (model file metadata "architecture", model config files).
//
// Glossary
//   kind        causal_lm: decoder, LM head tied to the embedding; classifier: bidirectional
//               encoder, mean pooling over real tokens, a head of n_classes logits
//   d_model     width of the residual stream; n_heads split it into heads of head_dim (even:
//               RoPE rotates pairs)
//   d_ff        hidden width of the SwiGLU MLP
//   max_seq     longest sequence (RoPE positions, KV cache)
//   norm_eps    RMSNorm epsilon;  rope_theta  RoPE base
//
// JSON (sorted keys): {"d_ff","d_model","ffn":"swiglu","kind","max_seq","n_classes","n_heads",
//   "n_layers","name","norm":"rmsnorm","norm_eps","pooling":"mean","rope":"interleaved",
//   "rope_theta","tied_embeddings":true,"vocab_size"}; the descriptive fields (ffn, norm, pooling,
//   rope, tied_embeddings) must have these values when present. "dropout", a training setting qat
//   keeps in the same object, is accepted and ignored here.
#pragma once

#include <cstdint>
#include <string>

namespace hilq::model {

enum class ModelKind { kCausalLm, kClassifier };
const char* kind_name(ModelKind kind);  // "causal_lm" | "classifier"

struct Architecture {
  std::string name = "custom";  // a preset (micro, tiny, small) or custom
  ModelKind kind = ModelKind::kCausalLm;
  int vocab_size = 0;
  int d_model = 0;
  int n_layers = 0;
  int n_heads = 0;
  int d_ff = 0;
  int max_seq = 0;
  int n_classes = 2;  // classifier only
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;

  int head_dim() const { return d_model / n_heads; }
  // Trainable parameters (tied embedding counted once; the classifier head for classifiers).
  int64_t parameter_count() const;

  // Throws ConfigError naming `source`, the field, its value and the rule.
  void validate(const std::string& source = "architecture") const;
  std::string to_json() const;
  // A model file's architecture: kind and every size field are required.
  static Architecture from_json(const std::string& text, const std::string& source);
  // A model config file: absent fields keep the values of `defaults`.
  static Architecture from_json(const std::string& text, const std::string& source,
                                const Architecture& defaults);
};

}  // namespace hilq::model
