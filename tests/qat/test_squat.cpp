// Squat's losses and QAT: distillation terms vanish when the student equals the teacher and are
// positive otherwise, each switch removes its term, both L_E forms match finite differences and a
// direct computation, the logged terms sum to the total, and QAT training lowers the loss.
#include <catch2/catch.hpp>
#include <cmath>

#include "qat/experiment.h"
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
  REQUIRE(p.total->scalar() ==
          Approx(0.5f * p.ce + 0.5f * 4.0f * p.kd + cfg.r_entropy * p.entropy + p.distribution)
              .epsilon(1e-4));
  SquatLossConfig off{false, false, false};
  LossParts none =
      squat_loss(off, q.logits, targets, &t_logits, q.r.q, q.r.k, q.r.attn, &t_maps, s, mask);
  REQUIRE(none.total->scalar() == Approx(none.ce));
  REQUIRE(none.kd == 0.0f);
  REQUIRE(none.distribution == 0.0f);
}

TEST_CASE(
    "both forms of the entropy-guided loss fall when query/key variances grow and match "
    "finite differences",
    "[squat][entropy]") {
  const AttnShape s{2, 3, 2, 3};  // 6 rows, 2 heads of 3 dims
  const Mat q = testing::random_mat(6, 6, 5), k = testing::random_mat(6, 6, 6);
  const Mat q2 = testing::random_mat(6, 6, 7), k2 = testing::random_mat(6, 6, 8);
  for (EntropyForm form : {EntropyForm::kPerToken, EntropyForm::kPerHead}) {
    CAPTURE(entropy_form_name(form));
    const float small = entropy_guided_loss({constant(q)}, {constant(k)}, s, form)->scalar();
    const float big = entropy_guided_loss({constant(q * 3)}, {constant(k * 3)}, s, form)->scalar();
    REQUIRE(big < small);
    // Two layers, so the sum over layers is in the checked graph.
    testing::check_gradients(
        [&](const auto& v) {
          return entropy_guided_loss({v[0], v[2]}, {v[1], v[3]}, s, form);
        },
        {q, k, q2, k2}, 1e-2, 2e-2, 2e-3, 100);
  }
  // With padding, the per-token form leaves the padded tokens out (their gradient is zero).
  const AttnMask padded{false, {2, 3}};
  testing::check_gradients(
      [&](const auto& v) {
        return entropy_guided_loss({v[0]}, {v[1]}, s, EntropyForm::kPerToken, padded);
      },
      {q, k}, 1e-2, 2e-2, 2e-3, 100);
}

