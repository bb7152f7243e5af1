// Parsing, validation and canonical serialisation of the quant config JSON.
#include "qat/quant_config.h"

#include <nlohmann/json.hpp>
#include <set>

namespace hilq::qat {
namespace {

bool valid_w_bits(int b) { return b == 0 || b == 2 || b == 3 || b == 4 || b == 6 || b == 8; }
bool valid_a_bits(int b) { return b == 0 || b == 4 || b == 8; }
bool valid_group(int g) { return g == 0 || g == 32 || g == 64 || g == 128; }

}  // namespace

UnitQuant QuantConfig::unit(const std::string& name) const {
  auto it = units.find(name);
  return it == units.end() ? UnitQuant{} : it->second;
}

bool QuantConfig::adaptive(const UnitQuant& u) const {
  return token_adaptive && u.a_bits > 0 && u.a_bits == token_adaptive->low_bits &&
         token_adaptive->high_bits > token_adaptive->low_bits;
}

std::vector<std::string> QuantConfig::unit_names(int n_layers) {
  std::vector<std::string> names;
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    for (const char* m :
         {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"}) {
      names.push_back(p + m);
    }
  }
  names.push_back("embed");
  return names;
}

QuantConfig QuantConfig::uniform(int n_layers, int w_bits, int a_bits, int group,
                                 std::optional<TokenAdaptivePolicy> policy) {
  QuantConfig c;
  for (const auto& n : unit_names(n_layers)) {
    if (n != "embed") c.units[n] = UnitQuant{w_bits, a_bits, group};
  }
  c.token_adaptive = policy;
  return c;
}

void QuantConfig::validate(int n_layers, const std::string& source) const {
  const auto names = unit_names(n_layers);
  const std::set<std::string> known(names.begin(), names.end());
  for (const auto& [name, u] : units) {
    const std::string at = source + ": unit " + name;
    if (!known.count(name)) {
      throw ConfigError(at + " does not exist in a " + std::to_string(n_layers) +
                        "-layer model (units are layers.<l>.attn.{q,k,v,o}, "
                        "layers.<l>.mlp.{gate,up,down}, embed)");
    }
    if (!valid_w_bits(u.w_bits)) {
      throw ConfigError(at + ": w_bits " + std::to_string(u.w_bits) +
                        " is not one of 0, 2, 3, 4, 6, 8");
    }
    if (!valid_a_bits(u.a_bits)) {
      throw ConfigError(at + ": a_bits " + std::to_string(u.a_bits) + " is not one of 0, 4, 8");
    }
    if (!valid_group(u.group)) {
      throw ConfigError(at + ": group " + std::to_string(u.group) +
                        " is not one of 0, 32, 64, 128");
    }
    if (name == "embed" && u.group != 0) {
      throw ConfigError(at + ": the embedding is quantized per row (group must be 0)");
    }
  }
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    const int q = unit(p + "attn.q").a_bits;
    if (unit(p + "attn.k").a_bits != q || unit(p + "attn.v").a_bits != q) {
      throw ConfigError(source + ": " + p +
                        "attn.{q,k,v} read one activation and must share a_bits");
    }
    if (unit(p + "mlp.gate").a_bits != unit(p + "mlp.up").a_bits) {
      throw ConfigError(source + ": " + p +
                        "mlp.{gate,up} read one activation and must share a_bits");
    }
  }
  if (token_adaptive) {
    const auto& t = *token_adaptive;
    if (!valid_a_bits(t.high_bits) || !valid_a_bits(t.low_bits) || t.low_bits == 0 ||
        t.high_bits <= t.low_bits) {
      throw ConfigError(source +
                        ": token_adaptive needs high_bits > low_bits, both in {4, 8}; got " +
                        std::to_string(t.high_bits) + "/" + std::to_string(t.low_bits));
    }
    if (!(t.high_fraction >= 0.0 && t.high_fraction <= 1.0)) {
      throw ConfigError(source + ": token_adaptive.high_fraction " +
                        std::to_string(t.high_fraction) + " is not in [0, 1]");
    }
  }
}

