// Export of a QAT'd model to the packed model file, and back: the packed integer weights and
// scales equal the fake-quantized training weights exactly, for every bit width and grouping;
// the metadata carries the data section's SHA-256 (verified by the runtime) and class labels.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "kernels/pack.h"
#include "kernels/quantize.h"
#include "model/model_file.h"
#include "model/sha256.h"
#include "qat/export.h"
#include "qat/train.h"
#include "runtime/model.h"
#include "tests/qat/fixtures.h"

namespace hilq::qat {
namespace {

using testing::micro_config;
using testing::micro_train;
using testing::micro_world;

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// SHA-256 of the bytes after the 8-byte length and the JSON header, read straight from the file
// (independent of the exporter's in-memory tensor list).
std::string data_section_sha256(const std::vector<uint8_t>& bytes) {
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[static_cast<size_t>(i)]) << (8 * i);
  REQUIRE(8 + n <= bytes.size());
  return model::sha256_hex(bytes.data() + 8 + n, bytes.size() - 8 - n);
}

QuantState calibrated(Task task, Transformer& m, const model::QuantSpec& qc) {
  QuantState qs(qc, m.config().n_layers);
  TrainConfig c = micro_train(1);
  calibrate(task, m, &qs, micro_world().data, c, 1, QuantState::Init::kLsq);
  return qs;
}

TEST_CASE("exported packed weights equal the fake-quantized ones exactly", "[export]") {
  const auto& w = micro_world();
  Transformer m(micro_config(ModelKind::kCausalLm), 31);
  // Mixed widths and groupings across units, token-adaptive activations.
  model::QuantSpec qc =
      model::QuantSpec::uniform(2, 4, 4, 0, model::TokenAdaptivePolicy{8, 4, 0.5});
  qc.units["layers.0.attn.q"].w_bits = 2;
  qc.units["layers.0.attn.k"].w_bits = 3;
  qc.units["layers.0.attn.k"].group = 32;
  qc.units["layers.0.mlp.up"].w_bits = 6;
  qc.units["layers.1.mlp.down"].w_bits = 8;
  qc.units["layers.1.mlp.down"].group = 64;
  qc.units["embed"] = model::UnitSpec{8, 0, 0};
  QuantState qs(qc, 2);
  TrainConfig c = micro_train(5);
  calibrate(Task::kLm, m, &qs, w.data, c, 1, QuantState::Init::kLsq);
  train(Task::kLm, m, &qs, nullptr, SquatLossConfig{false, false, false}, w.data, c,
        w.tok);  // steps move

  const std::string path = "/tmp/hilq_test_export.safetensors";
  const ExportSummary sum = export_packed_model(path, m, qs, w.tok);
  REQUIRE(sum.packed_tensors == 2 * 7 + 1);
  model::ModelFile f;
  REQUIRE(model::read_model_file(path, &f) == "");
  REQUIRE(f.meta("format") == kPackedFormat);
  REQUIRE(model::QuantSpec::from_json(f.meta("quant_config")).to_json() == qc.to_json());
  REQUIRE(model::BpeTokenizer::from_json(f.meta("vocabulary")).to_json() == w.tok.to_json());
  REQUIRE(ModelConfig::from_json(f.meta("architecture")).to_json() == m.config().to_json());
  REQUIRE(f.find("layers.0.attn.q.weight") == nullptr);  // packed units are not stored as float
  REQUIRE(f.find("final_norm.weight") != nullptr);
  REQUIRE(f.find("layers.1.mlp.down.in.a_scale_lo") != nullptr);

  for (const auto& [unit, wp] : qs.weights()) {
    CAPTURE(unit);
    const std::string name = unit == "embed" ? "embed.weight" : unit + ".weight";
    const Mat fake = lsq_weight(m.param(name), wp.step, wp.bits, wp.group)->value;
    const model::ModelTensor* data = f.find(name + ".data");
    const model::ModelTensor* scales = f.find(name + ".scales");
    REQUIRE(data);
    REQUIRE(scales);
    const kernels::PackedLayout layout{static_cast<int>(fake.rows()), static_cast<int>(fake.cols()),
                                       wp.bits, wp.group};
    kernels::PackedWeights pw;
    std::string err;
    REQUIRE(kernels::packed_from_buffers(layout, data->data.data(),
                                         static_cast<int64_t>(data->data.size()),
                                         reinterpret_cast<const float*>(scales->data.data()),
                                         static_cast<int64_t>(scales->data.size() / 4), &pw, &err));
    Mat deq(fake.rows(), fake.cols());
    kernels::dequantize_weights(pw, deq.data());
    REQUIRE(deq == fake);  // bit-exact
    std::vector<int8_t> q(static_cast<size_t>(fake.size()));
    std::vector<float> s(static_cast<size_t>(wp.step->value.size()));
    kernels::unpack_weights(pw, q.data(), s.data());
    for (Eigen::Index i = 0; i < wp.step->value.size(); ++i)
      REQUIRE(s[static_cast<size_t>(i)] == wp.step->value.data()[i]);
    const Mat& wv = m.param(name)->value;
    const int gsize = wp.group ? wp.group : static_cast<int>(wv.cols());
    for (Eigen::Index r = 0; r < wv.rows(); r += 7) {
      for (Eigen::Index col = 0; col < wv.cols(); ++col) {
        REQUIRE(q[static_cast<size_t>(r * wv.cols() + col)] ==
                kernels::quantize_value(wv(r, col), wp.step->value(r, col / gsize), wp.bits));
      }
    }
  }
}

TEST_CASE("the exported file carries the SHA-256 of its data section and the runtime verifies it",
          "[export]") {
  Transformer m(micro_config(ModelKind::kCausalLm), 32);
  const QuantState qs = calibrated(
      Task::kLm, m, model::QuantSpec::uniform(2, 4, 4, 0, model::TokenAdaptivePolicy{8, 4, 0.5}));
  const std::string path = "/tmp/hilq_test_export_hash.safetensors";
  const ExportSummary sum = export_packed_model(path, m, qs, micro_world().tok);
  model::ModelFile f;
  REQUIRE(model::read_model_file(path, &f) == "");
  const std::string meta = f.meta("data_sha256");
  REQUIRE(meta.size() == 64);
  REQUIRE(meta.find_first_not_of("0123456789abcdef") == std::string::npos);
  std::vector<uint8_t> bytes = file_bytes(path);
  REQUIRE(meta == data_section_sha256(bytes));
  REQUIRE(meta == sum.data_sha256);
  REQUIRE(f.meta("labels").empty());  // a causal LM has no classes

  const runtime::Model rm = runtime::Model::load(path);
  REQUIRE(rm.hash_verified());
  REQUIRE(rm.data_sha256() == meta);

  // One flipped bit in the last tensor byte: the runtime refuses the file as corrupt.
  bytes.back() ^= 1;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  REQUIRE_THROWS_AS(runtime::Model::load(path), runtime::ModelError);
  std::remove(path.c_str());
}

TEST_CASE("a classifier's export names its classes in the metadata", "[export]") {
  Transformer enc(micro_config(ModelKind::kClassifier), 33);
  const QuantState qs = calibrated(Task::kCls, enc, model::QuantSpec::uniform(2, 8, 8));
  const std::string path = "/tmp/hilq_test_export_cls.safetensors";

  SECTION("by default the sentiment task's names, by class id") {
    const ExportSummary sum = export_packed_model(path, enc, qs, micro_world().tok);
    model::ModelFile f;
    REQUIRE(model::read_model_file(path, &f) == "");
    REQUIRE(nlohmann::json::parse(f.meta("labels")) ==
            nlohmann::json::array({"negative", "positive"}));
    REQUIRE(f.meta("data_sha256") == data_section_sha256(file_bytes(path)));
    REQUIRE(f.meta("data_sha256") == sum.data_sha256);
    REQUIRE(runtime::Model::load(path).hash_verified());
  }
  SECTION("or the names given") {
    export_packed_model(path, enc, qs, micro_world().tok, {"bad", "good"});
    model::ModelFile f;
    REQUIRE(model::read_model_file(path, &f) == "");
    REQUIRE(f.meta("labels") == R"(["bad","good"])");
  }
  SECTION("a label count other than n_classes is refused") {
    REQUIRE_THROWS_AS(export_packed_model(path, enc, qs, micro_world().tok, {"only"}), QatError);
  }
  std::remove(path.c_str());
}

TEST_CASE("labels given for a causal LM are refused", "[export]") {
  Transformer m(micro_config(ModelKind::kCausalLm), 34);
  const QuantState qs = calibrated(Task::kLm, m, model::QuantSpec::uniform(2, 8, 8));
  REQUIRE_THROWS_AS(export_packed_model("/tmp/hilq_test_export_lm_labels.safetensors", m, qs,
                                        micro_world().tok, {"a", "b"}),
                    QatError);
}

}  // namespace
}  // namespace hilq::qat
