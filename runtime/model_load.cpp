// Model file -> Model: validation of every field the runtime relies on (format, architecture,
// shapes, packing, bit widths, activation scales, hash), quantize-on-load of float models, the
// FP32 / FP16-storage baselines and the fusion of q|k|v and gate|up into one matmul each.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "kernels/mkmp.h"
#include "model/quant_spec.h"
#include "model/setting.h"
#include "model/sha256.h"
#include "runtime/model.h"

namespace hilq::runtime {

namespace k = hilq::kernels;
using nlohmann::json;

const char* weight_format_name(WeightFormat f) {
  return f == WeightFormat::kPacked ? "packed" : f == WeightFormat::kFp16 ? "fp16" : "fp32";
}

WeightsMode weights_mode_from_name(const std::string& name) {
  if (name.empty() || name == "as-stored") return WeightsMode::kAsStored;
  if (name == "fp32") return WeightsMode::kFp32;
  if (name == "fp16") return WeightsMode::kFp16;
  throw ConfigError("weights '" + name + "' is not as-stored, fp32 or fp16");
}

int64_t Linear::bytes() const {
  if (format == WeightFormat::kPacked) return packed.bytes();
  return int64_t{rows} * cols * (format == WeightFormat::kFp16 ? 2 : 4);
}

namespace {

// Converts a linear to float storage (dequantizing packed codes: x_hat = scale * q, exactly the
// QAT engine's fake-quantized weight).
void to_float(Linear* w, WeightFormat f) {
  if (w->format == f) return;
  k::AlignedBuffer<float> v(static_cast<size_t>(w->rows) * w->cols);
  if (w->format == WeightFormat::kPacked) {
    k::dequantize_weights(w->packed, v.data());
    w->packed = k::PackedWeights{};
  } else if (w->format == WeightFormat::kFp16) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = k::half_to_float(w->f16[i]);
  } else {
    v = w->f32;
  }
  w->f16 = k::AlignedBuffer<uint16_t>{};
  w->f32 = k::AlignedBuffer<float>{};
  if (f == WeightFormat::kFp32) {
    w->f32 = std::move(v);
  } else {
    w->f16.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) w->f16[i] = k::float_to_half(v[i]);
  }
  w->format = f;
  w->w_bits = 0;
  w->group = 0;
}

// Stacks parts by rows into one matmul when they share format, width and group (and packed
// parts fill whole 32-row panels, so the packed buffers simply concatenate).
std::vector<Linear> fuse(std::vector<Linear> parts) {
  const Linear& a = parts[0];
  for (const Linear& p : parts) {
    if (p.format != a.format || p.cols != a.cols || p.w_bits != a.w_bits || p.group != a.group) {
      return parts;
    }
    if (p.format == WeightFormat::kPacked && p.rows % k::kPanelRows != 0) return parts;
  }
  Linear f;
  f.cols = a.cols;
  f.format = a.format;
  f.w_bits = a.w_bits;
  f.group = a.group;
  for (const Linear& p : parts) f.rows += p.rows;
  if (f.format == WeightFormat::kPacked) {
    f.packed.layout = k::PackedLayout{f.rows, f.cols, f.w_bits, f.group};
    f.packed.data.resize(static_cast<size_t>(f.packed.layout.data_bytes()));
    f.packed.scales.resize(static_cast<size_t>(f.packed.layout.scale_count()));
    size_t d = 0, s = 0;
    for (const Linear& p : parts) {
      std::copy(p.packed.data.data(), p.packed.data.data() + p.packed.data.size(),
                f.packed.data.data() + d);
      std::copy(p.packed.scales.data(), p.packed.scales.data() + p.packed.scales.size(),
                f.packed.scales.data() + s);
      d += p.packed.data.size();
      s += p.packed.scales.size();
    }
  } else {
    const size_t n = static_cast<size_t>(f.rows) * f.cols;
    size_t at = 0;
    if (f.format == WeightFormat::kFp32) {
      f.f32.resize(n);
      for (const Linear& p : parts) {
        std::copy(p.f32.data(), p.f32.data() + p.f32.size(), f.f32.data() + at);
        at += p.f32.size();
      }
    } else {
      f.f16.resize(n);
      for (const Linear& p : parts) {
        std::copy(p.f16.data(), p.f16.data() + p.f16.size(), f.f16.data() + at);
        at += p.f16.size();
      }
    }
  }
  std::vector<Linear> out;
  out.push_back(std::move(f));
  return out;
}

}  // namespace