std::string QuantConfig::to_json() const {
  nlohmann::json j;  // std::map-backed objects: keys come out sorted
  nlohmann::json us = nlohmann::json::object();
  for (const auto& [name, u] : units) {
    us[name] = {{"a_bits", u.a_bits}, {"group", u.group}, {"w_bits", u.w_bits}};
  }
  j["units"] = std::move(us);
  j["activation_scale"] = act_scale == ActScaleMode::kLsq ? "lsq" : "dynamic";
  if (token_adaptive) {
    j["token_adaptive"] = {{"high_bits", token_adaptive->high_bits},
                           {"low_bits", token_adaptive->low_bits},
                           {"high_fraction", token_adaptive->high_fraction}};
  } else {
    j["token_adaptive"] = nullptr;
  }
  return j.dump();
}

QuantConfig QuantConfig::from_json(const std::string& text, const std::string& source) {
  QuantConfig c;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": not valid JSON: " + e.what());
  }
  auto int_field = [&](const nlohmann::json& o, const char* key, const std::string& where,
                       int fallback) {
    if (!o.contains(key)) return fallback;
    if (!o[key].is_number_integer()) {
      throw ConfigError(source + ": " + where + "." + key + " must be an integer, got " +
                        o[key].dump());
    }
    return o[key].get<int>();
  };
  if (!j.is_object() || !j.contains("units") || !j["units"].is_object()) {
    throw ConfigError(source + ": expected an object with a \"units\" object");
  }
  for (auto it = j["units"].begin(); it != j["units"].end(); ++it) {
    const auto& u = it.value();
    if (!u.is_object()) throw ConfigError(source + ": unit " + it.key() + " is not an object");
    for (auto f = u.begin(); f != u.end(); ++f) {
      if (f.key() != "w_bits" && f.key() != "a_bits" && f.key() != "group") {
        throw ConfigError(source + ": unit " + it.key() + " has unknown field " + f.key());
      }
    }
    c.units[it.key()] =
        UnitQuant{int_field(u, "w_bits", it.key(), 0), int_field(u, "a_bits", it.key(), 0),
                  int_field(u, "group", it.key(), 0)};
  }
  if (j.contains("token_adaptive") && !j["token_adaptive"].is_null()) {
    const auto& t = j["token_adaptive"];
    if (!t.is_object()) throw ConfigError(source + ": token_adaptive must be an object or null");
    TokenAdaptivePolicy p;
    p.high_bits = int_field(t, "high_bits", "token_adaptive", 8);
    p.low_bits = int_field(t, "low_bits", "token_adaptive", 4);
    if (t.contains("high_fraction")) {
      if (!t["high_fraction"].is_number()) {
        throw ConfigError(source + ": token_adaptive.high_fraction must be a number");
      }
      p.high_fraction = t["high_fraction"].get<double>();
    }
    c.token_adaptive = p;
  }
  if (j.contains("activation_scale")) {
    const auto s =
        j["activation_scale"].is_string() ? j["activation_scale"].get<std::string>() : "";
    if (s == "lsq") {
      c.act_scale = ActScaleMode::kLsq;
    } else if (s == "dynamic") {
      c.act_scale = ActScaleMode::kDynamic;
    } else {
      throw ConfigError(source + ": activation_scale " + j["activation_scale"].dump() +
                        " is not \"lsq\" or \"dynamic\"");
    }
  }
  return c;
}

std::string QuantConfig::label() const {
  if (units.empty()) return "FP";
  const UnitQuant first = units.begin()->second;
  for (const auto& [name, u] : units) {
    if (!(u == first) && name != "embed") return "mixed";
  }
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on chained string operator+.
  std::string s = "W";
  s += std::to_string(first.w_bits);
  s += 'A';
  s += std::to_string(first.a_bits);
  if (first.group) {
    s += 'g';
    s += std::to_string(first.group);
  }
  if (adaptive(first)) {
    s += "-TA";
    s += std::to_string(token_adaptive->high_bits);
    s += '/';
    s += std::to_string(token_adaptive->low_bits);
  }
  return s;
}

}  // namespace hilq::qat
