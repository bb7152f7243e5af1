// Runtime vs the QAT engine: the packed file qat/export.cpp writes, run by the runtime on the
// kernels' integer arithmetic, gives the logits of the QAT engine's fake-quantized forward on the
// LM test split, for every bit configuration; likewise the classifier's class probabilities.
// Needs qat (Eigen), so it is its own executable; "[.golden]" writes the fixture that
// hilq_tests_runtime checks on every kernel path, qemu-aarch64 included (tests/runtime/golden.h).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>

#include "qat/export.h"
#include "qat/train.h"
#include "runtime/bench.h"
#include "runtime/session.h"
#include "tests/qat/fixtures.h"
#include "tests/runtime/golden.h"

namespace hilq::runtime {
namespace {

using model::QuantSpec;
using model::TokenAdaptivePolicy;
using model::UnitSpec;
using qat::testing::micro_config;
using qat::testing::micro_train;
using qat::testing::micro_world;

constexpr int kWindows = 8, kSeq = 32;

// Why these tolerances: the runtime multiplies the same integer codes as the QAT engine, so the
// only differences are float rounding (Eigen's float GEMM of dequantized values vs an exact int32
// sum times two scales: ~1e-6 relative) and, through it, an activation landing on the other side
// of a rounding boundary now and then, which moves that element by one quantization step.
// Measured on x86 (avx512vnni, avx2, ref): max |diff| 4e-6 for logits spanning +-8 when no
// activation flips. A flip is not bounded by a small number: one activation 1 ulp apart on the two
// sides, exactly on a rounding boundary (e.g. -4.5 steps: round-half-even gives -4 on one side,
// -5 on the other), moves by a whole step and spreads through the later layers and tokens of its
// window. Seen at W6A8 (layers.0.mlp.down.in, max |diff| 0.105 over 10 of 256 positions) and after
// 20 Squat steps (a 4-bit step of layers.1.mlp.gate_up.in, 0.080 at 1 position). A systematic
// error (a wrong scale, clamp or packing) hits every position instead; the bit-exact weight test
// above rules those out for the weights. Required: mean |diff| under 1e-4 of the logit range,
// >= 98% of positions with every logit within 1% of the range, and >= 99% identical greedy tokens.
constexpr double kMeanTol = 1e-4, kMaxTol = 0.01, kMinAgreement = 0.99, kMinExactPositions = 0.98;

struct QatCase {
  std::string label;
  QuantSpec qc;
};

std::vector<QatCase> qat_cases() {
  std::vector<QatCase> c;
  c.push_back({"FP32", QuantSpec{}});
  for (auto [w, a] :
       {std::pair{8, 8}, {6, 8}, {4, 8}, {3, 8}, {2, 8}, {8, 4}, {6, 4}, {4, 4}, {3, 4}, {2, 4}}) {
    c.push_back({"W" + std::to_string(w) + "A" + std::to_string(a), QuantSpec::uniform(2, w, a)});
  }
  c.push_back({"W4A4-TA8/4 (0.5)", QuantSpec::uniform(2, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5})});
  c.push_back(
      {"W8A4-TA8/4 (0.25)", QuantSpec::uniform(2, 8, 4, 0, TokenAdaptivePolicy{8, 4, 0.25})});
  c.push_back({"W4A8g32", QuantSpec::uniform(2, 4, 8, 32)});
  c.push_back({"W2A4g64-TA8/4", QuantSpec::uniform(2, 2, 4, 64, TokenAdaptivePolicy{8, 4, 0.5})});
  QuantSpec dyn = QuantSpec::uniform(2, 4, 8, 0, TokenAdaptivePolicy{8, 4, 0.5});
  dyn.units["layers.1.mlp.down"].a_bits = 4;  // one adaptive point among uniform ones
  dyn.act_scale = model::ActScaleMode::kDynamic;
  c.push_back({"W4A8 dynamic, TA down", dyn});
  QuantSpec head = QuantSpec::uniform(2, 8, 8);
  head.units["embed"] = UnitSpec{8, 8, 0};
  c.push_back({"W8A8 + int8 LM head", head});
  c.push_back(
      {"W4A4-E8", model::Setting::parse("W4A4-E8").to_quant_spec(2, model::ActScaleMode::kLsq)});
  c.push_back({"W4A4-TA8/4-E4",
               model::Setting::parse("W4A4-TA8/4-E4").to_quant_spec(2, model::ActScaleMode::kLsq)});
  QuantSpec wonly = QuantSpec::uniform(2, 4, 8);
  wonly.units["embed"] = UnitSpec{4, 0, 0};
  wonly.units["layers.0.mlp.down"] = UnitSpec{3, 0, 32};
  c.push_back({"W4A8 + weight-only W4 embedding, W3 down", wonly});
  return c;
}

// The micro LM of the QAT tests, trained briefly so that its greedy choices are decisive.
const qat::Transformer& trained_lm() {
  static const qat::Transformer m = [] {
    qat::Transformer t(micro_config(model::ModelKind::kCausalLm), 5);
    qat::train(qat::Task::kLm, t, nullptr, nullptr, qat::SquatLossConfig{false, false, false},
               micro_world().data, micro_train(200), micro_world().tok);
    return t;
  }();
  return m;
}

std::vector<int32_t> test_windows() {
  const auto& s = micro_world().data.lm_test;
  REQUIRE(s.size() >= static_cast<size_t>(kWindows * kSeq));
  return {s.begin(), s.begin() + kWindows * kSeq};
}

std::string temp_path(const std::string& tag) {
  return "/tmp/hilq_rtqat_" + std::to_string(::getpid()) + "_" + tag + ".safetensors";
}

struct Calibrated {
  std::unique_ptr<qat::QuantState> qs;
  qat::Mat logits;  // QAT fake-quantized forward, (windows * seq) x vocab
};

Calibrated calibrate_and_run(const qat::Transformer& m, const QuantSpec& qc,
                             const std::vector<int32_t>& ids) {
  Calibrated c;
  c.qs = std::make_unique<qat::QuantState>(qc, m.config().n_layers);
  if (!qc.empty()) {
    qat::calibrate(qat::Task::kLm, m, c.qs.get(), micro_world().data, micro_train(1), 2,
                   qat::QuantState::Init::kLsq);
  }
  qat::NoGrad ng;
  qat::Batch b;
  b.batch = kWindows;
  b.seq = kSeq;
  b.ids = ids;
  qat::ForwardOptions fo;
  fo.quant = qc.empty() ? nullptr : c.qs.get();
  const qat::ForwardResult r = m.forward(b, fo);
  c.logits = m.lm_logits(r.hidden, fo.quant, r.last_mask)->value;
  return c;
}

test::Agreement compare(const Model& rm, const qat::Mat& want, const std::vector<int32_t>& ids) {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  SessionOptions so;
  so.all_logits = true;
  Session s(rm, ctx, so);
  const int V = rm.arch().vocab_size;
  test::Agreement a;
  for (int w = 0; w < kWindows; ++w) {
    s.reset();
    const auto out = s.prefill(std::span<const int32_t>(ids.data() + w * kSeq, kSeq), true);
    for (int t = 0; t < kSeq; ++t) {
      const float* q = want.data() + static_cast<int64_t>(w * kSeq + t) * V;
      const float* r = out.data() + int64_t{t} * V;
      a.add(r, q, V);
      a.positions += 1;
      a.same_argmax += argmax(r, V) == argmax(q, V);
    }
  }
  return a;
}

void check(const std::string& label, const test::Agreement& a) {
  std::printf(
      "  %-44s greedy %5.1f%% of %d, |diff| max %.2e mean %.2e, logit range %.2f, "
      "%.1f%% of positions within 1%%\n",
      label.c_str(), 100.0 * a.agreement(), a.positions, a.max_abs, a.mean_abs(), a.logit_range,
      100.0 * a.fraction_within(kMaxTol * a.logit_range));
  CAPTURE(label, a.max_abs, a.mean_abs(), a.logit_range, a.agreement());
  CHECK(a.agreement() >= kMinAgreement);
  CHECK(a.mean_abs() <= kMeanTol * a.logit_range);
  CHECK(a.fraction_within(kMaxTol * a.logit_range) >= kMinExactPositions);
}

TEST_CASE(
    "runtime logits match the QAT engine's fake-quantized forward for every bit configuration",
    "[runtime][qat]") {
  const qat::Transformer& m = trained_lm();
  const auto ids = test_windows();
  std::printf("runtime vs QAT, micro LM, %d x %d test tokens:\n", kWindows, kSeq);
  for (const QatCase& c : qat_cases()) {
    const Calibrated cal = calibrate_and_run(m, c.qc, ids);
    const std::string path = temp_path("agree");
    qat::export_packed_model(path, m, *cal.qs, micro_world().tok);
    const Model rm = Model::load(path);
    std::remove(path.c_str());
    check(c.label, compare(rm, cal.logits, ids));
  }
}

TEST_CASE("after QAT steps (weights and steps trained) the runtime still matches",
          "[runtime][qat]") {
  qat::Transformer m(micro_config(model::ModelKind::kCausalLm), 5);
  m.copy_from(trained_lm());
  const QuantSpec qc = QuantSpec::uniform(2, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5});
  qat::QuantState qs(qc, 2);
  qat::calibrate(qat::Task::kLm, m, &qs, micro_world().data, micro_train(1), 2,
                 qat::QuantState::Init::kLsq);
  qat::train(qat::Task::kLm, m, &qs, &trained_lm(), qat::SquatLossConfig{}, micro_world().data,
             micro_train(20), micro_world().tok);
  const auto ids = test_windows();
  qat::Mat want;
  {
    qat::NoGrad ng;
    qat::Batch b{kWindows, kSeq, ids, {}};
    qat::ForwardOptions fo;
    fo.quant = &qs;
    const auto r = m.forward(b, fo);
    want = m.lm_logits(r.hidden, &qs, r.last_mask)->value;
  }
  const std::string path = temp_path("trained");
  qat::export_packed_model(path, m, qs, micro_world().tok);
  const Model rm = Model::load(path);
  std::remove(path.c_str());
  check("W4A4-TA8/4 after 20 Squat QAT steps", compare(rm, want, ids));
}