class ModelBuilder {
 public:
  ModelBuilder(const model::ModelFile& file, const LoadOptions& options, std::string source)
      : f_(file), opt_(options), src_(std::move(source)) {}

  Model build();

 private:
  [[noreturn]] void fail(const std::string& what) const { throw ModelError(src_ + ": " + what); }
  json meta_json(const std::string& key, bool required) const;
  void parse_architecture();
  const model::ModelTensor& tensor(const std::string& name);
  std::vector<float> floats(const std::string& name, int rows, int cols);
  Linear float_linear(const std::string& name, int rows, int cols);
  Linear unit_linear(const std::string& unit, int rows, int cols);
  ActQuant point(const model::ActivationPoint& p, int layer);
  void check_hash();

  const model::ModelFile& f_;
  const LoadOptions& opt_;
  std::string src_;
  Model m_;
  model::QuantSpec spec_;
  bool packed_file_ = false;
  bool quantize_on_load_ = false;
  WeightsMode weights_ = WeightsMode::kAsStored;  // opt_.weights, or the setting's baseline
  json packing_ = json::object(), acts_ = json::object();
  std::set<std::string> used_;
};

json ModelBuilder::meta_json(const std::string& key, bool required) const {
  const std::string text = f_.meta(key);
  if (text.empty()) {
    if (required) fail("metadata '" + key + "' is missing");
    return json::object();
  }
  try {
    json j = json::parse(text);
    if (!j.is_object()) fail("metadata '" + key + "' is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    fail("metadata '" + key + "' is not valid JSON: " + e.what());
  }
}

void ModelBuilder::parse_architecture() {
  const std::string text = f_.meta("architecture");
  if (text.empty()) fail("metadata 'architecture' is missing");
  try {
    m_.arch_ = model::Architecture::from_json(text, "architecture");
  } catch (const ConfigError& e) {
    fail(e.what());
  }
  for (const auto& [field, v] : {std::pair{"d_model", m_.arch_.d_model}, {"d_ff", m_.arch_.d_ff}}) {
    if (v > k::kMaxCols) {
      fail(std::string("architecture: ") + field + " = " + std::to_string(v) +
           " exceeds the kernels' limit of " + std::to_string(k::kMaxCols) + " columns");
    }
  }
}

const model::ModelTensor& ModelBuilder::tensor(const std::string& name) {
  const model::ModelTensor* t = f_.find(name);
  if (!t) fail("tensor " + name + " is missing");
  used_.insert(name);
  return *t;
}

std::vector<float> ModelBuilder::floats(const std::string& name, int rows, int cols) {
  const model::ModelTensor& t = tensor(name);
  const bool shape_ok = t.shape == std::vector<int64_t>{rows, cols} ||
                        (rows == 1 && t.shape == std::vector<int64_t>{cols});
  if (!shape_ok || (t.dtype != model::DType::kF32 && t.dtype != model::DType::kF16)) {
    std::string shape;
    for (int64_t d : t.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    fail("tensor " + name + " is " + model::dtype_name(t.dtype) + " [" + shape +
         "], expected F32 [" + std::to_string(rows) + "x" + std::to_string(cols) +
         "] (mismatched shapes)");
  }
  std::vector<float> v(static_cast<size_t>(rows) * cols);
  if (t.dtype == model::DType::kF32) {
    std::memcpy(v.data(), t.data.data(), v.size() * 4);
  } else {
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      v[i] = k::half_to_float(h);
    }
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]))
      fail("tensor " + name + " holds a non-finite value at " + std::to_string(i));
  }
  return v;
}

