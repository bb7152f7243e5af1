// The search space of the tiered search: a weight width per unit (the embedding / LM head, and
// every linear of every block) and an activation mode per block, mapped onto the one QuantSpec
// every other folder speaks (model/quant_spec.h).
//
// Glossary
//   unit      a quantizable weight: embed, layers.<l>.attn.{q,k,v,o}, layers.<l>.mlp.{gate,up,down}
//   block     "embed" (the tied embedding and head: a quarter of the tiny LM's weights) or
//             "layers.<l>" (its seven linears and its activation mode)
//   act mode  a block's linear inputs: A8, A4 with the 8/4 token-adaptive policy (TA), or plain
//             A4. The quant config has one policy, in which a_bits 4 means 8/4, so a config
//             mixing TA and plain A4 blocks is not representable (representable() says why)
//   ladder    the widths a tier steps down (or up) one at a time: weights 8, 6, 4, 3, 2;
//             activations A8, TA, A4
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/quant_spec.h"

namespace hilq::search {

// Weight widths from high to low.
const std::vector<int>& weight_ladder();
// The next lower / higher width of the ladder, or nullopt at its end.
std::optional<int> lower_width(int w_bits);
std::optional<int> higher_width(int w_bits);

enum class ActMode { kA8, kTa, kA4 };
const char* act_mode_name(ActMode m);  // "A8", "TA8/4", "A4"
std::optional<ActMode> lower_act(ActMode m);

struct SpaceOptions {
  int n_layers = 0;
  int group = 0;               // weight group of every linear (0: per channel); embed is per row
  double high_fraction = 0.5;  // the token-adaptive policy's fraction of 8-bit tokens
};

// A point of the space: every unit's width and every block's activation mode.
struct Point {
  std::map<std::string, int> w_bits;  // every unit of unit_names(n_layers)
  std::vector<ActMode> act;           // per layer

  bool operator==(const Point&) const = default;
  bool operator<(const Point& o) const {
    return w_bits != o.w_bits ? w_bits < o.w_bits : act < o.act;
  }
};

// Deterministic on every platform (splitmix64): the baselines' random numbers.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [0, n) (n > 0; the modulo bias is below 2^-50 for the spaces here).
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  double uniform();  // [0, 1)

 private:
  uint64_t state_;
};

// A point drawn uniformly over the representable points of the space (every unit's width and
// every block's mode uniform; draws mixing TA8/4 and plain A4 are drawn again).
Point random_point(const SpaceOptions& space, SplitMix64& rng);

// Every unit at w_bits, every block at act.
Point uniform_point(const SpaceOptions& space, int w_bits, ActMode act);
// Empty when the point maps to a quant config; else why not.
std::string unrepresentable_reason(const Point& p);
// The quant config (dynamic per-token activation scales; the head reads 8-bit input). Throws
// ConfigError when unrepresentable.
model::QuantSpec to_spec(const SpaceOptions& space, const Point& p);
// Short text for reports: "embed W4; linears W3x20 W4x8; A8x3 TA8/4x1" (or "W4A8-E4" when
// uniform).
std::string point_label(const SpaceOptions& space, const Point& p);

// The units of a block ("embed" or "layers.<l>").
std::vector<std::string> block_units(const std::string& block, int n_layers);
std::vector<std::string> blocks(int n_layers);
// "layers.2.mlp.down" -> "layers.2"; "embed" -> "embed".
std::string block_of(const std::string& unit);
// "layers.2" -> 2 (-1 for embed).
int block_layer(const std::string& block);

}  // namespace hilq::search
