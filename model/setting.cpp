// The setting grammar, its label and the way to and from a quant config.
#include "model/setting.h"

#include <cstdio>
#include <cstdlib>
#include <regex>

#include "base/error.h"

namespace hilq::model {
namespace {

constexpr const char* kGrammar =
    "FP32, FP16, as-stored or W<w>A<a>[g<group>][-TA<high>/<low>[@<fraction>]][-E<bits>] (w, a: "
    "bits or fp; e.g. W4A8, W4A8g32, W4A4-TA8/4, W4A8-E8)";

// The shortest decimal that reads back as exactly v.
std::string shortest(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string bits(int b) { return b ? std::to_string(b) : "fp"; }

void check(const Setting& s, const std::string& where) {
  const UnitSpec& u = s.linear();
  check_w_bits(u.w_bits, where);
  check_a_bits(u.a_bits, where);
  check_group(u.group, where);
  if (u.w_bits == 0 && u.a_bits == 0) {
    throw ConfigError(where +
                      ": weights and activations are both float, nothing is quantized "
                      "(FP32 names the float model)");
  }
  if (const auto& t = s.token_adaptive()) {
    check_policy(*t, where + ": token_adaptive");
    if (u.a_bits != t->low_bits) {
      throw ConfigError(where + ": token-adaptive " + std::to_string(t->high_bits) + "/" +
                        std::to_string(t->low_bits) + " applies to a_bits " +
                        std::to_string(t->low_bits) + ", not " + bits(u.a_bits));
    }
  }
  check_w_bits(s.embed_bits(), where + ": embedding");
}

}  // namespace

Setting Setting::fp16() {
  Setting s;
  s.kind_ = SettingKind::kFp16;
  return s;
}

Setting Setting::as_stored() {
  Setting s;
  s.kind_ = SettingKind::kAsStored;
  return s;
}

Setting Setting::quantized(const UnitSpec& linear, std::optional<TokenAdaptivePolicy> policy,
                           int embed_bits) {
  Setting s;
  s.kind_ = SettingKind::kQuantized;
  s.linear_ = linear;
  s.policy_ = policy;
  s.embed_bits_ = embed_bits;
  check(s, "setting " + s.label());
  return s;
}

Setting Setting::parse(const std::string& text) {
  if (text == "FP32") return fp32();
  if (text == "FP16") return fp16();
  if (text == "as-stored") return as_stored();
  static const std::regex re(
      R"(W([0-9]{1,3}|fp)A([0-9]{1,3}|fp)(g([0-9]{1,4}))?)"
      R"((-TA([0-9]{1,3})/([0-9]{1,3})(@([0-9]+(\.[0-9]*)?|\.[0-9]+))?)?(-E([0-9]{1,3}))?)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    throw ConfigError("setting '" + text + "' is not " + kGrammar);
  }
  const auto width = [](const std::string& b) { return b == "fp" ? 0 : std::stoi(b); };
  Setting s;
  s.kind_ = SettingKind::kQuantized;
  s.linear_ = UnitSpec{width(m[1]), width(m[2]), m[4].matched ? std::stoi(m[4]) : 0};
  if (m[5].matched) {
    s.policy_ =
        TokenAdaptivePolicy{std::stoi(m[6]), std::stoi(m[7]), m[9].matched ? std::stod(m[9]) : 0.5};
  }
  if (m[11].matched) {
    s.embed_bits_ = std::stoi(m[12]);
    if (s.embed_bits_ == 0) {
      throw ConfigError("setting '" + text + "': -E0 is a float embedding; leave -E out");
    }
  }
  check(s, "setting '" + text + "'");
  return s;
}

std::string Setting::label() const {
  switch (kind_) {
    case SettingKind::kFp32:
      return "FP32";
    case SettingKind::kFp16:
      return "FP16";
    case SettingKind::kAsStored:
      return "as-stored";
    case SettingKind::kQuantized:
      break;
  }
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on chained string operator+.
  std::string s = "W";
  s += bits(linear_.w_bits);
  s += 'A';
  s += bits(linear_.a_bits);
  if (linear_.group) {
    s += 'g';
    s += std::to_string(linear_.group);
  }
  if (policy_) {
    s += "-TA";
    s += std::to_string(policy_->high_bits);
    s += '/';
    s += std::to_string(policy_->low_bits);
    if (policy_->high_fraction != 0.5) {
      s += '@';
      s += shortest(policy_->high_fraction);
    }
  }
  if (embed_bits_) {
    s += "-E";
    s += std::to_string(embed_bits_);
  }
  return s;
}

QuantSpec Setting::to_quant_spec(int n_layers, ActScaleMode scale) const {
  QuantSpec q;
  if (kind_ == SettingKind::kAsStored) {
    throw ConfigError("setting as-stored names the model file's own quant config; it has none");
  }
  if (kind_ == SettingKind::kQuantized) {
    q = QuantSpec::uniform(n_layers, linear_.w_bits, linear_.a_bits, linear_.group, policy_);
    if (embed_bits_) q.units["embed"] = UnitSpec{embed_bits_, head_a_bits(linear_.a_bits), 0};
  }
  q.act_scale = scale;
  q.validate(n_layers, "setting " + label());
  return q;
}

std::optional<Setting> Setting::of(const QuantSpec& spec, int n_layers) {
  bool any = false;
  for (const auto& [name, u] : spec.units) any = any || u.w_bits != 0 || u.a_bits != 0;
  if (!any) return fp32();
  const auto names = unit_names(n_layers);
  const UnitSpec* first = nullptr;
  for (const auto& name : names) {
    if (name == "embed") continue;
    const auto it = spec.units.find(name);
    if (it == spec.units.end()) return std::nullopt;  // absent: float, unlike the others
    if (first && !(it->second == *first)) return std::nullopt;
    first = &it->second;
  }
  if (!first || (first->w_bits == 0 && first->a_bits == 0)) return std::nullopt;
  if (spec.units.size() != names.size() - 1 + spec.units.count("embed")) return std::nullopt;
  Setting s;
  s.kind_ = SettingKind::kQuantized;
  s.linear_ = *first;
  if (spec.adaptive(*first)) s.policy_ = spec.token_adaptive;
  const UnitSpec e = spec.unit("embed");
  if (!(e == UnitSpec{})) {
    if (e.w_bits == 0 || e.group != 0 || e.a_bits != head_a_bits(first->a_bits))
      return std::nullopt;
    s.embed_bits_ = e.w_bits;
  }
  return s;
}

std::string quant_label(const QuantSpec& spec, int n_layers) {
  const std::optional<Setting> s = Setting::of(spec, n_layers);
  return s ? s->label() : "mixed";
}

}  // namespace hilq::model