TEST_CASE("per-token variance and the per-token L_E equal a direct computation",
          "[squat][entropy]") {
  const AttnShape s{2, 4, 3, 4};  // 8 rows, 3 heads of 4 dims
  const Mat x = testing::random_mat(8, 12, 31, -2.0f, 2.0f);
  const Mat y = testing::random_mat(8, 12, 32, -0.5f, 1.5f);
  auto direct_var = [&](const Mat& m, int r, int h) {  // two-pass, unbiased, in double
    double mean = 0;
    for (int d = 0; d < 4; ++d) mean += m(r, h * 4 + d);
    mean /= 4;
    double ss = 0;
    for (int d = 0; d < 4; ++d) ss += (m(r, h * 4 + d) - mean) * (m(r, h * 4 + d) - mean);
    return ss / 3;
  };
  const Mat v = token_variance(constant(x), s)->value;
  REQUIRE(v.rows() == 8);
  REQUIRE(v.cols() == 3);
  for (int r = 0; r < 8; ++r) {
    for (int h = 0; h < 3; ++h) REQUIRE(v(r, h) == Approx(direct_var(x, r, h)).epsilon(1e-5));
  }
  // A hand example: head vector (1, 2, 3, 6) has mean 3 and unbiased variance 14/3.
  Mat one = Mat::Zero(1, 4);
  one << 1, 2, 3, 6;
  REQUIRE(token_variance(constant(one), AttnShape{1, 1, 1, 4})->scalar() ==
          Approx(14.0 / 3.0).epsilon(1e-6));
  testing::check_gradients([&](const auto& in) { return token_variance(in[0], s); }, {x});

  // L_E = -log(sum over layers, tokens, heads of log(1 + var q) + log(1 + var k)).
  double total = 0;
  for (const Mat* m : {&x, &y, &y, &x}) {  // layer 0: (x, y), layer 1: (y, x)
    for (int r = 0; r < 8; ++r) {
      for (int h = 0; h < 3; ++h) total += std::log1p(direct_var(*m, r, h));
    }
  }
  const float le =
      entropy_guided_loss({constant(x), constant(y)}, {constant(y), constant(x)}, s)->scalar();
  REQUIRE(le == Approx(-std::log(total)).epsilon(1e-5));
  // Padding: only the first lengths[b] tokens of each sequence count.
  double real = 0;
  for (const Mat* m : {&x, &y}) {
    for (int r : {0, 4, 5, 6}) {  // sequence 0 keeps 1 token, sequence 1 keeps 3
      for (int h = 0; h < 3; ++h) real += std::log1p(direct_var(*m, r, h));
    }
  }
  const float le_padded = entropy_guided_loss({constant(x)}, {constant(y)}, s,
                                              EntropyForm::kPerToken, AttnMask{false, {1, 3}})
                              ->scalar();
  REQUIRE(le_padded == Approx(-std::log(real)).epsilon(1e-5));
  REQUIRE(parse_entropy_form("per-head", "--entropy-form") == EntropyForm::kPerHead);
  REQUIRE_THROWS_WITH(parse_entropy_form("per-layer", "--entropy-form"),
                      Catch::Contains("--entropy-form") && Catch::Contains("per-layer"));
}

TEST_CASE(
    "L_E on the quantized queries/keys reaches their step sizes; per-token-float reaches the "
    "weights but not the rounding of its own layer",
    "[squat][entropy]") {
  const auto& w = micro_world();
  Transformer m(micro_config(ModelKind::kCausalLm), 23);
  const ModelConfig& c = m.config();
  QuantState qs(model::QuantSpec::uniform(c.n_layers, 4, 4), c.n_layers);
  calibrate(Task::kLm, m, &qs, w.data, micro_train(1), 2, QuantState::Init::kLsq);
  std::vector<int32_t> targets;
  const Batch b = lm_batch(w.data.lm_train, 2, 32, 1, 0, &targets);
  const AttnShape s{b.batch, b.seq, c.n_heads, c.head_dim()};
  // The last layer's: an earlier layer's step also moves the float queries of the layers after it.
  const std::string last = "layers." + std::to_string(c.n_layers - 1) + ".attn.q";
  const Var q_step = qs.acts().at(last + ".out").step_hi;
  const Var q_weight = m.param(last + ".weight");
  auto grads_of = [&](EntropyForm form) {
    for (const auto& [name, v] : m.named_parameters()) v->grad = Mat();
    for (const auto& [name, v] : qs.named_parameters()) v->grad = Mat();
    const ForwardResult r = m.forward(b, ForwardOptions{&qs, false, 0});
    const bool on_float = entropy_on_float(form);
    backward(entropy_guided_loss(on_float ? r.q_float : r.q, on_float ? r.k_float : r.k, s, form));
    const float step = q_step->grad.size() ? std::abs(q_step->grad(0, 0)) : 0.0f;
    const float weight = q_weight->grad.size() ? q_weight->grad.norm() : 0.0f;
    return std::pair{step, weight};
  };
  const auto [step_q, weight_q] = grads_of(EntropyForm::kPerToken);
  REQUIRE(step_q > 0.0f);
  REQUIRE(weight_q > 0.0f);
  const auto [step_f, weight_f] = grads_of(EntropyForm::kPerTokenFloat);
  REQUIRE(step_f == 0.0f);
  REQUIRE(weight_f > 0.0f);
  REQUIRE(parse_entropy_form("per-token-float", "--entropy-form") == EntropyForm::kPerTokenFloat);
  REQUIRE(std::string(entropy_form_name(EntropyForm::kPerTokenFloat)) == "per-token-float");
}