Linear ModelBuilder::float_linear(const std::string& name, int rows, int cols) {
  Linear w;
  w.rows = rows;
  w.cols = cols;
  const bool half = f_.find(name) && f_.find(name)->dtype == model::DType::kF16;
  const std::vector<float> v = floats(name, rows, cols);
  w.format = WeightFormat::kFp32;
  w.f32.resize(v.size());
  std::copy(v.begin(), v.end(), w.f32.data());
  if (half) to_float(&w, WeightFormat::kFp16);  // keep F16 storage as it came
  return w;
}

Linear ModelBuilder::unit_linear(const std::string& unit, int rows, int cols) {
  const std::string name = unit == "embed" ? "embed.weight" : unit + ".weight";
  const model::UnitSpec u = spec_.unit(unit);
  if (!packed_file_) {
    Linear w = float_linear(name, rows, cols);
    if (quantize_on_load_ && u.w_bits > 0) {
      to_float(&w, WeightFormat::kFp32);
      w.packed = k::quantize_pack(w.f32.data(), rows, cols, u.w_bits, u.group);
      w.f32 = k::AlignedBuffer<float>{};
      w.format = WeightFormat::kPacked;
      w.w_bits = u.w_bits;
      w.group = u.group;
    }
    return w;
  }
  const bool listed = packing_.contains(name);
  if (listed != (u.w_bits > 0)) {
    fail("packing metadata " + std::string(listed ? "lists " : "does not list ") + name +
         " but the quant config gives it w_bits " + std::to_string(u.w_bits));
  }
  if (!listed) return float_linear(name, rows, cols);
  const json& p = packing_[name];
  const std::string where = "packing." + name;
  auto geti = [&](const char* key) {
    if (!p.is_object() || !p.contains(key) || !p[key].is_number_integer()) {
      fail(where + "." + key + " is missing or not an integer");
    }
    return p[key].get<int64_t>();
  };
  auto gets = [&](const char* key, const std::string& fallback) {
    if (!p.contains(key)) return fallback;
    if (!p[key].is_string()) fail(where + "." + key + " is not a string");
    return p[key].get<std::string>();
  };
  const std::string format = gets("format", "");
  if (format != k::kPackFormat) {
    fail(where + ".format is '" + format + "'; this runtime reads " + k::kPackFormat);
  }
  const int64_t prow = geti("rows"), pcol = geti("cols"), bits = geti("w_bits"),
                group = geti("group");
  if (prow != rows || pcol != cols) {
    fail(where + " is " + std::to_string(prow) + "x" + std::to_string(pcol) +
         ", the architecture needs " + std::to_string(rows) + "x" + std::to_string(cols) +
         " (mismatched shapes)");
  }
  if (bits != u.w_bits || group != u.group) {
    fail(where + " has w_bits " + std::to_string(bits) + " group " + std::to_string(group) +
         ", the quant config says w_bits " + std::to_string(u.w_bits) + " group " +
         std::to_string(u.group));
  }
  const k::PackedLayout layout{rows, cols, static_cast<int>(bits), static_cast<int>(group)};
  const model::ModelTensor& data = tensor(gets("data", name + ".data"));
  const model::ModelTensor& scales = tensor(gets("scales", name + ".scales"));
  if (data.dtype != model::DType::kU8 || scales.dtype != model::DType::kF32) {
    fail(where + ": data must be U8 and scales F32");
  }
  Linear w;
  w.rows = rows;
  w.cols = cols;
  w.format = WeightFormat::kPacked;
  w.w_bits = layout.w_bits;
  w.group = layout.group;
  std::vector<float> s(scales.data.size() / 4);
  std::memcpy(s.data(), scales.data.data(), s.size() * 4);
  std::string err;
  if (!k::packed_from_buffers(layout, data.data.data(), static_cast<int64_t>(data.data.size()),
                              s.data(), static_cast<int64_t>(s.size()), &w.packed, &err)) {
    fail(where + ": " + err);
  }
  for (int r = 0; r < layout.rows_pad(); ++r) {
    for (int g = 0; g < layout.groups(); ++g) {
      const float v = w.packed.scales[k::scale_index(layout, r, g)];
      const bool ok = r < rows ? std::isfinite(v) && v > 0.0f : v == 0.0f;
      if (!ok) {
        fail(where + ": scale of row " + std::to_string(r) + " group " + std::to_string(g) +
             " is " + std::to_string(v) +
             (r < rows ? " (must be finite and positive)" : " (padding must be 0)"));
      }
    }
  }
  return w;
}

