// A setting: what a user names on a command line and what a report row shows. One grammar
// (Setting::parse) and one label (Setting::label, quant_label) for every binary and report.
//
// Glossary
//   FP32        the model with float weights and activations (packed weights dequantized)
//   FP16        the same with the weights stored as fp16
//   as-stored   the model file as it is: a packed file runs its own quant config
//   W<w>A<a>[g<group>][-TA<high>/<low>[@<fraction>]][-E<bits>]
//               a uniform quantized setting: every linear at w-bit weights and a-bit activations
//               (fp: float, so W4Afp is weight-only), weight groups of <group> inputs,
//               token-adaptive activations (a equals low; fraction defaults to 0.5), and the
//               embedding / LM head at <bits>-bit per-row weights (else float), reading the
//               final norm as int8 (float when the linears' activations are float: Afp)
//   label       the canonical text of a setting: Setting::parse(s.label()) == s
//   examples    FP16, W8A8, W4A8g32, W4A4-TA8/4, W8A4-TA8/4@0.25, W4A8-E8
#pragma once

#include <optional>
#include <string>

#include "model/quant_spec.h"

namespace hilq::model {

enum class SettingKind { kFp32, kFp16, kAsStored, kQuantized };

// The input width of a quantized head (-E<bits>) under linears of a_bits: 8, so that A4 linears
// keep an int8 LM head input (the logits are the most sensitive matmul); 0 (float) when the
// linears read float.
constexpr int head_a_bits(int linear_a_bits) { return linear_a_bits ? 8 : 0; }

class Setting {
 public:
  Setting() = default;  // FP32

  // Throws ConfigError naming the text, and the grammar or the rule it breaks.
  static Setting parse(const std::string& text);
  static Setting fp32() { return Setting(); }
  static Setting fp16();
  static Setting as_stored();
  // A uniform quantized setting (every linear at `linear`); validated like parse().
  static Setting quantized(const UnitSpec& linear,
                           std::optional<TokenAdaptivePolicy> policy = std::nullopt,
                           int embed_bits = 0);
  // The setting a quant config of an n-layer model is uniform in: FP32 when nothing is quantized;
  // nullopt when units differ, a linear is missing, or the embedding is not
  // {bits, head_a_bits(a_bits), 0}.
  // A policy that applies to no unit is not part of it; neither is the scale mode.
  static std::optional<Setting> of(const QuantSpec& spec, int n_layers);

  SettingKind kind() const { return kind_; }
  bool is_baseline() const { return kind_ == SettingKind::kFp32 || kind_ == SettingKind::kFp16; }
  bool is_quantized() const { return kind_ == SettingKind::kQuantized; }
  // Quantized settings only (float otherwise).
  const UnitSpec& linear() const { return linear_; }
  const std::optional<TokenAdaptivePolicy>& token_adaptive() const { return policy_; }
  int embed_bits() const { return embed_bits_; }

  // "FP32", "FP16", "as-stored", "W4A8", "W4A4-TA8/4@0.25", "W4A8-E8", ...
  std::string label() const;
  // The quant config of an n-layer model: empty for FP32 and FP16 (FP16 is a storage choice).
  // Dynamic scales by default: quantize-on-load has no learned steps; QAT asks for kLsq.
  // Throws ConfigError for as-stored, which names the model file's own config.
  QuantSpec to_quant_spec(int n_layers, ActScaleMode scale = ActScaleMode::kDynamic) const;

  bool operator==(const Setting&) const = default;

 private:
  SettingKind kind_ = SettingKind::kFp32;
  UnitSpec linear_;
  std::optional<TokenAdaptivePolicy> policy_;
  int embed_bits_ = 0;
};

// The label of any quant config of an n-layer model: the label of Setting::of(spec) ("FP32" when
// nothing is quantized, "W4A8-E8" with a quantized embedding, ...), or "mixed".
std::string quant_label(const QuantSpec& spec, int n_layers);

}  // namespace hilq::model