TEST_CASE("classifier probabilities match the QAT engine's", "[runtime][qat]") {
  const auto& w = micro_world();
  static const qat::Transformer enc = [&] {
    qat::Transformer t(micro_config(model::ModelKind::kClassifier), 9);
    qat::TrainConfig c = micro_train(80);
    c.seq = 64;
    qat::train(qat::Task::kCls, t, nullptr, nullptr, qat::SquatLossConfig{false, false, false},
               w.data, c, w.tok);
    return t;
  }();
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  for (const QatCase& c :
       {QatCase{"FP32", QuantSpec{}}, QatCase{"W8A8", QuantSpec::uniform(2, 8, 8)},
        QatCase{"W4A4-TA8/4", QuantSpec::uniform(2, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5})},
        QatCase{"W4A8-E4",
                model::Setting::parse("W4A8-E4").to_quant_spec(2, model::ActScaleMode::kLsq)}}) {
    // A classifier's embedding unit quantizes the token lookup only: it has no LM head input.
    qat::QuantState qs(c.qc, 2, model::ModelKind::kClassifier);
    CHECK_FALSE(qs.has_act(model::head_activation_point().name));
    if (!c.qc.empty()) {
      qat::TrainConfig tc = micro_train(1);
      tc.seq = 64;
      qat::calibrate(qat::Task::kCls, enc, &qs, w.data, tc, 2, qat::QuantState::Init::kLsq);
    }
    const std::string path = temp_path("cls");
    qat::export_packed_model(path, enc, qs, w.tok);
    const Model rm = Model::load(path);
    std::remove(path.c_str());
    Session s(rm, ctx);
    int same = 0, n = 0;
    double max_diff = 0;
    for (const auto& x : w.data.cls_test_x) {
      if (static_cast<int>(x.size()) > s.max_chunk()) continue;
      qat::NoGrad ng;
      qat::Batch b{1, static_cast<int>(x.size()), x, {static_cast<int>(x.size())}};
      qat::ForwardOptions fo;
      fo.quant = c.qc.empty() ? nullptr : &qs;
      const auto r = enc.forward(b, fo);
      const qat::Mat logits = enc.class_logits(r, b)->value;
      const auto p = s.classify(x);
      const float mx = logits.maxCoeff();
      const float z = (logits.array() - mx).exp().sum();
      for (int k = 0; k < logits.cols(); ++k) {
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(p[static_cast<size_t>(k)]) -
                                                std::exp(logits(0, k) - mx) / z));
      }
      Eigen::Index best;
      logits.row(0).maxCoeff(&best);
      same += argmax(p.data(), static_cast<int>(p.size())) == best;
      ++n;
    }
    std::printf("  classifier %-12s same label %d/%d, max |p diff| %.2e\n", c.label.c_str(), same,
                n, max_diff);
    CAPTURE(c.label);
    REQUIRE(n >= 40);
    CHECK(same >= 0.99 * n);
    CHECK(max_diff < 0.02);
  }
}