ActQuant ModelBuilder::point(const model::ActivationPoint& ap, int layer) {
  const std::string& point = ap.name;
  const std::string& unit = ap.unit;
  const model::UnitSpec u = spec_.unit(unit);
  ActQuant a;
  if (u.a_bits == 0) {
    if (acts_.contains(point))
      fail("activations." + point + " is listed but unit " + unit + " has a_bits 0");
    return a;
  }
  // The QAT engine's rules (qat/quant.cpp QuantState::add_act).
  const bool adaptive = spec_.adaptive(u) && point != "head.in";
  a.bits = adaptive ? spec_.token_adaptive->high_bits : u.a_bits;
  a.low_bits = adaptive && layer > 0 ? spec_.token_adaptive->low_bits : 0;
  a.prev_mask = ap.prev_mask;
  a.dynamic = spec_.dynamic();
  if (!packed_file_) {
    a.dynamic = true;  // quantize-on-load: no learned steps exist
    return a;
  }
  if (!acts_.contains(point))
    fail("activations." + point + " is missing (unit " + unit + " has a_bits)");
  const json& p = acts_[point];
  const std::string where = "activations." + point;
  auto geti = [&](const char* key) {
    if (!p.is_object() || !p.contains(key) || !p[key].is_number_integer()) {
      fail(where + "." + key + " is missing or not an integer");
    }
    return p[key].get<int>();
  };
  if (geti("bits") != a.bits || geti("low_bits") != a.low_bits) {
    fail(where + " has bits " + std::to_string(geti("bits")) + "/" +
         std::to_string(geti("low_bits")) + ", the quant config implies " + std::to_string(a.bits) +
         "/" + std::to_string(a.low_bits));
  }
  if (p.contains("mask") && p["mask"] != (a.prev_mask ? "prev" : "cur")) {
    fail(where + ".mask is " + p["mask"].dump() + ", expected \"" + (a.prev_mask ? "prev" : "cur") +
         "\"");
  }
  const std::string scale =
      p.contains("scale") && p["scale"].is_string() ? p["scale"].get<std::string>() : "lsq";
  if (scale != (a.dynamic ? "dynamic_absmax" : "lsq")) {
    fail(where + ".scale is '" + scale + "' but the quant config's activation_scale is " +
         (a.dynamic ? "dynamic" : "lsq"));
  }
  if (a.dynamic) return a;
  auto step = [&](const std::string& name) {
    const std::vector<float> v = floats(name, 1, 1);
    if (!(v[0] > 0.0f)) fail("tensor " + name + " = " + std::to_string(v[0]) + " must be positive");
    return v[0];
  };
  a.scale_hi = step(point + ".a_scale_hi");
  if (a.low_bits) a.scale_lo = step(point + ".a_scale_lo");
  return a;
}

