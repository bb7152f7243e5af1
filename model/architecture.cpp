// The architecture's rules and its JSON reader and writer.
#include "model/architecture.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_reader.h"

namespace hilq::model {
namespace {

Architecture read(const std::string& text, const std::string& source, const Architecture& base,
                  bool require_sizes) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": not valid JSON: " + e.what());
  }
  const JsonReader r(j, source);
  r.reject_unknown({"name", "kind", "vocab_size", "d_model", "n_layers", "n_heads", "d_ff",
                    "max_seq", "n_classes", "rope_theta", "norm_eps", "dropout", "norm", "ffn",
                    "rope", "tied_embeddings", "pooling"});
  Architecture a = base;
  auto get_int = [&](const char* key, int* out, bool required) {
    if (required || r.has(key)) *out = static_cast<int>(r.integer(key, INT32_MIN, INT32_MAX));
  };
  auto get_float = [&](const char* key, float* out) {
    *out = static_cast<float>(r.number_or(key, *out));
  };
  auto expect = [&](const char* key, const nlohmann::json& value) {
    if (r.has(key) && j[key] != value)
      r.fail(key, "must be " + value.dump() + " (the only architecture there is)");
  };
  if (r.has("kind")) {
    const std::string kind = r.string("kind");
    if (kind != "causal_lm" && kind != "classifier")
      r.fail("kind", "must be \"causal_lm\" or \"classifier\"");
    a.kind = kind == "causal_lm" ? ModelKind::kCausalLm : ModelKind::kClassifier;
  } else if (require_sizes) {
    throw ConfigError(source + ": kind is missing (\"causal_lm\" or \"classifier\")");
  }
  a.name = r.string_or("name", a.name);
  get_int("vocab_size", &a.vocab_size, require_sizes);
  get_int("d_model", &a.d_model, require_sizes);
  get_int("n_layers", &a.n_layers, require_sizes);
  get_int("n_heads", &a.n_heads, require_sizes);
  get_int("d_ff", &a.d_ff, require_sizes);
  get_int("max_seq", &a.max_seq, require_sizes);
  get_int("n_classes", &a.n_classes, false);
  get_float("rope_theta", &a.rope_theta);
  get_float("norm_eps", &a.norm_eps);
  r.number_or("dropout", 0);  // training-only; checked here, kept by qat's config
  expect("norm", "rmsnorm");
  expect("ffn", "swiglu");
  expect("rope", "interleaved");
  expect("tied_embeddings", true);
  expect("pooling", "mean");
  a.validate(source);
  return a;
}

}  // namespace

const char* kind_name(ModelKind kind) {
  return kind == ModelKind::kCausalLm ? "causal_lm" : "classifier";
}

int64_t Architecture::parameter_count() const {
  const int64_t d = d_model;
  int64_t n = int64_t{vocab_size} * d + d;
  n += n_layers * (4 * d * d + 3 * d * d_ff + 2 * d);
  if (kind == ModelKind::kClassifier) n += int64_t{n_classes} * d + n_classes;
  return n;
}

void Architecture::validate(const std::string& source) const {
  auto need = [&](bool ok, const std::string& field, double v, const std::string& rule) {
    if (!ok) throw ConfigError(source + ": " + field + " = " + std::to_string(v) + " " + rule);
  };
  need(vocab_size >= 16 && vocab_size <= (1 << 24), "vocab_size", vocab_size,
       "must be in [16, 2^24]");
  need(d_model > 0, "d_model", d_model, "must be positive");
  need(n_layers > 0 && n_layers <= 4096, "n_layers", n_layers, "must be in [1, 4096]");
  need(n_heads > 0 && d_model % n_heads == 0, "n_heads", n_heads, "must divide d_model");
  need(head_dim() % 2 == 0, "head_dim", head_dim(), "(d_model / n_heads) must be even for RoPE");
  need(d_ff > 0, "d_ff", d_ff, "must be positive");
  need(max_seq >= 2 && max_seq <= (1 << 20), "max_seq", max_seq, "must be in [2, 2^20]");
  need(n_classes >= 2 && n_classes <= (1 << 16), "n_classes", n_classes, "must be in [2, 2^16]");
  need(rope_theta > 1.0f, "rope_theta", rope_theta, "must exceed 1");
  need(norm_eps > 0.0f, "norm_eps", norm_eps, "must be positive");
}

std::string Architecture::to_json() const {
  const nlohmann::json j = {{"name", name},
                            {"kind", kind_name(kind)},
                            {"vocab_size", vocab_size},
                            {"d_model", d_model},
                            {"n_layers", n_layers},
                            {"n_heads", n_heads},
                            {"d_ff", d_ff},
                            {"max_seq", max_seq},
                            {"n_classes", n_classes},
                            {"rope_theta", rope_theta},
                            {"norm_eps", norm_eps},
                            {"norm", "rmsnorm"},
                            {"ffn", "swiglu"},
                            {"rope", "interleaved"},
                            {"tied_embeddings", true},
                            {"pooling", "mean"}};
  return j.dump();
}

Architecture Architecture::from_json(const std::string& text, const std::string& source) {
  return read(text, source, Architecture{}, true);
}

Architecture Architecture::from_json(const std::string& text, const std::string& source,
                                     const Architecture& defaults) {
  return read(text, source, defaults, false);
}

}  // namespace hilq::model
