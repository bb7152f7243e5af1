// Packed export: learned LSQ steps become the kernels' scales; kernels::quantize_pack computes the
// codes with the shared quantizer, so they equal the fake-quantized training weights exactly.
#include "qat/export.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "kernels/pack.h"
#include "model/model_file.h"
#include "model/sha256.h"
#include "qat/data.h"

namespace hilq::qat {

namespace {
// "export: <tensor>: <what is wrong>".
QatError export_error(const std::string& tensor, const std::string& what) {
  return QatError("export: " + tensor + ": " + what);
}

// The class names written for a classifier (see export.h), checked against the model.
std::vector<std::string> class_labels(const ModelConfig& cfg,
                                      const std::vector<std::string>& labels) {
  if (cfg.kind != ModelKind::kClassifier) {
    if (!labels.empty()) throw QatError("export: class labels given for a causal LM");
    return {};
  }
  std::vector<std::string> out = labels;
  if (out.empty()) out.assign(kSentimentLabels.begin(), kSentimentLabels.end());
  if (static_cast<int>(out.size()) != cfg.n_classes) {
    throw QatError("export: " + std::to_string(out.size()) + " class labels for a classifier of " +
                   std::to_string(cfg.n_classes) + " classes");
  }
  return out;
}

// SHA-256 of the data section as serialize_model_file lays it out: the tensors' bytes in order.
std::string data_sha256(const model::ModelFile& f) {
  model::Sha256 h;
  for (const auto& t : f.tensors) h.update(t.data.data(), t.data.size());
  return h.hex();
}

}  // namespace

ExportSummary export_packed_model(const std::string& path, const Transformer& model,
                                  const QuantState& quant, const model::BpeTokenizer& tokenizer,
                                  const std::vector<std::string>& labels) {
  const std::vector<std::string> names = class_labels(model.config(), labels);
  model::ModelFile f;
  ExportSummary s;
  f.metadata["format"] = kPackedFormat;
  f.metadata["architecture"] = model.config().to_json();
  f.metadata["vocabulary"] = tokenizer.to_json();
  f.metadata["quant_config"] = quant.config().to_json();
  if (!names.empty()) f.metadata["labels"] = nlohmann::json(names).dump();
  nlohmann::json packing = nlohmann::json::object();
  std::set<std::string> packed_params;
  for (const auto& [unit, wp] : quant.weights()) {
    const std::string name = unit == "embed" ? "embed.weight" : unit + ".weight";
    const Mat& w = model.param(name)->value;
    const int rows = static_cast<int>(w.rows()), cols = static_cast<int>(w.cols());
    if (!wp.step)
      throw QatError("export: quantizer of " + unit + " has no steps (calibrate first)");
    const kernels::PackedLayout layout{rows, cols, wp.bits, wp.group};
    const std::string bad = layout.validate();
    if (!bad.empty()) throw export_error(name, bad);
    const kernels::PackedWeights pw =
        kernels::quantize_pack(w.data(), rows, cols, wp.bits, wp.group, wp.step->value.data());
    f.add(name + ".data", model::DType::kU8, {layout.data_bytes()}, pw.data.data());
    f.add_f32(name + ".scales", {layout.scale_count()}, pw.scales.data());
    packing[name] = {{"format", kernels::kPackFormat},
                     {"rows", rows},
                     {"cols", cols},
                     {"w_bits", wp.bits},
                     {"group", wp.group},
                     {"data", name + ".data"},
                     {"scales", name + ".scales"}};
    packed_params.insert(name);
    ++s.packed_tensors;
    s.packed_bytes += pw.bytes();
  }
  for (const auto& [name, v] : model.named_parameters()) {
    if (!packed_params.contains(name)) f.add_f32(name, {v->rows(), v->cols()}, v->value.data());
  }
  nlohmann::json acts = nlohmann::json::object();
  const bool dynamic = quant.config().dynamic();
  for (const auto& [point, a] : quant.acts()) {
    nlohmann::json j = {{"bits", a.bits},
                        {"low_bits", a.low_bits},
                        {"mask", a.prev_mask ? "prev" : "cur"},
                        {"scale", dynamic ? "dynamic_absmax" : "lsq"}};
    if (!dynamic) {
      f.add_f32(point + ".a_scale_hi", {1}, a.step_hi->value.data());
      j["scale_hi"] = a.step_hi->scalar();
      if (a.step_lo) {
        f.add_f32(point + ".a_scale_lo", {1}, a.step_lo->value.data());
        j["scale_lo"] = a.step_lo->scalar();
      }
    }
    acts[point] = std::move(j);
  }
  f.metadata["packing"] = packing.dump();
  f.metadata["activations"] = acts.dump();
  f.metadata["attention"] = nlohmann::json{
      {"probs_bits", kProbBits},
      {"probs_scale", kProbScale},
      {"probs_quantized_when", "the layer's attn.v.out point is quantized"},
      {"importance", "mean over heads of attention to token 0; top ceil(f*len) high"},
      {"layer0", "high"}}.dump();
  s.data_sha256 = data_sha256(f);  // last: every tensor is in
  f.metadata["data_sha256"] = s.data_sha256;
  const std::string err = model::write_model_file(path, f);
  if (!err.empty()) throw QatError("export: " + err);
  s.file_bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  return s;
}

}  // namespace hilq::qat
