// The quant config JSON of DESIGN.md §7 as the runtime reads it (the writer is
// qat/quant_config.cpp; the runtime cannot link qat, so it parses the same canonical form):
//   {"units": {"<unit>": {"w_bits", "a_bits", "group"}}, "activation_scale": "lsq"|"dynamic",
//    "token_adaptive": null | {"high_bits", "low_bits", "high_fraction"}}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hilq::model {

// Quant-config units of an n-layer model in canonical order: layers.<l>.attn.{q,k,v,o},
// layers.<l>.mlp.{gate,up,down} for every layer, then embed (the tied embedding/LM head).
std::vector<std::string> unit_names(int n_layers);

struct UnitSpec {
  int w_bits = 0;  // 0: float
  int a_bits = 0;  // 0: float
  int group = 0;
  bool operator==(const UnitSpec&) const = default;
};

struct AdaptiveSpec {
  int high_bits = 8;
  int low_bits = 4;
  double high_fraction = 0.5;
  bool operator==(const AdaptiveSpec&) const = default;
};

struct QuantSpec {
  std::map<std::string, UnitSpec> units;  // absent units stay float
  std::optional<AdaptiveSpec> token_adaptive;
  bool dynamic = false;  // activation_scale "dynamic"

  UnitSpec unit(const std::string& name) const;
  // The unit's activations use the token-adaptive policy (qat/quant_config.h: a_bits equals the
  // policy's low width, which is below the high width).
  bool adaptive(const UnitSpec& u) const;
  bool empty() const { return units.empty(); }
  bool operator==(const QuantSpec&) const = default;

  // Throws ConfigError naming `source`, the unit or field, the value and the rule.
  static QuantSpec parse(const std::string& json, const std::string& source);
  // A uniform config of an n-layer model from a setting name, the inverse of label():
  // W<w>A<a>[g<group>][-TA<high>/<low>[@fraction]] (every linear, embedding float, dynamic
  // activation scales). Throws ConfigError naming the setting and the grammar.
  static QuantSpec from_setting(const std::string& setting, int n_layers);
  // Canonical JSON (sorted keys), the form qat/quant_config.cpp writes.
  std::string to_json() const;
  // Checks units against an n-layer model (names, widths, shared q/k/v and gate/up a_bits).
  void validate(int n_layers, const std::string& source) const;
  // Short label of an n-layer model's config: "W4A8", "W8A8g32", "W4A4-TA8/4", "W4A8-E8"
  // (embedding quantized too), "mixed"; "FP32" when nothing is quantized.
  std::string label(int n_layers) const;
};

}  // namespace hilq::model
