// Squat's losses and QAT: distillation terms vanish when the student equals the teacher and are
// positive otherwise, each switch removes its term, and QAT training lowers the loss.
#include <catch2/catch.hpp>

#include "qat/losses.h"
#include "qat/train.h"
#include "tests/qat/fixtures.h"
#include "tests/qat/grad_check.h"

namespace hilq::qat {
namespace {

using testing::micro_config;
using testing::micro_train;
using testing::micro_world;

struct Outputs {
  Var logits;
  ForwardResult r;
};

Outputs run(const Transformer& m, QuantState* q, const Batch& b) {
  Outputs o;
  o.r = m.forward(b, ForwardOptions{q, false, 0});
  o.logits = m.lm_logits(o.r.hidden, q, o.r.last_mask);
  return o;
}

TEST_CASE("the Squat distillation loss is zero for student == teacher and positive otherwise",
          "[squat]") {
  const auto& w = micro_world();
  Transformer teacher(micro_config(ModelKind::kCausalLm), 21);
  std::vector<int32_t> targets;
  const Batch b = lm_batch(w.data.lm_train, 2, 32, 1, 0, &targets);
  const ModelConfig& c = teacher.config();
  const AttnShape s{b.batch, b.seq, c.n_heads, c.head_dim()};
  const AttnMask mask{true, {}};
  Outputs t = run(teacher, nullptr, b);
  std::vector<Mat> t_maps;
  for (const auto& a : t.r.attn) t_maps.push_back(a->value);
  const Mat t_logits = t.logits->value;

  Transformer same(c, 0);
  same.copy_from(teacher);
  Outputs o = run(same, nullptr, b);
  SquatLossConfig cfg;
  LossParts p =
      squat_loss(cfg, o.logits, targets, &t_logits, o.r.q, o.r.k, o.r.attn, &t_maps, s, mask);
  REQUIRE(p.kd == Approx(0.0).margin(1e-6));
  REQUIRE(p.distribution == Approx(0.0).margin(1e-6));
  REQUIRE(std::isfinite(p.entropy));

  QuantState qs(
      model::QuantSpec::uniform(c.n_layers, 2, 4, 0, model::TokenAdaptivePolicy{8, 4, 0.5}),
      c.n_layers);
  calibrate(Task::kLm, same, &qs, w.data, micro_train(1), 2, QuantState::Init::kLsq);
  Outputs q = run(same, &qs, b);
  p = squat_loss(cfg, q.logits, targets, &t_logits, q.r.q, q.r.k, q.r.attn, &t_maps, s, mask);
  REQUIRE(p.kd > 1e-4f);
  REQUIRE(p.distribution > 1e-6f);  // small: a random-init model attends almost uniformly
  // The total is the weighted sum of the terms.
  REQUIRE(
      p.total->scalar() ==
      Approx(0.5f * p.ce + 0.5f * 4.0f * p.kd + 0.5f * p.entropy + p.distribution).epsilon(1e-4));
  SquatLossConfig off{false, false, false};
  LossParts none =
      squat_loss(off, q.logits, targets, &t_logits, q.r.q, q.r.k, q.r.attn, &t_maps, s, mask);
  REQUIRE(none.total->scalar() == Approx(none.ce));
  REQUIRE(none.kd == 0.0f);
  REQUIRE(none.distribution == 0.0f);
}

TEST_CASE("the entropy-guided loss falls when query/key variances grow", "[squat]") {
  const AttnShape s{1, 4, 2, 2};
  const Mat q = testing::random_mat(4, 4, 5), k = testing::random_mat(4, 4, 6);
  const float small = entropy_guided_loss({constant(q)}, {constant(k)}, s)->scalar();
  const float big = entropy_guided_loss({constant(q * 3)}, {constant(k * 3)}, s)->scalar();
  REQUIRE(big < small);
  testing::check_gradients([&](const auto& v) { return entropy_guided_loss({v[0]}, {v[1]}, s); },
                           {q, k});
}

TEST_CASE("LSQ and Squat QAT lower the micro model's training loss", "[squat][train]") {
  const auto& w = micro_world();
  Transformer teacher(micro_config(ModelKind::kCausalLm), 4);
  train(Task::kLm, teacher, nullptr, nullptr, SquatLossConfig{false, false, false}, w.data,
        micro_train(60), w.tok);
  for (bool squat : {false, true}) {
    CAPTURE(squat);
    Transformer student(teacher.config(), 0);
    student.copy_from(teacher);
    QuantState qs(model::QuantSpec::uniform(2, 4, 4, 0, model::TokenAdaptivePolicy{8, 4, 0.5}), 2);
    TrainConfig c = micro_train(30);
    c.lr = 1e-3f;
    calibrate(Task::kLm, student, &qs, w.data, c, 2, QuantState::Init::kLsq);
    const Mat step_before = qs.acts().at("layers.1.mlp.down.in").step_lo->value;
    const TrainStats st =
        train(Task::kLm, student, &qs, squat ? &teacher : nullptr,
              squat ? SquatLossConfig{} : SquatLossConfig{false, false, false}, w.data, c, w.tok);
    REQUIRE(st.last_loss < st.first_loss);
    REQUIRE(qs.acts().at("layers.1.mlp.down.in").step_lo->value != step_before);  // steps learn
  }
}

}  // namespace
}  // namespace hilq::qat
