// Parsing and validation of the quant config JSON (same rules as qat/quant_config.cpp).
#include "model/quant_spec.h"

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "base/error.h"

namespace hilq::model {
namespace {

bool valid_w_bits(int b) { return b == 0 || b == 2 || b == 3 || b == 4 || b == 6 || b == 8; }
bool valid_a_bits(int b) { return b == 0 || b == 4 || b == 8; }
bool valid_group(int g) { return g == 0 || g == 32 || g == 64 || g == 128; }

int int_field(const nlohmann::json& o, const char* key, const std::string& where, int fallback) {
  if (!o.contains(key)) return fallback;
  if (!o[key].is_number_integer()) {
    throw ConfigError(where + "." + key + " must be an integer, got " + o[key].dump());
  }
  return o[key].get<int>();
}

}  // namespace

std::vector<std::string> unit_names(int n_layers) {
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

UnitSpec QuantSpec::unit(const std::string& name) const {
  auto it = units.find(name);
  return it == units.end() ? UnitSpec{} : it->second;
}

bool QuantSpec::adaptive(const UnitSpec& u) const {
  return token_adaptive && u.a_bits > 0 && u.a_bits == token_adaptive->low_bits &&
         token_adaptive->high_bits > token_adaptive->low_bits;
}

QuantSpec QuantSpec::parse(const std::string& text, const std::string& source) {
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
    AdaptiveSpec a;
    a.high_bits = int_field(t, "high_bits", where, 8);
    a.low_bits = int_field(t, "low_bits", where, 4);
    if (t.contains("high_fraction")) {
      if (!t["high_fraction"].is_number())
        throw ConfigError(where + ".high_fraction must be a number");
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
    s.dynamic = m == "dynamic";
  }
  return s;
}

void QuantSpec::validate(int n_layers, const std::string& source) const {
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

QuantSpec QuantSpec::from_setting(const std::string& setting, int n_layers) {
  static const std::regex re(R"(W([0-9])A([0-9])(g([0-9]+))?(-TA([0-9])/([0-9])(@([0-9.]+))?)?)");
  std::smatch m;
  if (!std::regex_match(setting, m, re)) {
    throw ConfigError("setting '" + setting +
                      "' is not W<w>A<a>[g<group>][-TA<high>/<low>[@fraction]] (e.g. W4A8, "
                      "W4A4-TA8/4)");
  }
  QuantSpec s;
  s.dynamic = true;
  const UnitSpec u{std::stoi(m[1]), std::stoi(m[2]), m[4].matched ? std::stoi(m[4]) : 0};
  for (const auto& name : unit_names(n_layers)) {
    if (name != "embed") s.units[name] = u;
  }
  if (m[5].matched) {
    s.token_adaptive =
        AdaptiveSpec{std::stoi(m[6]), std::stoi(m[7]), m[9].matched ? std::stod(m[9]) : 0.5};
  }
  s.validate(n_layers, "setting " + setting);
  return s;
}

std::string QuantSpec::to_json() const {
  nlohmann::json j;
  nlohmann::json us = nlohmann::json::object();
  for (const auto& [name, u] : units) {
    us[name] = {{"a_bits", u.a_bits}, {"group", u.group}, {"w_bits", u.w_bits}};
  }
  j["units"] = std::move(us);
  j["activation_scale"] = dynamic ? "dynamic" : "lsq";
  if (token_adaptive) {
    j["token_adaptive"] = {{"high_bits", token_adaptive->high_bits},
                           {"low_bits", token_adaptive->low_bits},
                           {"high_fraction", token_adaptive->high_fraction}};
  } else {
    j["token_adaptive"] = nullptr;
  }
  return j.dump();
}

std::string QuantSpec::label(int n_layers) const {
  const UnitSpec* first = nullptr;
  bool uniform = true;
  for (const auto& [name, u] : units) {
    if (name == "embed") continue;
    if (!first) {
      first = &u;
    } else if (!(u == *first)) {
      uniform = false;
    }
  }
  if (!first || (first->w_bits == 0 && first->a_bits == 0)) {
    if (units.count("embed") && unit("embed").w_bits) return "mixed";
    return "FP32";
  }
  // Every linear must be listed for a uniform label (absent units stay float).
  const size_t linears = units.size() - units.count("embed");
  if (!uniform || linears != static_cast<size_t>(7 * n_layers)) return "mixed";
  std::string s = "W";
  s += first->w_bits ? std::to_string(first->w_bits) : "fp";
  s += 'A';
  s += first->a_bits ? std::to_string(first->a_bits) : "fp";
  if (first->group) {
    s += 'g';
    s += std::to_string(first->group);
  }
  if (adaptive(*first)) {
    s += "-TA";
    s += std::to_string(token_adaptive->high_bits);
    s += '/';
    s += std::to_string(token_adaptive->low_bits);
  }
  const UnitSpec e = unit("embed");
  if (e.w_bits) {
    s += "-E";
    s += std::to_string(e.w_bits);
  }
  return s;
}

}  // namespace hilq::model
