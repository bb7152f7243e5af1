// Shared helpers of the runtime tests: small random models written in the exact layout of
// qat/export.cpp (float or packed, learned or dynamic activation scales), without qat or Eigen so
// that the suite also runs under qemu-aarch64.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/pack.h"
#include "kernels/quantize.h"
#include "model/model_file.h"
#include "model/quant_spec.h"
#include "model/sha256.h"
#include "runtime/model.h"

namespace hilq::runtime::test {

struct Uniform {  // the uniform configs the runtime is measured at, plus the policy
  int w_bits = 0, a_bits = 0, group = 0;
  bool adaptive = false;  // token_adaptive {8, 4, fraction}
  double fraction = 0.5;
  bool dynamic = false;  // activation_scale "dynamic"
  bool embed = false;    // quantize the embedding / LM head too (w_bits, a_bits 8)
};

struct TestModel {
  bool classifier = false;
  int vocab = 61, d = 64, layers = 2, heads = 2, ff = 96, max_seq = 32, classes = 3;
  uint64_t seed = 7;
  Uniform q;
  bool hash = true;  // write metadata data_sha256
};

inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Deterministic normal values (Box-Muller on splitmix64), identical on every platform.
inline std::vector<float> normal(size_t n, float stddev, uint64_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    const double u1 = (static_cast<double>(mix(seed + 2 * i) >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = static_cast<double>(mix(seed + 2 * i + 1) >> 11) / 9007199254740992.0;
    v[i] = static_cast<float>(stddev * std::sqrt(-2.0 * std::log(u1)) *
                              std::cos(6.283185307179586 * u2));
  }
  return v;
}

inline std::string quant_json(const TestModel& m) {
  const Uniform& q = m.q;
  if (q.w_bits == 0 && q.a_bits == 0) return "";
  std::string units;
  auto unit = [&](const std::string& name, int w, int a, int g) {
    units += (units.empty() ? "" : ",") + std::string("\"") + name +
             "\":{\"a_bits\":" + std::to_string(a) + ",\"group\":" + std::to_string(g) +
             ",\"w_bits\":" + std::to_string(w) + "}";
  };
  if (q.embed) unit("embed", q.w_bits ? q.w_bits : 8, 8, 0);
  for (int l = 0; l < m.layers; ++l) {
    for (const char* u :
         {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"}) {
      unit("layers." + std::to_string(l) + "." + u, q.w_bits, q.a_bits, q.group);
    }
  }
  std::string ta = "null";
  if (q.adaptive) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "{\"high_bits\":8,\"high_fraction\":%.17g,\"low_bits\":4}",
                  q.fraction);
    ta = buf;
  }
  return std::string("{\"activation_scale\":\"") + (q.dynamic ? "dynamic" : "lsq") +
         "\",\"token_adaptive\":" + ta + ",\"units\":{" + units + "}}";
}

inline std::string arch_json(const TestModel& m) {
  return std::string("{\"d_ff\":") + std::to_string(m.ff) + ",\"d_model\":" + std::to_string(m.d) +
         ",\"kind\":\"" + (m.classifier ? "classifier" : "causal_lm") +
         "\",\"max_seq\":" + std::to_string(m.max_seq) +
         ",\"n_classes\":" + std::to_string(m.classes) + ",\"n_heads\":" + std::to_string(m.heads) +
         ",\"n_layers\":" + std::to_string(m.layers) +
         ",\"name\":\"test\",\"norm\":\"rmsnorm\",\"norm_eps\":1e-05,\"rope\":\"interleaved\","
         "\"rope_theta\":10000.0,\"tied_embeddings\":true,\"vocab_size\":" +
         std::to_string(m.vocab) + "}";
}

// Where build_model_file gets its numbers: float weights by parameter name, the learned weight
// steps of a quantized unit ([rows][groups], row-major) and the activation steps of a point.
struct Source {
  std::function<std::vector<float>(const std::string& name, int rows, int cols, float stddev)>
      weight;
  std::function<std::vector<float>(const std::string& unit, const std::vector<float>& w, int rows,
                                   int cols, int bits, int group)>
      step;
  std::function<float(const std::string& point, int bits, bool low)> act_scale;
};

// "Learned" weight steps: absmax per row (or group) with 10% clipping, as LSQ tends to settle.
inline std::vector<float> clipped_absmax_steps(const std::vector<float>& w, int rows, int cols,
                                               int bits, int group) {
  const int g_len = group ? group : cols, groups = (cols + g_len - 1) / g_len;
  std::vector<float> s(static_cast<size_t>(rows) * groups);
  for (int r = 0; r < rows; ++r) {
    for (int g = 0; g < groups; ++g) {
      const int n = std::min(g_len, cols - g * g_len);
      s[static_cast<size_t>(r) * groups + g] =
          0.9f * kernels::absmax_scale(w.data() + int64_t{r} * cols + g * g_len, n, bits);
    }
  }
  return s;
}

inline Source random_source(uint64_t seed) {
  auto counter = std::make_shared<uint64_t>(seed * 1000);
  Source s;
  s.weight = [counter](const std::string& name, int rows, int cols, float stddev) {
    std::vector<float> v = normal(static_cast<size_t>(rows) * cols, stddev, ++*counter * 7919);
    if (name.find("norm.weight") != std::string::npos) {
      for (auto& x : v) x += 1.0f;  // gains around 1
    }
    return v;
  };
  s.step = [](const std::string&, const std::vector<float>& w, int rows, int cols, int bits,
              int group) { return clipped_absmax_steps(w, rows, cols, bits, group); };
  s.act_scale = [](const std::string&, int bits, bool) { return 4.0f / kernels::qmax(bits); };
  return s;
}

// A model file laid out exactly as qat/export.cpp writes it (format hilq.packed.v1 when
// quant_json is not empty, else a float checkpoint), numbers from `src`.
inline model::ModelFile build_model_file(const TestModel& m, const std::string& qj,
                                         const Source& src, const std::string& arch = "") {
  model::ModelFile f;
  const bool packed = !qj.empty();
  const model::QuantSpec spec =
      packed ? model::QuantSpec::from_json(qj, "test quant config") : model::QuantSpec{};
  f.metadata["format"] = packed ? kPackedFormat : kCheckpointFormat;
  f.metadata["architecture"] = arch.empty() ? arch_json(m) : arch;
  if (packed) f.metadata["quant_config"] = qj;
  std::string packing;
  auto add_weight = [&](const std::string& name, const std::string& unit, int rows, int cols,
                        float stddev) {
    const std::vector<float> w = src.weight(name, rows, cols, stddev);
    const model::UnitSpec u = spec.unit(unit);
    if (unit.empty() || !u.w_bits) {
      f.add_f32(name, {rows, cols}, w.data());
      return;
    }
    const std::vector<float> s = src.step(unit, w, rows, cols, u.w_bits, u.group);
    const kernels::PackedWeights p =
        kernels::quantize_pack(w.data(), rows, cols, u.w_bits, u.group, s.data());
    f.add(name + ".data", model::DType::kU8, {p.layout.data_bytes()}, p.data.data());
    f.add_f32(name + ".scales", {p.layout.scale_count()}, p.scales.data());
    packing += (packing.empty() ? "" : ",") + std::string("\"") + name +
               "\":{\"cols\":" + std::to_string(cols) + ",\"data\":\"" + name +
               ".data\",\"format\":\"" + kernels::kPackFormat +
               "\",\"group\":" + std::to_string(u.group) + ",\"rows\":" + std::to_string(rows) +
               ",\"scales\":\"" + name + ".scales\",\"w_bits\":" + std::to_string(u.w_bits) + "}";
  };
  auto add_norm = [&](const std::string& name) {
    const std::vector<float> g = src.weight(name, 1, m.d, 0.1f);
    f.add_f32(name, {1, m.d}, g.data());
  };
  add_weight("embed.weight", "embed", m.vocab, m.d, 1.0f);
  const float sd = 1.0f / std::sqrt(static_cast<float>(m.d)),
              sf = 1.0f / std::sqrt(static_cast<float>(m.ff));
  for (int l = 0; l < m.layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    add_norm(p + "attn_norm.weight");
    for (const char* u : {"attn.q", "attn.k", "attn.v", "attn.o"})
      add_weight(p + u + ".weight", p + u, m.d, m.d, sd);
    add_norm(p + "mlp_norm.weight");
    add_weight(p + "mlp.gate.weight", p + "mlp.gate", m.ff, m.d, sd);
    add_weight(p + "mlp.up.weight", p + "mlp.up", m.ff, m.d, sd);
    add_weight(p + "mlp.down.weight", p + "mlp.down", m.d, m.ff, sf);
  }
  add_norm("final_norm.weight");
  if (m.classifier) {
    add_weight("cls_head.weight", "", m.classes, m.d, sd);
    const std::vector<float> b = src.weight("cls_head.bias", 1, m.classes, 0.1f);
    f.add_f32("cls_head.bias", {1, m.classes}, b.data());
  }
  if (packed) {
    // Activation points with the QAT engine's rules (qat/quant.cpp QuantState::add_act).
    std::string acts;
    auto point = [&](const std::string& name, const std::string& unit, int layer) {
      const model::UnitSpec u = spec.unit(unit);
      if (!u.a_bits) return;
      const bool adaptive = spec.adaptive(u) && name != "head.in";
      const int bits = adaptive ? spec.token_adaptive->high_bits : u.a_bits;
      const int low = adaptive && layer > 0 ? spec.token_adaptive->low_bits : 0;
      const bool prev = name.find("qkv.in") != std::string::npos ||
                        name.find("q.out") != std::string::npos ||
                        name.find("k.out") != std::string::npos;
      std::string j = "{\"bits\":" + std::to_string(bits) + ",\"low_bits\":" + std::to_string(low) +
                      ",\"mask\":\"" + (prev ? "prev" : "cur") + "\",\"scale\":\"" +
                      (spec.dynamic() ? "dynamic_absmax" : "lsq") + "\"";
      if (!spec.dynamic()) {
        const float hi = src.act_scale(name, bits, false);
        f.add_f32(name + ".a_scale_hi", {1}, &hi);
        if (low) {
          const float lo = src.act_scale(name, low, true);
          f.add_f32(name + ".a_scale_lo", {1}, &lo);
        }
      }
      acts += (acts.empty() ? "" : ",") + ("\"" + name + "\":" + j + "}");
    };
    for (int l = 0; l < m.layers; ++l) {
      for (const auto& p : model::activation_points(l)) point(p.name, p.unit, l);
    }
    point("head.in", "embed", m.layers);
    f.metadata["packing"] = "{" + packing + "}";
    f.metadata["activations"] = "{" + acts + "}";
    f.metadata["attention"] = "{\"layer0\":\"high\",\"probs_bits\":8}";
  }
  if (m.hash) {
    model::Sha256 h;
    for (const auto& t : f.tensors) h.update(t.data.data(), t.data.size());
    f.metadata["data_sha256"] = h.hex();
  }
  return f;
}

inline model::ModelFile make_model_file(const TestModel& m) {
  return build_model_file(m, quant_json(m), random_source(m.seed));
}

// Load options by name (aggregate initialisation would break as fields are added).
inline LoadOptions load_options(WeightsMode weights, bool fuse = true) {
  LoadOptions o;
  o.weights = weights;
  o.fuse = fuse;
  return o;
}

inline Model make_model(const TestModel& m, const LoadOptions& o = {}) {
  return Model::from_file(make_model_file(m), o, "test model");
}

// Largest |a - b| relative to the largest |b|.
inline double rel_diff(const float* a, const float* b, size_t n) {
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < n; ++i) {
    num = std::max(num, std::fabs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::fabs(static_cast<double>(b[i])));
  }
  return num / den;
}

}  // namespace hilq::runtime::test