TEST_CASE("a micro Squat run logs its loss terms, whose weighted sum is the total",
          "[squat][train]") {
  const auto& w = micro_world();
  Transformer teacher(micro_config(ModelKind::kCausalLm), 4);
  train(Task::kLm, teacher, nullptr, nullptr, SquatLossConfig{false, false, false}, w.data,
        micro_train(20), w.tok);
  Transformer student(teacher.config(), 0);
  student.copy_from(teacher);
  QuantState qs(model::QuantSpec::uniform(2, 4, 4, 0, model::TokenAdaptivePolicy{8, 4, 0.5}), 2);
  TrainConfig c = micro_train(4);
  c.lr = 1e-3f;
  calibrate(Task::kLm, student, &qs, w.data, c, 2, QuantState::Init::kLsq);
  SquatLossConfig loss;
  loss.r_entropy = 0.25f;  // not the default: the weights must come from the config
  const TrainStats st = train(Task::kLm, student, &qs, &teacher, loss, w.data, c, w.tok);
  REQUIRE(st.term_names == std::vector<std::string>{"ce", "kd", "entropy", "distribution"});
  REQUIRE(st.term_weights == std::vector<float>{0.5f, 2.0f, 0.25f, 1.0f});
  REQUIRE(st.term_values.size() == 4);
  for (size_t i = 0; i < st.term_values.size(); ++i) {
    double sum = 0;
    for (size_t t = 0; t < 4; ++t) sum += st.term_weights[t] * st.term_values[i][t];
    CAPTURE(i);
    REQUIRE(st.losses[i] == Approx(sum).epsilon(1e-5));
  }
  // The first-step diagnostics: one entry per term, the same values, and every term moves the
  // weights (the quantizer steps get a gradient from the task terms).
  REQUIRE(st.term_stats.size() == 4);
  for (size_t t = 0; t < 4; ++t) {
    CAPTURE(st.term_stats[t].name);
    REQUIRE(st.term_stats[t].value == st.term_values[0][t]);
    REQUIRE(st.term_stats[t].grad_norm_weights > 0);
    REQUIRE(std::isfinite(st.term_stats[t].grad_norm_weights));
  }
  REQUIRE(st.term_stats[0].grad_norm_steps > 0);
  // Diagnostics leave no gradient behind: a run without them takes the same steps.
  Transformer again(teacher.config(), 0);
  again.copy_from(teacher);
  QuantState qs2(model::QuantSpec::uniform(2, 4, 4, 0, model::TokenAdaptivePolicy{8, 4, 0.5}), 2);
  calibrate(Task::kLm, again, &qs2, w.data, c, 2, QuantState::Init::kLsq);
  c.diagnose_terms = false;
  const TrainStats st2 = train(Task::kLm, again, &qs2, &teacher, loss, w.data, c, w.tok);
  REQUIRE(st2.term_stats.empty());
  REQUIRE(st2.losses == st.losses);
}

TEST_CASE("mean and sample standard deviation of the experiment table", "[squat]") {
  const MeanSd m = mean_sd({2.0, 4.0, 9.0});
  REQUIRE(m.n == 3);
  REQUIRE(m.mean == Approx(5.0));
  REQUIRE(m.sd == Approx(std::sqrt(13.0)));  // ((9 + 1 + 16) / 2)
  REQUIRE(mean_sd({3.5}).sd == 0.0);
  REQUIRE(mean_sd({}).n == 0);
}

