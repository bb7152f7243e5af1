// The quant config: which bits each quantizable unit of a model uses, read by the runtime and
// written by qat; its canonical JSON is stored in model files and hashed as a cache key.
//
// Glossary
//   unit        a quantizable weight: layers.<l>.attn.{q,k,v,o}, layers.<l>.mlp.{gate,up,down},
//               embed (the tied embedding / LM head); a unit absent from a config stays float
//   w_bits      weight width: 2, 3, 4, 6 or 8; 0 = float
//   a_bits      width of the unit's input activations: 4 or 8; 0 = float
//   group       inputs per weight scale: 32, 64 or 128; 0 = one scale per output row
//   policy      token-adaptive activations: a unit whose a_bits equals low_bits (< high_bits)
//               quantizes the top high_fraction of tokens (by attention to the first token) with
//               high_bits and the rest with low_bits; layer 0 runs all at high_bits
//   scale mode  lsq (a learned step per point and width) or dynamic (per-token absmax at run time)
//   point       an activation quantization point, e.g. layers.1.attn.qkv.in; it reads the a_bits
//               of one unit; q, k and v read one activation and so share a_bits, gate and up too
//
// JSON (keys sorted, no whitespace; every unit with all three fields):
//   {"activation_scale":"lsq"|"dynamic","token_adaptive":null|{"high_bits":8,"high_fraction":0.5,
//    "low_bits":4},"units":{"<unit>":{"a_bits":8,"group":0,"w_bits":4},...}}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hilq::model {

// Units of an n-layer model in canonical order: layers.<l>.attn.{q,k,v,o},
// layers.<l>.mlp.{gate,up,down} for every layer, then embed.
std::vector<std::string> unit_names(int n_layers);

struct UnitSpec {
  int w_bits = 0;  // 0: float
  int a_bits = 0;  // 0: float
  int group = 0;
  bool operator==(const UnitSpec&) const = default;
};

struct TokenAdaptivePolicy {
  int high_bits = 8;
  int low_bits = 4;
  double high_fraction = 0.5;
  bool operator==(const TokenAdaptivePolicy&) const = default;
};

enum class ActScaleMode {
  kLsq,      // learnable per-tensor step per width group (needs training or calibration)
  kDynamic,  // per-token absmax, computed at run time (no learned step)
};

struct QuantSpec {
  std::map<std::string, UnitSpec> units;  // absent units stay float
  std::optional<TokenAdaptivePolicy> token_adaptive;
  ActScaleMode act_scale = ActScaleMode::kLsq;

  // The unit's spec; float for units not listed.
  UnitSpec unit(const std::string& name) const;
  // The unit's activations use the token-adaptive policy.
  bool adaptive(const UnitSpec& u) const;
  bool empty() const { return units.empty(); }
  bool dynamic() const { return act_scale == ActScaleMode::kDynamic; }
  bool operator==(const QuantSpec&) const = default;

  // Every linear of every layer at {w_bits, a_bits, group} (the embedding stays float), with an
  // optional policy and learned (lsq) activation scales.
  static QuantSpec uniform(int n_layers, int w_bits, int a_bits, int group = 0,
                           std::optional<TokenAdaptivePolicy> policy = std::nullopt);

  // Checks units against an n-layer model: names, widths, groups, shared q/k/v and gate/up
  // a_bits, the policy. Throws ConfigError naming `source`, the unit or field, the value and rule.
  void validate(int n_layers, const std::string& source = "quant config") const;

  // Canonical JSON (above): equal configs give equal strings.
  std::string to_json() const;
  // SHA-256 (64 hex digits) of to_json(): the key of caches and artifacts.
  std::string hash() const;
  // Reads the JSON; absent fields take the defaults above, unknown ones are errors. Throws
  // ConfigError naming `source`, the field, the value and the rule (does not validate widths).
  static QuantSpec from_json(const std::string& text, const std::string& source = "quant config");
};

// Width rules shared by QuantSpec::validate and Setting::parse; each throws ConfigError starting
// with `where` and naming the value and the allowed ones.
void check_w_bits(int w_bits, const std::string& where);
void check_a_bits(int a_bits, const std::string& where);
void check_group(int group, const std::string& where);
void check_policy(const TokenAdaptivePolicy& policy, const std::string& where);

// One activation quantization point of a layer.
struct ActivationPoint {
  std::string name;  // "layers.<l>.attn.qkv.in", ...
  std::string unit;  // the unit whose a_bits it uses, "layers.<l>.attn.q"
  // Token groups follow the previous layer's attention map (qkv.in, q.out, k.out), else this
  // layer's (v.out, o.in, gate_up.in, down.in).
  bool prev_mask = false;
};

// The points of layer l in forward order: attn.{qkv.in, q.out, k.out, v.out, o.in},
// mlp.{gate_up.in, down.in}.
std::vector<ActivationPoint> activation_points(int layer);
// The LM head's input "head.in": reads the a_bits of unit embed, never token-adaptive.
ActivationPoint head_activation_point();

}  // namespace hilq::model
