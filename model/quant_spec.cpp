// The quant config's rules, canonical JSON and hash, and the activation points of a layer.
#include "model/quant_spec.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "base/json_reader.h"
#include "model/sha256.h"

namespace hilq::model {
namespace {

// "<source>: unit <name>", the prefix of a unit's errors.
std::string unit_where(const std::string& source, const std::string& name) {
  return source + ": unit " + name;
}

// Units that read one activation tensor (q, k, v; gate, up) must share a_bits.
[[noreturn]] void unshared_a_bits(const std::string& source, const std::string& layer,
                                  const char* units) {
  throw ConfigError(source + ": " + layer + units + " read one activation and must share a_bits");
}

}  // namespace

void check_w_bits(int w_bits, const std::string& where) {
  if (w_bits != 0 && w_bits != 2 && w_bits != 3 && w_bits != 4 && w_bits != 6 && w_bits != 8) {
    throw ConfigError(where + ": w_bits " + std::to_string(w_bits) +
                      " is not one of 0, 2, 3, 4, 6, 8");
  }
}

void check_a_bits(int a_bits, const std::string& where) {
  if (a_bits != 0 && a_bits != 4 && a_bits != 8) {
    throw ConfigError(where + ": a_bits " + std::to_string(a_bits) + " is not one of 0, 4, 8");
  }
}

void check_group(int group, const std::string& where) {
  if (group != 0 && group != 32 && group != 64 && group != 128) {
    throw ConfigError(where + ": group " + std::to_string(group) + " is not one of 0, 32, 64, 128");
  }
}

void check_policy(const TokenAdaptivePolicy& policy, const std::string& where) {
  const TokenAdaptivePolicy& t = policy;
  const auto width = [](int b) { return b == 4 || b == 8; };
  if (!width(t.high_bits) || !width(t.low_bits) || t.high_bits <= t.low_bits) {
    throw ConfigError(where + " needs high_bits > low_bits, both in {4, 8}; got " +
                      std::to_string(t.high_bits) + "/" + std::to_string(t.low_bits));
  }
  if (!(t.high_fraction >= 0.0 && t.high_fraction <= 1.0)) {
    throw ConfigError(where + ".high_fraction " + std::to_string(t.high_fraction) +
                      " is not in [0, 1]");
  }
}

std::vector<std::string> unit_names(int n_layers) {
  std::vector<std::string> names;
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    for (const char* m :
         {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"}) {
      names.emplace_back(p + m);
    }
  }
  names.emplace_back("embed");
  return names;
}

std::vector<ActivationPoint> activation_points(int layer) {
  const std::string p = "layers." + std::to_string(layer) + ".";
  return {{p + "attn.qkv.in", p + "attn.q", true},   {p + "attn.q.out", p + "attn.q", true},
          {p + "attn.k.out", p + "attn.k", true},    {p + "attn.v.out", p + "attn.v", false},
          {p + "attn.o.in", p + "attn.o", false},    {p + "mlp.gate_up.in", p + "mlp.gate", false},
          {p + "mlp.down.in", p + "mlp.down", false}};
}

ActivationPoint head_activation_point() { return {"head.in", "embed", false}; }

UnitSpec QuantSpec::unit(const std::string& name) const {
  auto it = units.find(name);
  return it == units.end() ? UnitSpec{} : it->second;
}

bool QuantSpec::adaptive(const UnitSpec& u) const {
  return token_adaptive && u.a_bits > 0 && u.a_bits == token_adaptive->low_bits &&
         token_adaptive->high_bits > token_adaptive->low_bits;
}

QuantSpec QuantSpec::uniform(int n_layers, int w_bits, int a_bits, int group,
                             std::optional<TokenAdaptivePolicy> policy) {
  QuantSpec s;
  for (const auto& name : unit_names(n_layers)) {
    if (name != "embed") s.units[name] = UnitSpec{w_bits, a_bits, group};
  }
  s.token_adaptive = policy;
  return s;
}

QuantSpec QuantSpec::from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": not valid JSON: " + e.what());
  }
  constexpr int64_t kMin = std::numeric_limits<int>::min(), kMax = std::numeric_limits<int>::max();
  const JsonReader r(j, source);
  r.reject_unknown({"units", "token_adaptive", "activation_scale"});
  const JsonReader units = r.object("units");
  QuantSpec s;
  for (auto it = units.json().begin(); it != units.json().end(); ++it) {
    const JsonReader u = units.object(it.key().c_str());
    u.reject_unknown({"w_bits", "a_bits", "group"});
    s.units[it.key()] = UnitSpec{static_cast<int>(u.integer_or("w_bits", 0, kMin, kMax)),
                                 static_cast<int>(u.integer_or("a_bits", 0, kMin, kMax)),
                                 static_cast<int>(u.integer_or("group", 0, kMin, kMax))};
  }
  if (r.has("token_adaptive") && !j["token_adaptive"].is_null()) {
    const JsonReader t = r.object("token_adaptive");
    TokenAdaptivePolicy a;
    a.high_bits = static_cast<int>(t.integer_or("high_bits", 8, kMin, kMax));
    a.low_bits = static_cast<int>(t.integer_or("low_bits", 4, kMin, kMax));
    a.high_fraction = t.number_or("high_fraction", a.high_fraction);
    s.token_adaptive = a;
  }
  if (r.has("activation_scale")) {
    const std::string m = r.string("activation_scale");
    if (m != "lsq" && m != "dynamic") r.fail("activation_scale", "must be \"lsq\" or \"dynamic\"");
    s.act_scale = m == "dynamic" ? ActScaleMode::kDynamic : ActScaleMode::kLsq;
  }
  return s;
}

