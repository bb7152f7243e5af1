// Parsing, validation and canonical serialisation of the quant config JSON.
#include "qat/quant_config.h"

#include <nlohmann/json.hpp>

#include "model/quant_spec.h"

namespace hilq::qat {

UnitQuant QuantConfig::unit(const std::string& name) const {
  auto it = units.find(name);
  return it == units.end() ? UnitQuant{} : it->second;
}

bool QuantConfig::adaptive(const UnitQuant& u) const {
  return token_adaptive && u.a_bits > 0 && u.a_bits == token_adaptive->low_bits &&
         token_adaptive->high_bits > token_adaptive->low_bits;
}

std::vector<std::string> QuantConfig::unit_names(int n_layers) {
  return model::unit_names(n_layers);  // one list of units for training and the runtime
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
  // One set of rules for training and the runtime: the runtime's, on the same fields.
  model::QuantSpec spec;
  for (const auto& [name, u] : units) spec.units[name] = {u.w_bits, u.a_bits, u.group};
  if (token_adaptive) {
    spec.token_adaptive = model::AdaptiveSpec{token_adaptive->high_bits, token_adaptive->low_bits,
                                                token_adaptive->high_fraction};
  }
  spec.dynamic = act_scale == ActScaleMode::kDynamic;
  spec.validate(n_layers, source);
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
