// The tiered search's space (see space.h).
#include "search/space.h"

#include <algorithm>
#include <functional>

#include "base/error.h"
#include "model/setting.h"

namespace hilq::search {

const std::vector<int>& weight_ladder() {
  static const std::vector<int> ladder = {8, 6, 4, 3, 2};
  return ladder;
}

std::optional<int> lower_width(int w_bits) {
  const auto& l = weight_ladder();
  const auto it = std::find(l.begin(), l.end(), w_bits);
  if (it == l.end() || it + 1 == l.end()) return std::nullopt;
  return *(it + 1);
}

std::optional<int> higher_width(int w_bits) {
  const auto& l = weight_ladder();
  const auto it = std::find(l.begin(), l.end(), w_bits);
  if (it == l.end() || it == l.begin()) return std::nullopt;
  return *(it - 1);
}

const char* act_mode_name(ActMode m) {
  switch (m) {
    case ActMode::kA8:
      return "A8";
    case ActMode::kTa:
      return "TA8/4";
    case ActMode::kA4:
      return "A4";
  }
  return "?";
}

std::optional<ActMode> lower_act(ActMode m) {
  if (m == ActMode::kA8) return ActMode::kTa;
  if (m == ActMode::kTa) return ActMode::kA4;
  return std::nullopt;
}

std::vector<std::string> blocks(int n_layers) {
  std::vector<std::string> out = {"embed"};
  for (int l = 0; l < n_layers; ++l) out.push_back("layers." + std::to_string(l));
  return out;
}

std::vector<std::string> block_units(const std::string& block, int n_layers) {
  if (block == "embed") return {"embed"};
  std::vector<std::string> out;
  for (const auto& u : model::unit_names(n_layers))
    if (u.rfind(block + ".", 0) == 0) out.push_back(u);
  return out;
}

std::string block_of(const std::string& unit) {
  if (unit == "embed") return unit;
  const size_t second = unit.find('.', unit.find('.') + 1);
  return unit.substr(0, second);
}

int block_layer(const std::string& block) {
  return block == "embed" ? -1 : std::stoi(block.substr(block.find('.') + 1));
}

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

Point random_point(const SpaceOptions& space, SplitMix64& rng) {
  const auto units = model::unit_names(space.n_layers);
  static constexpr ActMode kModes[] = {ActMode::kA8, ActMode::kTa, ActMode::kA4};
  Point p;
  p.act.resize(static_cast<size_t>(space.n_layers));
  do {
    for (const auto& u : units) p.w_bits[u] = weight_ladder()[rng.below(weight_ladder().size())];
    for (ActMode& m : p.act) m = kModes[rng.below(3)];
  } while (!unrepresentable_reason(p).empty());
  return p;
}

Point uniform_point(const SpaceOptions& space, int w_bits, ActMode act) {
  Point p;
  for (const auto& u : model::unit_names(space.n_layers)) p.w_bits[u] = w_bits;
  p.act.assign(static_cast<size_t>(space.n_layers), act);
  return p;
}

std::string unrepresentable_reason(const Point& p) {
  const bool ta = std::find(p.act.begin(), p.act.end(), ActMode::kTa) != p.act.end();
  const bool a4 = std::find(p.act.begin(), p.act.end(), ActMode::kA4) != p.act.end();
  if (ta && a4)
    return "mixes token-adaptive 8/4 and plain A4 blocks: the quant config has one policy, in "
           "which a_bits 4 means 8/4";
  return {};
}

model::QuantSpec to_spec(const SpaceOptions& space, const Point& p) {
  if (const std::string why = unrepresentable_reason(p); !why.empty())
    throw ConfigError("search point " + point_label(space, p) + " " + why);
  model::QuantSpec spec;
  spec.act_scale = model::ActScaleMode::kDynamic;
  bool any_ta = false;
  for (const auto& [unit, w] : p.w_bits) {
    model::UnitSpec u;
    u.w_bits = w;
    if (unit == "embed") {
      u.a_bits = 8;
    } else {
      const ActMode m = p.act.at(static_cast<size_t>(block_layer(block_of(unit))));
      u.a_bits = m == ActMode::kA8 ? 8 : 4;
      u.group = space.group;
      any_ta = any_ta || m == ActMode::kTa;
    }
    spec.units[unit] = u;
  }
  if (any_ta) spec.token_adaptive = model::TokenAdaptivePolicy{8, 4, space.high_fraction};
  spec.validate(space.n_layers, "search point");
  return spec;
}

std::string point_label(const SpaceOptions& space, const Point& p) {
  if (unrepresentable_reason(p).empty()) {
    const auto spec = to_spec(space, p);
    // Uniform points read as settings; the head reads 8-bit input, as -E<bits> says for A8.
    std::string label = model::quant_label(spec, space.n_layers);
    if (label != "mixed") return label;
  }
  std::map<int, int, std::greater<>> linears;  // widths high to low
  for (const auto& [unit, w] : p.w_bits)
    if (unit != "embed") ++linears[w];
  std::map<ActMode, int> acts;
  for (const ActMode m : p.act) ++acts[m];
  std::string out = "embed W" + std::to_string(p.w_bits.at("embed")) + "; linears";
  for (const auto& [w, n] : linears) out += " W" + std::to_string(w) + "x" + std::to_string(n);
  out += ";";
  for (const auto& [m, n] : acts)
    out += std::string(" ") + act_mode_name(m) + "x" + std::to_string(n);
  return out;
}

}  // namespace hilq::search
