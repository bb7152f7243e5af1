// The quant config's rules, canonical JSON and hash, and the activation points of a layer.
#include "model/quant_spec.h"

#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "model/sha256.h"

namespace hilq::model {
namespace {

int int_field(const nlohmann::json& o, const char* key, const std::string& where, int fallback) {
  if (!o.contains(key)) return fallback;
  if (!o[key].is_number_integer()) {
    throw ConfigError(where + "." + key + " must be an integer, got " + o[key].dump());
  }
  return o[key].get<int>();
}

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
  if (!j.is_object() || !j.contains("units") || !j["units"].is_object()) {
    throw ConfigError(source + ": expected an object with a \"units\" object");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "units" && it.key() != "token_adaptive" && it.key() != "activation_scale") {
      throw ConfigError(source + ": unknown field " + it.key());
    }
  }
  QuantSpec s;
  for (auto it = j["units"].begin(); it != j["units"].end(); ++it) {
    const auto& u = it.value();
    const std::string where = source + ": unit " + it.key();
    if (!u.is_object()) throw ConfigError(where + " is not an object");
    for (auto f = u.begin(); f != u.end(); ++f) {
      if (f.key() != "w_bits" && f.key() != "a_bits" && f.key() != "group") {
        throw ConfigError(where + " has unknown field " + f.key());
      }
    }
    s.units[it.key()] = UnitSpec{int_field(u, "w_bits", where, 0), int_field(u, "a_bits", where, 0),
                                 int_field(u, "group", where, 0)};
  }
  if (j.contains("token_adaptive") && !j["token_adaptive"].is_null()) {
    const auto& t = j["token_adaptive"];
    const std::string where = source + ": token_adaptive";
    if (!t.is_object()) throw ConfigError(where + " must be an object or null");
    TokenAdaptivePolicy a;
    a.high_bits = int_field(t, "high_bits", where, 8);
    a.low_bits = int_field(t, "low_bits", where, 4);
    if (t.contains("high_fraction")) {
      if (!t["high_fraction"].is_number()) {
        throw ConfigError(where + ".high_fraction must be a number, got " +
                          t["high_fraction"].dump());
      }
      a.high_fraction = t["high_fraction"].get<double>();
    }
    s.token_adaptive = a;
  }
  if (j.contains("activation_scale")) {
    const auto& v = j["activation_scale"];
    const std::string m = v.is_string() ? v.get<std::string>() : "";
    if (m != "lsq" && m != "dynamic") {
      throw ConfigError(source + ": activation_scale " + v.dump() +
                        " is not \"lsq\" or \"dynamic\"");
    }
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
