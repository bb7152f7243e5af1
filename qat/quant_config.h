// The quant config of DESIGN.md §7: per quantizable unit {w_bits, a_bits, group} plus the
// token-adaptive activation policy {high_bits, low_bits, high_fraction}; canonical JSON for
// hashing.
//
// Units of a transformer with L layers (module level of the QSLM hierarchy):
//   layers.<l>.attn.{q,k,v,o}  layers.<l>.mlp.{gate,up,down}  embed (the tied embedding/LM head)
// Bits: weights 2, 3, 4, 6, 8; activations 4 or 8; 0 means "stays float". group 0 = one scale per
// output channel, else 32, 64 or 128 inputs per scale. A unit absent from the config stays float.
// Token-adaptive: a unit whose a_bits equals policy.low_bits (< high_bits) quantizes the top
// high_fraction of tokens (by attention to the first token) with high_bits, the rest with low_bits.
// q, k and v read one activation tensor and so must share a_bits; gate and up likewise.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qat/errors.h"

namespace hilq::qat {

struct UnitQuant {
  int w_bits = 0;
  int a_bits = 0;
  int group = 0;
  bool operator==(const UnitQuant&) const = default;
};

struct TokenAdaptivePolicy {
  int high_bits = 8;
  int low_bits = 4;
  double high_fraction = 0.5;
  bool operator==(const TokenAdaptivePolicy&) const = default;
};

enum class ActScaleMode {
  kLsq,      // learnable per-tensor step per bit-width group (the paper)
  kDynamic,  // per-token absmax, computed at run time (no learned step)
};

struct QuantConfig {
  std::map<std::string, UnitQuant> units;
  std::optional<TokenAdaptivePolicy> token_adaptive;
  ActScaleMode act_scale = ActScaleMode::kLsq;

  // Float for units not listed.
  UnitQuant unit(const std::string& name) const;
  bool empty() const { return units.empty(); }
  // True when the unit's activations use the token-adaptive policy.
  bool adaptive(const UnitQuant& u) const;

  // Every linear of every layer at w_bits/a_bits (embed stays float), optional policy.
  static QuantConfig uniform(int n_layers, int w_bits, int a_bits, int group = 0,
                             std::optional<TokenAdaptivePolicy> policy = std::nullopt);
  // Units of an n-layer model in canonical order.
  static std::vector<std::string> unit_names(int n_layers);

  // Throws ConfigError naming the source, the unit/field, the value and the rule.
  void validate(int n_layers, const std::string& source = "quant config") const;

  // Canonical: sorted keys, no whitespace, every unit with all three fields. Equal configs give
  // equal strings (the hash key of the search's caches).
  std::string to_json() const;
  static QuantConfig from_json(const std::string& text, const std::string& source = "quant config");
  // Short label like "W4A8" or "W4A4-TA8/4" (uniform configs) or "mixed".
  std::string label() const;
};

}  // namespace hilq::qat