void QuantSpec::validate(int n_layers, const std::string& source) const {
  const auto names = unit_names(n_layers);
  const std::set<std::string> known(names.begin(), names.end());
  for (const auto& [name, u] : units) {
    const std::string at = unit_where(source, name);
    if (!known.contains(name)) {
      throw ConfigError(at + " does not exist in a " + std::to_string(n_layers) +
                        "-layer model (units are layers.<l>.attn.{q,k,v,o}, "
                        "layers.<l>.mlp.{gate,up,down}, embed)");
    }
    check_w_bits(u.w_bits, at);
    check_a_bits(u.a_bits, at);
    check_group(u.group, at);
    if (name == "embed" && u.group != 0) {
      throw ConfigError(at + ": the embedding is quantized per row (group must be 0)");
    }
  }
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    const int q = unit(p + "attn.q").a_bits;
    if (unit(p + "attn.k").a_bits != q || unit(p + "attn.v").a_bits != q) {
      unshared_a_bits(source, p, "attn.{q,k,v}");
    }
    if (unit(p + "mlp.gate").a_bits != unit(p + "mlp.up").a_bits) {
      unshared_a_bits(source, p, "mlp.{gate,up}");
    }
  }
  if (token_adaptive) check_policy(*token_adaptive, source + ": token_adaptive");
}

std::string QuantSpec::to_json() const {
  nlohmann::json j;  // std::map-backed objects: keys come out sorted
  nlohmann::json us = nlohmann::json::object();
  for (const auto& [name, u] : units) {
    us[name] = {{"a_bits", u.a_bits}, {"group", u.group}, {"w_bits", u.w_bits}};
  }
  j["units"] = std::move(us);
  j["activation_scale"] = dynamic() ? "dynamic" : "lsq";
  if (token_adaptive) {
    j["token_adaptive"] = {{"high_bits", token_adaptive->high_bits},
                           {"low_bits", token_adaptive->low_bits},
                           {"high_fraction", token_adaptive->high_fraction}};
  } else {
    j["token_adaptive"] = nullptr;
  }
  return j.dump();
}

std::string QuantSpec::hash() const { return sha256_hex(to_json()); }

}  // namespace hilq::model