// The weights the runtime holds (after loading and fusing q|k|v, gate|up) are, element for
// element, the QAT engine's fake-quantized weights: scale * code with the same codes, at every
// width and group. Rules out the packing, the exporter and the loader as a source of disagreement.
TEST_CASE("the runtime holds the QAT engine's fake-quantized weights bit for bit, every width",
          "[runtime][qat]") {
  const qat::Transformer& m = trained_lm();
  for (const int group : {0, 32}) {
    for (const int w_bits : {2, 3, 4, 6, 8}) {
      const QuantSpec qc = QuantSpec::uniform(2, w_bits, 8, group);
      qat::QuantState qs(qc, 2);
      qs.init_weight_steps(m.unit_weights(), qat::QuantState::Init::kLsq);
      const std::string path = temp_path("weights");
      qat::export_packed_model(path, m, qs, micro_world().tok);
      const Model rm = Model::load(path);
      std::remove(path.c_str());
      for (size_t l = 0; l < rm.layers().size(); ++l) {
        const Layer& L = rm.layers()[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        const std::vector<std::pair<const std::vector<Linear>*, std::vector<std::string>>> fused{
            {&L.qkv, {"attn.q", "attn.k", "attn.v"}}, {&L.gate_up, {"mlp.gate", "mlp.up"}}};
        std::vector<std::pair<std::vector<float>, int>> held;  // runtime rows, row-major
        std::vector<std::string> units;
        for (const auto& [parts, names] : fused) {
          std::vector<float> rows;
          for (const Linear& w : *parts) {
            REQUIRE(w.format == WeightFormat::kPacked);
            std::vector<float> deq(static_cast<size_t>(w.rows) * w.cols);
            kernels::dequantize_weights(w.packed, deq.data());
            rows.insert(rows.end(), deq.begin(), deq.end());
          }
          int at = 0;
          for (const std::string& n : names) {
            const int r = static_cast<int>(m.param(p + n + ".weight")->rows());
            const int c = static_cast<int>(m.param(p + n + ".weight")->cols());
            held.emplace_back(std::vector<float>(rows.begin() + int64_t{at} * c,
                                                 rows.begin() + int64_t{at + r} * c),
                              c);
            units.push_back(p + n);
            at += r;
          }
          REQUIRE(static_cast<size_t>(at) * held.back().second == rows.size());
        }
        for (const auto& [w, unit] : {std::pair{&L.o, p + "attn.o"}, {&L.down, p + "mlp.down"}}) {
          std::vector<float> deq(static_cast<size_t>(w->rows) * w->cols);
          kernels::dequantize_weights(w->packed, deq.data());
          held.emplace_back(std::move(deq), w->cols);
          units.push_back(unit);
        }
        for (size_t u = 0; u < units.size(); ++u) {
          CAPTURE(w_bits, group, units[u]);
          qat::NoGrad ng;
          const qat::Mat fake = qs.weight(units[u], m.param(units[u] + ".weight"))->value;
          const std::vector<float>& r = held[u].first;
          REQUIRE(r.size() == static_cast<size_t>(fake.size()));
          int64_t differ = 0;
          for (Eigen::Index i = 0; i < fake.size(); ++i)
            differ += r[static_cast<size_t>(i)] != fake.data()[i];
          CHECK(differ == 0);
        }
      }
    }
  }
}

// Writes tests/runtime/fixtures/micro_golden.safetensors (run: hilq_tests_runtime_qat "[.golden]").
TEST_CASE("write the golden fixture of the runtime tests", "[.golden]") {
  const qat::Transformer& m = trained_lm();
  const auto ids = test_windows();
  const int V = m.config().vocab_size;
  model::ModelFile g;
  g.metadata["format"] = test::kGoldenFormat;
  g.metadata["architecture"] = m.config().to_json();
  const auto& cfg = m.config();
  g.metadata["shape"] = std::to_string(V) + " " + std::to_string(cfg.d_model) + " " +
                        std::to_string(cfg.n_layers) + " " + std::to_string(cfg.n_heads) + " " +
                        std::to_string(cfg.d_ff) + " " + std::to_string(cfg.max_seq);
  g.metadata["windows"] = std::to_string(kWindows);
  g.metadata["seq"] = std::to_string(kSeq);
  for (const auto& [name, v] : m.named_parameters())
    g.add_f32(name, {v->rows(), v->cols()}, v->value.data());
  g.add("golden/ids", model::DType::kI32, {static_cast<int64_t>(ids.size())}, ids.data());
  std::vector<int32_t> probes(test::kGoldenProbes);
  for (int k = 0; k < test::kGoldenProbes; ++k) probes[static_cast<size_t>(k)] = (k * 97 + 13) % V;
  g.add("golden/probe_ids", model::DType::kI32, {test::kGoldenProbes}, probes.data());
  const auto cases = qat_cases();
  g.metadata["configs"] = std::to_string(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string c = test::golden_config_prefix(static_cast<int>(i));
    const Calibrated cal = calibrate_and_run(m, cases[i].qc, ids);
    g.metadata["label." + std::to_string(i)] = cases[i].label;
    g.metadata["config." + std::to_string(i)] = cases[i].qc.empty() ? "" : cases[i].qc.to_json();
    for (const auto& [unit, wp] : cal.qs->weights())
      g.add_f32(c + unit + ".w_step", {wp.step->value.size()}, wp.step->value.data());
    for (const auto& [point, a] : cal.qs->acts()) {
      if (cases[i].qc.act_scale == model::ActScaleMode::kDynamic) continue;
      g.add_f32(c + point + ".a_scale_hi", {1}, a.step_hi->value.data());
      if (a.step_lo) g.add_f32(c + point + ".a_scale_lo", {1}, a.step_lo->value.data());
    }
    std::vector<int32_t> best(ids.size());
    std::vector<float> probe_logits(ids.size() * test::kGoldenProbes), margin(ids.size());
    for (size_t r = 0; r < ids.size(); ++r) {
      const float* row = cal.logits.data() + static_cast<int64_t>(r) * V;
      best[r] = argmax(row, V);
      float second = -INFINITY;
      for (int v = 0; v < V; ++v) {
        if (v != best[r]) second = std::max(second, row[v]);
      }
      margin[r] = row[best[r]] - second;
      for (int k = 0; k < test::kGoldenProbes; ++k)
        probe_logits[r * test::kGoldenProbes + k] = row[probes[static_cast<size_t>(k)]];
    }
    g.add(c + "argmax", model::DType::kI32, {static_cast<int64_t>(best.size())}, best.data());
    g.add_f32(c + "probes", {static_cast<int64_t>(probe_logits.size())}, probe_logits.data());
    g.add_f32(c + "margin", {static_cast<int64_t>(margin.size())}, margin.data());
    // The fixture must rebuild exactly the exporter's file (else the ARM check proves nothing).
    if (!cases[i].qc.empty()) {
      const std::string path = temp_path("golden");
      qat::export_packed_model(path, m, *cal.qs, micro_world().tok);
      model::ModelFile exported;
      REQUIRE(model::read_model_file(path, &exported).empty());
      std::remove(path.c_str());
      test::Golden tmp;
      tmp.file = g;
      tmp.arch = g.metadata["architecture"];
      tmp.shape = test::TestModel{false,       V, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff,
                                  cfg.max_seq, 2, 0,           {},           false};
      const model::ModelFile rebuilt = test::golden_model(tmp, static_cast<int>(i));
      CAPTURE(cases[i].label);
      REQUIRE(rebuilt.tensors.size() == exported.tensors.size());
      for (const auto& t : exported.tensors) {
        CAPTURE(t.name);
        const model::ModelTensor* r = rebuilt.find(t.name);
        REQUIRE(r);
        REQUIRE(r->dtype == t.dtype);
        REQUIRE(r->data == t.data);
      }
    }
  }
  const std::string out = std::string(HILQ_RUNTIME_FIXTURES) + "/micro_golden.safetensors";
  REQUIRE(model::write_model_file(out, g).empty());
  std::printf("wrote %s (%zu configurations)\n", out.c_str(), cases.size());
}

}  // namespace
}  // namespace hilq::runtime