TEST_CASE("the experiment's time left prices each run at its method's mean", "[squat]") {
  std::map<std::string, MeanSd> done;
  done["ptq"] = {5.0, 0.0, 2};
  done["lsq"] = {600.0, 0.0, 1};
  // Two Squat runs not timed yet cost what the trained runs did so far; PTQ its own 5 s.
  REQUIRE(seconds_left({"ptq", "squat", "squat"}, done, 1) == Approx(5 + 600 + 600));
  REQUIRE(seconds_left({"lsq", "lsq"}, done, 2) == Approx(600));
  // More jobs than runs left: the runs left set the parallelism.
  REQUIRE(seconds_left({"lsq"}, done, 4) == Approx(600));
  // Only PTQ timed: every method falls back to the mean of all.
  REQUIRE(seconds_left({"squat"}, {{"ptq", {5.0, 0.0, 1}}}, 1) == Approx(5));
  REQUIRE(seconds_left({}, done, 1) == 0);
  REQUIRE(seconds_left({"lsq"}, {}, 1) == 0);
}

TEST_CASE("kept runs price each method of a resumed experiment", "[squat]") {
  auto row = [](const std::string& method, double seconds, int64_t steps = 1000) {
    ExperimentRow r;
    r.method = method;
    r.outcome.seconds = seconds;
    r.outcome.steps = method == "ptq" ? 0 : steps;
    return r;
  };
  // The FP teacher's evaluation row and an untimed row (an old results.json) price nothing.
  auto kept = kept_method_seconds({row("fp", 900), row("ptq", 4), row("ptq", 6), row("squat", 500),
                                   row("squat", 700), row("lsq", 0)},
                                  1000);
  REQUIRE(kept.size() == 2);
  REQUIRE(kept.at("ptq").mean == Approx(5));
  REQUIRE(kept.at("squat").n == 2);
  REQUIRE(kept.at("squat").mean == Approx(600));
  // A resumed table's Squat runs are priced at minutes before one of them finishes here.
  REQUIRE(seconds_left({"ptq", "squat"}, kept, 1) == Approx(605));
  // One run slowed by a loaded machine does not set the price (the median of 3), and runs of
  // another step count price nothing.
  kept = kept_method_seconds({row("fp-ft", 2500), row("fp-ft", 350), row("fp-ft", 400),
                              row("squat", 60, 100), row("ptq", 30)},
                             1000);
  REQUIRE(kept.at("fp-ft").mean == Approx(400));
  REQUIRE(kept.at("fp-ft").n == 3);
  REQUIRE(kept.count("squat") == 0);
  REQUIRE(kept.at("ptq").mean == Approx(30));
}

TEST_CASE("paired differences name a better method only outside the spread", "[squat]") {
  // Perplexity: lower is better. Better in every pair, by more than the sd.
  PairedDifference p =
      paired_difference({48.5, 48.2, 48.1}, {49.1, 48.5, 48.5}, true, "squat", "lsq");
  REQUIRE(p.diff.n == 3);
  REQUIRE(p.diff.mean == Approx(-0.4333).epsilon(1e-3));
  REQUIRE(p.a_better == 3);
  REQUIRE(p.reading == "squat better in every pair");
  // One pair the other way: no claim, whatever the mean.
  p = paired_difference({48.5, 48.2, 49.0}, {49.1, 48.5, 48.5}, true, "squat", "lsq");
  REQUIRE(p.b_better == 1);
  REQUIRE(p.reading == "no difference (inside the spread)");
  // Same sign everywhere but a mean inside its sd: no claim.
  p = paired_difference({50.0, 50.0, 50.0}, {50.01, 50.01, 53.0}, true, "a", "b");
  REQUIRE(p.diff.sd > std::abs(p.diff.mean));
  REQUIRE(p.reading == "no difference (inside the spread)");
  // Accuracy: higher is better, so b wins here.
  p = paired_difference({0.70, 0.71}, {0.75, 0.77}, false, "ptq", "lsq");
  REQUIRE(p.reading == "lsq better in every pair");
  REQUIRE(paired_difference({1.0}, {2.0}, true, "a", "b").reading ==
          "one pair: no spread, no claim");
  REQUIRE_THROWS_AS(paired_difference({1.0}, {}, true, "a", "b"), QatError);
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