void ModelBuilder::check_hash() {
  if (!opt_.verify_hash) {  // the caller checked the file already: take the metadata's word
    m_.data_sha256_ = f_.meta("data_sha256");
    return;
  }
  model::Sha256 h;
  for (const auto& t : f_.tensors) h.update(t.data.data(), t.data.size());
  m_.data_sha256_ = h.hex();
  const std::string want = f_.meta("data_sha256");
  if (!want.empty() && opt_.verify_hash) {
    if (want != m_.data_sha256_) {
      fail("data section has SHA-256 " + m_.data_sha256_ + " but metadata data_sha256 says " +
           want + " (corrupt file)");
    }
    m_.hash_verified_ = true;
  }
}

Model ModelBuilder::build() {
  m_.format_ = f_.meta("format");
  if (m_.format_.empty()) fail("metadata 'format' is missing: not a hilq model file");
  if (m_.format_ != kPackedFormat && m_.format_ != kCheckpointFormat) {
    fail("format '" + m_.format_ + "' is not supported (this runtime reads " + kPackedFormat +
         " and " + kCheckpointFormat + ")");
  }
  packed_file_ = m_.format_ == kPackedFormat;
  parse_architecture();
  check_hash();
  const Architecture& a = m_.arch_;
  m_.vocabulary_ = f_.meta("vocabulary");
  if (const std::string labels = f_.meta("labels"); !labels.empty()) {
    const auto j = nlohmann::json::parse(labels, nullptr, false);
    const bool names = j.is_array() &&
                       std::all_of(j.begin(), j.end(), [](const auto& e) { return e.is_string(); });
    if (!names || a.kind != ModelKind::kClassifier || static_cast<int>(j.size()) != a.n_classes)
      fail("metadata 'labels' must be a JSON array of " + std::to_string(a.n_classes) +
           " class names of a classifier");
    m_.class_labels_ = j.get<std::vector<std::string>>();
  }
  // A setting names either a quantized config or a float baseline (the weights mode).
  const std::optional<model::Setting>& setting = opt_.setting;
  const std::optional<model::Setting> quantized_setting =
      setting && setting->is_quantized() ? setting : std::nullopt;
  weights_ = opt_.weights;
  if (setting && setting->is_baseline()) {
    const WeightsMode want =
        setting->kind() == model::SettingKind::kFp16 ? WeightsMode::kFp16 : WeightsMode::kFp32;
    if (weights_ != WeightsMode::kAsStored && weights_ != want) {
      throw ConfigError(src_ + ": setting " + setting->label() +
                        " and the requested weights mode name different baselines");
    }
    weights_ = want;
  }
  if (setting && !setting->is_quantized() && !opt_.quant_config.empty()) {
    throw ConfigError(src_ + ": setting " + setting->label() +
                      " and a quant config are alternatives; give one");
  }
  if (packed_file_) {
    const std::string qc = f_.meta("quant_config");
    if (qc.empty()) fail("metadata 'quant_config' is missing");
    try {
      spec_ = model::QuantSpec::from_json(qc, "quant_config");
      spec_.validate(a.n_layers, "quant_config");
    } catch (const ConfigError& e) {
      fail(e.what());
    }
    if (quantized_setting) {
      if (quantized_setting->label() != model::quant_label(spec_, a.n_layers)) {
        throw ConfigError(
            src_ + ": setting " + quantized_setting->label() + " differs from the packed file's (" +
            model::quant_label(spec_, a.n_layers) + "); quantize-on-load needs a float model");
      }
    }
    if (!opt_.quant_config.empty()) {
      const model::QuantSpec want =
          model::QuantSpec::from_json(opt_.quant_config, "requested quant config");
      if (!(want == spec_)) {
        throw ConfigError(src_ + ": the requested quant config differs from the packed file's (" +
                          model::quant_label(spec_, a.n_layers) +
                          "); quantize-on-load needs a float model");
      }
    }
    m_.quant_config_ = qc;
    packing_ = meta_json("packing", true);
    acts_ = meta_json("activations", !spec_.empty());
  } else if (!opt_.quant_config.empty()) {
    spec_ = model::QuantSpec::from_json(opt_.quant_config, "quant config");
    spec_.validate(a.n_layers, "quant config");
    quantize_on_load_ = true;
    m_.quant_config_ = opt_.quant_config;
  } else if (quantized_setting) {
    spec_ = quantized_setting->to_quant_spec(a.n_layers);
    quantize_on_load_ = true;
    m_.quant_config_ = spec_.to_json();
  }
  const int d = a.d_model, ff = a.d_ff;
  m_.embed_ = unit_linear("embed", a.vocab_size, d);
  m_.layers_.resize(static_cast<size_t>(a.n_layers));
  for (int l = 0; l < a.n_layers; ++l) {
    Layer& L = m_.layers_[static_cast<size_t>(l)];
    const std::string p = "layers." + std::to_string(l) + ".";
    L.attn_norm = floats(p + "attn_norm.weight", 1, d);
    L.mlp_norm = floats(p + "mlp_norm.weight", 1, d);
    for (const char* m : {"attn.q", "attn.k", "attn.v"}) L.qkv.push_back(unit_linear(p + m, d, d));
    L.o = unit_linear(p + "attn.o", d, d);
    L.gate_up.push_back(unit_linear(p + "mlp.gate", ff, d));
    L.gate_up.push_back(unit_linear(p + "mlp.up", ff, d));
    L.down = unit_linear(p + "mlp.down", d, ff);
    ActQuant* pts[] = {&L.qkv_in, &L.q_out, &L.k_out, &L.v_out, &L.o_in, &L.gate_up_in, &L.down_in};
    const auto points = model::activation_points(l);
    for (size_t i = 0; i < points.size(); ++i) *pts[i] = point(points[i], l);
    if (L.q_out.quantized() != L.k_out.quantized())
      fail(p + "q.out and k.out must both be quantized or both float");
    L.probs_quantized = L.v_out.quantized();
  }
  // A classifier pools the final hidden states: it has no LM head, so no head input point.
  if (a.kind == ModelKind::kCausalLm)
    m_.head_in_ = point(model::head_activation_point(), a.n_layers);
  m_.final_norm_ = floats("final_norm.weight", 1, d);
  if (a.kind == ModelKind::kClassifier) {
    m_.cls_head_ = float_linear("cls_head.weight", a.n_classes, d);
    m_.cls_bias_ = floats("cls_head.bias", 1, a.n_classes);
    to_float(&m_.cls_head_, WeightFormat::kFp32);
  }
  if (packed_file_) {
    for (auto it = acts_.begin(); it != acts_.end(); ++it) {
      // A classifier's head.in is accepted and unused: the search's packer wrote it for a
      // classifier's embedding unit until the QAT engine learned that a classifier has no head.
      bool known = it.key() == model::head_activation_point().name;
      for (int l = 0; l < a.n_layers && !known; ++l) {
        for (const auto& p : model::activation_points(l)) known = known || p.name == it.key();
      }
      if (!known) fail("activations lists unknown point '" + it.key() + "'");
    }
    for (const auto& t : f_.tensors) {
      if (!used_.contains(t.name)) fail("tensor " + t.name + " is not part of this architecture");
    }
  }
  TokenPolicy& pol = m_.policy_;
  if (spec_.token_adaptive) {
    pol.high_fraction = spec_.token_adaptive->high_fraction;
    pol.high_bits = spec_.token_adaptive->high_bits;
    pol.low_bits = spec_.token_adaptive->low_bits;
  }
  for (const Layer& L : m_.layers_) {
    for (const ActQuant* q :
         {&L.qkv_in, &L.q_out, &L.k_out, &L.v_out, &L.o_in, &L.gate_up_in, &L.down_in}) {
      pol.any_adaptive = pol.any_adaptive || q->adaptive();
    }
  }
  m_.label_ = model::quant_label(spec_, a.n_layers);
  if (weights_ != WeightsMode::kAsStored) {
    const WeightFormat wf =
        weights_ == WeightsMode::kFp16 ? WeightFormat::kFp16 : WeightFormat::kFp32;
    m_.label_ =
        (wf == WeightFormat::kFp16 ? model::Setting::fp16() : model::Setting::fp32()).label();
    to_float(&m_.embed_, wf);
    m_.head_in_ = ActQuant{};
    for (Layer& L : m_.layers_) {
      for (Linear* w :
           {L.qkv.data(), &L.qkv[1], &L.qkv[2], &L.o, L.gate_up.data(), &L.gate_up[1], &L.down}) {
        to_float(w, wf);
      }
      for (ActQuant* q :
           {&L.qkv_in, &L.q_out, &L.k_out, &L.v_out, &L.o_in, &L.gate_up_in, &L.down_in}) {
        *q = ActQuant{};
      }
      L.probs_quantized = false;
    }
    pol = TokenPolicy{};
  } else {
    // Packed weights whose input stays float (weight-only quantization) run as dequantized fp32.
    if (m_.embed_.format == WeightFormat::kPacked && !m_.head_in_.quantized() &&
        a.kind == ModelKind::kCausalLm) {
      to_float(&m_.embed_, WeightFormat::kFp32);
    }
    for (Layer& L : m_.layers_) {
      const std::pair<std::vector<Linear*>, const ActQuant*> groups[] = {
          {{L.qkv.data(), &L.qkv[1], &L.qkv[2]}, &L.qkv_in},
          {{&L.o}, &L.o_in},
          {{L.gate_up.data(), &L.gate_up[1]}, &L.gate_up_in},
          {{&L.down}, &L.down_in}};
      for (const auto& [ws, in] : groups) {
        for (Linear* w : ws) {
          if (w->format == WeightFormat::kPacked && !in->quantized())
            to_float(w, WeightFormat::kFp32);
        }
      }
    }
  }
  if (opt_.float_fp16 && weights_ == WeightsMode::kAsStored) {
    if (m_.embed_.format == WeightFormat::kFp32) to_float(&m_.embed_, WeightFormat::kFp16);
    for (Layer& L : m_.layers_) {
      for (Linear* w :
           {L.qkv.data(), &L.qkv[1], &L.qkv[2], &L.o, L.gate_up.data(), &L.gate_up[1], &L.down}) {
        if (w->format == WeightFormat::kFp32) to_float(w, WeightFormat::kFp16);
      }
    }
    // A float model in fp16 storage is the FP16 baseline; a quantized one keeps its label + "-F16".
    const bool float_model = m_.label_ == model::Setting::fp32().label();
    m_.label_ = float_model ? model::Setting::fp16().label() : m_.label_ + "-F16";
  }
  if (opt_.fuse) {
    for (Layer& L : m_.layers_) {
      L.qkv = fuse(std::move(L.qkv));
      L.gate_up = fuse(std::move(L.gate_up));
    }
  }
  return std::move(m_);
}

Model Model::from_file(const model::ModelFile& file, const LoadOptions& options,
                       const std::string& source) {
  return ModelBuilder(file, options, source).build();
}

Model Model::load(const std::string& path, const LoadOptions& options) {
  model::ModelFile file;
  const std::string err = model::read_model_file(path, &file);
  if (!err.empty()) throw ModelError(err);
  Model m = from_file(file, options, path);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  m.file_bytes_ = ec ? 0 : static_cast<int64_t>(size);
  return m;
}

int64_t Model::weight_bytes() const {
  int64_t n = embed_.bytes() + static_cast<int64_t>(final_norm_.size()) * 4;
  for (const Layer& L : layers_) {
    for (const Linear& w : L.qkv) n += w.bytes();
    for (const Linear& w : L.gate_up) n += w.bytes();
    n += L.o.bytes() + L.down.bytes();
    n += static_cast<int64_t>(L.attn_norm.size() + L.mlp_norm.size()) * 4;
  }
  n += cls_head_.bytes() + static_cast<int64_t>(cls_bias_.size()) * 4;
  return n;
}

}  // namespace hilq::runtime
