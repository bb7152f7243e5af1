// Export of a QAT'd model to the packed model file, and back: the packed integer weights and
// scales equal the fake-quantized training weights exactly, for every bit width and grouping.
#include <catch2/catch.hpp>

#include "kernels/model_file.h"
#include "kernels/pack.h"
#include "kernels/quantize.h"
#include "qat/export.h"
#include "qat/train.h"
#include "tests/qat/fixtures.h"

namespace hilq::qat {
namespace {

using testing::micro_config;
using testing::micro_train;
using testing::micro_world;

TEST_CASE("exported packed weights equal the fake-quantized ones exactly", "[export]") {
  const auto& w = micro_world();
  Transformer m(micro_config(ModelKind::kCausalLm), 31);
  // Mixed widths and groupings across units, token-adaptive activations.
  QuantConfig qc = QuantConfig::uniform(2, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5});
  qc.units["layers.0.attn.q"].w_bits = 2;
  qc.units["layers.0.attn.k"].w_bits = 3;
  qc.units["layers.0.attn.k"].group = 32;
  qc.units["layers.0.mlp.up"].w_bits = 6;
  qc.units["layers.1.mlp.down"].w_bits = 8;
  qc.units["layers.1.mlp.down"].group = 64;
  qc.units["embed"] = UnitQuant{8, 0, 0};
  QuantState qs(qc, 2);
  TrainConfig c = micro_train(5);
  calibrate(Task::kLm, m, &qs, w.data, c, 1, QuantState::Init::kLsq);
  train(Task::kLm, m, &qs, nullptr, SquatLossConfig{false, false, false}, w.data, c,
        w.tok);  // steps move

  const std::string path = "/tmp/hilq_test_export.safetensors";
  const ExportSummary sum = export_packed_model(path, m, qs, w.tok);
  REQUIRE(sum.packed_tensors == 2 * 7 + 1);
  kernels::ModelFile f;
  REQUIRE(kernels::read_model_file(path, &f) == "");
  REQUIRE(f.meta("format") == kPackedFormat);
  REQUIRE(QuantConfig::from_json(f.meta("quant_config")).to_json() == qc.to_json());
  REQUIRE(BpeTokenizer::from_json(f.meta("vocabulary")).to_json() == w.tok.to_json());
  REQUIRE(ModelConfig::from_json(f.meta("architecture")).to_json() == m.config().to_json());
  REQUIRE(f.find("layers.0.attn.q.weight") == nullptr);  // packed units are not stored as float
  REQUIRE(f.find("final_norm.weight") != nullptr);
  REQUIRE(f.find("layers.1.mlp.down.in.a_scale_lo") != nullptr);

  for (const auto& [unit, wp] : qs.weights()) {
    CAPTURE(unit);
    const std::string name = unit == "embed" ? "embed.weight" : unit + ".weight";
    const Mat fake = lsq_weight(m.param(name), wp.step, wp.bits, wp.group)->value;
    const kernels::ModelTensor* data = f.find(name + ".data");
    const kernels::ModelTensor* scales = f.find(name + ".scales");
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

}  // namespace
}  // namespace hilq::qat
