// A loaded model for the on-device runtime: the packed model file (model/model_file.h, as written
// by qat/export.cpp), validated and turned into kernel-ready weights and activation quantizers.
//
// Glossary
//   point     an activation quantization point (model/quant_spec.h activation_points), e.g.
//             "layers.1.attn.qkv.in"; it has a width (bits), optional token-adaptive low width,
//             and a learned per-tensor scale per width group (or per-token absmax, "dynamic")
//   mask      which tokens of a point get the high width: "prev" points (qkv.in, q.out, k.out)
//             follow the previous layer's attention map, "cur" points (v.out, o.in, gate_up.in,
//             down.in) this layer's; layer 0 is all high (Squat)
//   part      one linear inside a fused matmul: q|k|v share one input point and, when their
//             formats agree, one packed matrix [3d x d]; gate|up likewise [2ff x d]
//   baseline  WeightsMode::kFp32 / kFp16: the same model with float weights (packed ones
//             dequantized) and float activations, the FP counterparts a speed-up is measured
//             against
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/aligned.h"
#include "kernels/pack.h"
#include "model/architecture.h"
#include "model/model_file.h"
#include "model/setting.h"

namespace hilq::runtime {

// Errors of the runtime: the project's error family (base/error.h); messages name the file, tensor
// or field, the value and the rule broken. ModelError: a model file that is corrupt, truncated, of
// another version or inconsistent. ConfigError: options or a quant config the runtime cannot
// honour.
using RuntimeError = hilq::Error;
using ModelError = hilq::ModelError;
using ConfigError = hilq::ConfigError;

constexpr const char* kPackedFormat = "hilq.packed.v1";
constexpr const char* kCheckpointFormat = "hilq.checkpoint.v1";

// The model's architecture (model/architecture.h) under the names the runtime's code uses.
using model::Architecture;
using model::ModelKind;

enum class WeightFormat { kPacked, kFp32, kFp16 };
const char* weight_format_name(WeightFormat f);  // "packed", "fp32", "fp16"

// Weights of one matmul (possibly several fused parts stacked by rows), row-major [rows][cols].
struct Linear {
  int rows = 0;
  int cols = 0;
  WeightFormat format = WeightFormat::kFp32;
  int w_bits = 0;  // packed width; 0 for float
  int group = 0;
  kernels::PackedWeights packed;
  kernels::AlignedBuffer<float> f32;
  kernels::AlignedBuffer<uint16_t> f16;

  int64_t bytes() const;
};

// One activation quantization point.
struct ActQuant {
  int bits = 0;          // 0: float; else the width (the high width when token-adaptive)
  int low_bits = 0;      // > 0: token-adaptive, tokens outside the mask use this width
  bool dynamic = false;  // per-token absmax scales instead of the learned ones
  float scale_hi = 0.0f, scale_lo = 0.0f;
  bool prev_mask = false;  // decided by the previous layer's map (else this layer's)

  bool quantized() const { return bits > 0; }
  bool adaptive() const { return low_bits > 0; }
  // Width of a token: high[t] != 0 (or no mask, or a non-adaptive point) -> bits.
  int bits_of(const uint8_t* high, int t) const {
    return low_bits && high && !high[t] ? low_bits : bits;
  }
};

struct Layer {
  std::vector<float> attn_norm, mlp_norm;
  // q|k|v: one fused matmul (qkv.size() == 1, [3d x d]) or three; gate|up likewise.
  std::vector<Linear> qkv, gate_up;
  Linear o, down;
  ActQuant qkv_in, q_out, k_out, v_out, o_in, gate_up_in, down_in;
  bool probs_quantized = false;  // attention probabilities through the fixed 8-bit quantizer
};

struct TokenPolicy {
  bool any_adaptive = false;
  double high_fraction = 1.0;
  int high_bits = 8, low_bits = 4;
};

enum class WeightsMode { kAsStored, kFp32, kFp16 };
// "as-stored" | "fp32" | "fp16"; throws ConfigError otherwise.
WeightsMode weights_mode_from_name(const std::string& name);

struct LoadOptions {
  WeightsMode weights = WeightsMode::kAsStored;
  // Optional quant config JSON (model/quant_spec.h). For a float model file: quantize on
  // load (absmax weight scales, dynamic per-token activation scales), so a latency measurement of
  // any candidate needs only the FP artifact. For a packed file: must equal the file's config.
  std::string quant_config;
  // Check metadata "data_sha256" when the file carries it. Off: the data is not hashed at all
  // (data_sha256() is the metadata's), for a caller that verified the whole file already.
  bool verify_hash = true;
  // Fuse q|k|v and gate|up into one matmul each when their formats agree.
  bool fuse = true;
  // Hold the float weights a quantized model keeps (embedding / LM head, weight-only or float
  // units) in fp16 storage: half their bytes, at the cost of fp16 rounding the QAT engine does
  // not simulate. Labels get "-F16". Off by default (exact agreement with training).
  bool float_fp16 = false;
  // Or a setting (model/setting.h), resolved against the file's layer count: a quantized one is
  // quantized on load from a float file, and a packed file's label must equal it; FP32 and FP16
  // load the float baselines (as `weights` does); as-stored changes nothing.
  std::optional<model::Setting> setting;
};

class Model {
 public:
  // Reads and validates a model file; throws ModelError (file problems) or ConfigError.
  static Model load(const std::string& path, const LoadOptions& options = {});
  static Model from_file(const model::ModelFile& file, const LoadOptions& options,
                         const std::string& source);

  const Architecture& arch() const { return arch_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const Linear& embed() const { return embed_; }
  const ActQuant& head_in() const { return head_in_; }
  const std::vector<float>& final_norm() const { return final_norm_; }
  const Linear& cls_head() const { return cls_head_; }
  const std::vector<float>& cls_bias() const { return cls_bias_; }
  const TokenPolicy& policy() const { return policy_; }

  // "FP32", "FP16", "W4A8", "W4A4-TA8/4", "mixed", ... (what ran, for reports).
  const std::string& label() const { return label_; }
  const std::string& format() const { return format_; }          // the file's format string
  const std::string& vocabulary() const { return vocabulary_; }  // tokenizer JSON, may be empty
  // Classifier: the name of each class (metadata "labels"); empty when the file names none.
  const std::vector<std::string>& class_labels() const { return class_labels_; }
  const std::string& quant_config() const { return quant_config_; }
  // SHA-256 (hex) of the file's tensor data section, computed at load.
  const std::string& data_sha256() const { return data_sha256_; }
  bool hash_verified() const { return hash_verified_; }

  // Bytes of all weights as held for compute (packed codes + scales, float tensors).
  int64_t weight_bytes() const;
  // Bytes the model would occupy as a file in its current form (weights + header estimate).
  int64_t file_bytes() const { return file_bytes_; }

 private:
  friend class ModelBuilder;
  Architecture arch_;
  std::vector<Layer> layers_;
  Linear embed_;
  ActQuant head_in_;
  std::vector<float> final_norm_;
  Linear cls_head_;
  std::vector<float> cls_bias_;
  TokenPolicy policy_;
  std::string label_, format_, vocabulary_, quant_config_, data_sha256_;
  std::vector<std::string> class_labels_;
  bool hash_verified_ = false;
  int64_t file_bytes_ = 0;
};

}  // namespace hilq::runtime
