// Model config (JSON, presets) and the transformer forward pass with optional fake quantization.
#include "qat/model.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace hilq::qat {
namespace {

// Normal(0, std) from a counter-based generator: identical values on every platform and compiler.
Mat normal_init(int rows, int cols, float stddev, uint64_t seed) {
  Mat m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    const uint64_t h1 = splitmix64(seed + 2 * static_cast<uint64_t>(i));
    const uint64_t h2 = splitmix64(seed + 2 * static_cast<uint64_t>(i) + 1);
    const double u1 = (static_cast<double>(h1 >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
    const double u2 = static_cast<double>(h2 >> 11) / 9007199254740992.0;
    m.data()[i] = static_cast<float>(stddev * std::sqrt(-2.0 * std::log(u1)) *
                                     std::cos(6.283185307179586 * u2));
  }
  return m;
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = seed;
  for (unsigned char c : name) h = splitmix64(h ^ c);
  return h;
}

}  // namespace

ModelConfig::ModelConfig() {
  vocab_size = 4096;
  d_model = 256;
  n_layers = 4;
  n_heads = 4;
  d_ff = 768;
  max_seq = 128;
}

void ModelConfig::validate(const std::string& source) const {
  Architecture::validate(source);
  if (!(dropout >= 0.0f && dropout < 1.0f)) {
    throw ConfigError(source + ": dropout = " + std::to_string(dropout) + " must be in [0, 1)");
  }
}

std::string ModelConfig::to_json() const {
  nlohmann::json j = nlohmann::json::parse(Architecture::to_json());
  j["dropout"] = dropout;
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& source) {
  ModelConfig c;
  static_cast<model::Architecture&>(c) = model::Architecture::from_json(text, source, c);
  const nlohmann::json j = nlohmann::json::parse(text);  // valid: the architecture read it
  if (j.contains("dropout")) c.dropout = j["dropout"].get<float>();
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::preset(const std::string& name, ModelKind kind, int vocab_size) {
  ModelConfig c;
  c.name = name;
  c.kind = kind;
  c.vocab_size = vocab_size;
  if (name == "micro") {
    c.d_model = 64, c.n_layers = 2, c.n_heads = 2, c.d_ff = 176, c.max_seq = 64;
  } else if (name == "tiny") {
    c.d_model = 256, c.n_layers = 4, c.n_heads = 4, c.d_ff = 768, c.max_seq = 128;
  } else if (name == "small") {
    c.d_model = 384, c.n_layers = 6, c.n_heads = 6, c.d_ff = 1024, c.max_seq = 256;
  } else {
    throw ConfigError("model size '" + name + "' is not micro, tiny or small (or a .json path)");
  }
  c.validate("preset " + name);
  return c;
}

void Transformer::set_dropout(float p) {
  ModelConfig c = config_;
  c.dropout = p;
  c.validate("--dropout");
  config_ = c;
}

void pin_eigen_blocking() {
  static const bool pinned = [] {
    Eigen::setCpuCacheSizes(kEigenBlockingL1, kEigenBlockingL2, kEigenBlockingL3);
    return true;
  }();
  (void)pinned;
}

Transformer::Transformer(const ModelConfig& config, uint64_t seed) : config_(config) {
  pin_eigen_blocking();  // before the first matrix product of any run
  config_.validate();
  const int d = config_.d_model, f = config_.d_ff, L = config_.n_layers;
  constexpr float kStd = 0.02f;
  const float out_std = kStd / std::sqrt(2.0f * static_cast<float>(L));  // residual projections
  auto init = [&](const std::string& n, int r, int c, float sd) {
    add_param(n, normal_init(r, c, sd, name_seed(seed, n)));
  };
  init("embed.weight", config_.vocab_size, d, kStd);
  for (int l = 0; l < L; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    add_param(p + "attn_norm.weight", Mat::Ones(1, d));
    for (const char* m : {"q", "k", "v"}) init(p + "attn." + m + ".weight", d, d, kStd);
    init(p + "attn.o.weight", d, d, out_std);
    add_param(p + "mlp_norm.weight", Mat::Ones(1, d));
    init(p + "mlp.gate.weight", f, d, kStd);
    init(p + "mlp.up.weight", f, d, kStd);
    init(p + "mlp.down.weight", d, f, out_std);
  }
  add_param("final_norm.weight", Mat::Ones(1, d));
  if (config_.kind == ModelKind::kClassifier) {
    init("cls_head.weight", config_.n_classes, d, kStd);
    add_param("cls_head.bias", Mat::Zero(1, config_.n_classes));
  }
}

Var Transformer::add_param(const std::string& name, Mat value) {
  Var v = parameter(std::move(value), name);
  params_.emplace_back(name, v);
  by_name_[name] = v;
  return v;
}

Var Transformer::param(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw QatError("model has no parameter " + name);
  return it->second;
}

std::map<std::string, Var> Transformer::unit_weights() const {
  std::map<std::string, Var> m;
  for (const auto& unit : model::unit_names(config_.n_layers)) {
    m[unit] = param(unit == "embed" ? "embed.weight" : unit + ".weight");
  }
  return m;
}

void Transformer::copy_from(const Transformer& other) {
  for (auto& [name, v] : params_) {
    const Var src = other.param(name);
    if (src->rows() != v->rows() || src->cols() != v->cols()) {
      throw QatError("copy_from: " + name + " differs in shape");
    }
    v->value = src->value;
  }
}

ForwardResult Transformer::forward(const Batch& batch, const ForwardOptions& opt) const {
  const ModelConfig& c = config_;
  if (batch.seq < 1 || batch.seq > c.max_seq ||
      static_cast<int>(batch.ids.size()) != batch.batch * batch.seq) {
    throw QatError("forward: batch of " + std::to_string(batch.ids.size()) + " ids is not " +
                   std::to_string(batch.batch) + " x " + std::to_string(batch.seq) +
                   " with seq <= max_seq " + std::to_string(c.max_seq));
  }
  QuantState* qs = opt.quant;
  const AttnShape shape{batch.batch, batch.seq, c.n_heads, c.head_dim()};
  const AttnMask mask{c.kind == ModelKind::kCausalLm, batch.lengths};
  const float attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim()));
  const float p_drop = opt.train ? c.dropout : 0.0f;
  auto W = [&](const std::string& unit) {
    const Var w = param(unit + ".weight");
    return qs ? qs->weight(unit, w) : w;
  };
  auto A = [&](const std::string& point, const Var& x, const std::vector<uint8_t>& m) {
    return qs ? qs->act(point, x, m) : x;
  };
  const bool adaptive = qs && qs->any_adaptive();
  ForwardResult r;
  Var table = param("embed.weight");
  if (qs) table = qs->weight("embed", table);
  Var x = dropout(embedding(table, batch.ids), p_drop, splitmix64(opt.dropout_seed));
  std::vector<uint8_t> prev_mask, cur_mask;  // empty = every token high
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    Var h = rms_norm(x, param(p + "attn_norm.weight"), c.norm_eps);
    h = A(p + "attn.qkv.in", h, prev_mask);
    Var q = rope(linear(h, W(p + "attn.q")), shape, c.rope_theta);
    Var k = rope(linear(h, W(p + "attn.k")), shape, c.rope_theta);
    Var v = linear(h, W(p + "attn.v"));
    r.q_float.push_back(q);
    r.k_float.push_back(k);
    q = A(p + "attn.q.out", q, prev_mask);
    k = A(p + "attn.k.out", k, prev_mask);
    Var probs = masked_softmax(attention_scores(q, k, shape, attn_scale), shape, mask);
    if (adaptive) {
      cur_mask = token_importance_mask(probs->value, shape, batch.lengths, qs->high_fraction());
    }
    Var probs_q = qs && qs->has_act(p + "attn.v.out") && qs->mode == QuantState::Mode::kQuantize
                      ? fixed_quant(probs, kProbScale, kProbBits)
                      : probs;
    v = A(p + "attn.v.out", v, cur_mask);
    Var a = A(p + "attn.o.in", attention_apply(probs_q, v, shape), cur_mask);
    x = add(x,
            dropout(linear(a, W(p + "attn.o")), p_drop, splitmix64(opt.dropout_seed + 2 * l + 1)));
    h = rms_norm(x, param(p + "mlp_norm.weight"), c.norm_eps);
    h = A(p + "mlp.gate_up.in", h, cur_mask);
    Var m = mul(silu(linear(h, W(p + "mlp.gate"))), linear(h, W(p + "mlp.up")));
    m = A(p + "mlp.down.in", m, cur_mask);
    x = add(
        x, dropout(linear(m, W(p + "mlp.down")), p_drop, splitmix64(opt.dropout_seed + 2 * l + 2)));
    r.attn.push_back(probs);
    r.q.push_back(q);
    r.k.push_back(k);
    prev_mask = cur_mask;
  }
  r.hidden = rms_norm(x, param("final_norm.weight"), c.norm_eps);
  r.last_mask = cur_mask;
  return r;
}

Var Transformer::lm_logits(const Var& hidden, QuantState* quant,
                           const std::vector<uint8_t>& mask) const {
  Var table = param("embed.weight");
  Var h = hidden;
  if (quant) {
    table = quant->weight("embed", table);
    h = quant->act("head.in", h, mask);
  }
  return linear(h, table);
}

Var Transformer::class_logits(const ForwardResult& r, const Batch& batch) const {
  std::vector<int> lengths = batch.lengths;
  if (lengths.empty()) lengths.assign(static_cast<size_t>(batch.batch), batch.seq);
  Var pooled = mean_pool(r.hidden, batch.batch, batch.seq, lengths);
  return add_row(linear(pooled, param("cls_head.weight")), param("cls_head.bias"));
}

}  // namespace hilq::qat
