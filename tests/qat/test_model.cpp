// Models and FP training: the micro LM's loss falls by a set factor in fixed steps, training is
// deterministic, a resumed run equals an uninterrupted one, the encoder pretrains and classifies.
#include <catch2/catch.hpp>

#include "qat/checkpoint.h"
#include "qat/model.h"
#include "qat/optim.h"
#include "qat/train.h"
#include "tests/qat/fixtures.h"

namespace hilq::qat {
namespace {

using testing::micro_config;
using testing::micro_train;
using testing::micro_world;

const SquatLossConfig kTaskOnly{false, false, false};

TEST_CASE("the tiny preset has the issue's shape and 2-5M parameters", "[model]") {
  const ModelConfig t = ModelConfig::preset("tiny", ModelKind::kCausalLm, 4096);
  REQUIRE(t.d_model == 256);
  REQUIRE(t.n_layers == 4);
  REQUIRE(t.n_heads == 4);
  REQUIRE(t.d_ff == 768);
  REQUIRE(t.parameter_count() > 2000000);
  REQUIRE(t.parameter_count() < 5000000);
  REQUIRE(Transformer(micro_config(ModelKind::kCausalLm), 1).named_parameters().size() ==
          2 * 9 + 2);
  REQUIRE(ModelConfig::from_json(t.to_json()).to_json() == t.to_json());
  REQUIRE_THROWS_WITH(ModelConfig::from_json(R"({"d_model":30,"n_heads":4})", "m.json"),
                      Catch::Contains("must divide d_model"));
  REQUIRE_THROWS_WITH(ModelConfig::from_json(R"({"layers":4})", "m.json"),
                      Catch::Contains("unknown field 'layers'"));
  REQUIRE_THROWS_AS(ModelConfig::preset("huge", ModelKind::kCausalLm, 4096), ConfigError);
}

TEST_CASE("the causal LM cannot see the future", "[model]") {
  Transformer m(micro_config(ModelKind::kCausalLm), 3);
  Batch a{1, 8, {5, 9, 30, 7, 2, 11, 40, 3}, {}};
  Batch b = a;
  b.ids[6] = 99;  // change a later token
  NoGrad ng;
  const Mat la = m.lm_logits(m.forward(a, {}).hidden, nullptr, {})->value;
  const Mat lb = m.lm_logits(m.forward(b, {}).hidden, nullptr, {})->value;
  REQUIRE(la.topRows(6) == lb.topRows(6));
  REQUIRE_FALSE(la.row(6).isApprox(lb.row(6)));
}

TEST_CASE("fine-tuning's dropout is set on a loaded model and acts only in training", "[model]") {
  Transformer m(micro_config(ModelKind::kClassifier), 3);
  REQUIRE(m.config().dropout == 0.0f);
  REQUIRE_THROWS_WITH(m.set_dropout(1.0f),
                      Catch::Contains("--dropout") && Catch::Contains("[0, 1)"));
  REQUIRE(m.config().dropout == 0.0f);  // a refused value changes nothing
  Batch a{1, 8, {5, 9, 30, 7, 2, 11, 40, 3}, {}};
  NoGrad ng;
  const Mat before = m.forward(a, {}).hidden->value;
  m.set_dropout(0.3f);
  REQUIRE(m.config().dropout == 0.3f);
  REQUIRE(m.forward(a, {}).hidden->value == before);  // evaluation: no dropout
  REQUIRE_FALSE(m.forward(a, ForwardOptions{nullptr, true, 7}).hidden->value.isApprox(before));
}

TEST_CASE("the micro LM's loss falls by a third in 120 steps, deterministically",
          "[model][train]") {
  const auto& w = micro_world();
  Transformer a(micro_config(ModelKind::kCausalLm), 5), b(micro_config(ModelKind::kCausalLm), 5);
  // 1,000 tokens seen ~60 times: enough for the model to pick up their bigram statistics.
  TaskData d = w.data;
  d.lm_train.resize(1000);
  TrainConfig c = micro_train(120);
  c.lr = 1e-2f;
  c.batch = 16;
  const TrainStats sa = train(Task::kLm, a, nullptr, nullptr, kTaskOnly, d, c, w.tok);
  REQUIRE(sa.first_loss > 5.5f);  // about log(512) = 6.24 at the start
  CAPTURE(sa.first_loss, sa.last_loss);
  REQUIRE(sa.last_loss < sa.first_loss * (2.0f / 3.0f));
  const TrainStats sb = train(Task::kLm, b, nullptr, nullptr, kTaskOnly, d, c, w.tok);
  REQUIRE(sa.losses == sb.losses);
  REQUIRE(eval_perplexity(a, nullptr, d.lm_train, 32, 8) < 4.0);  // exp(last loss) is about 2.4
}

TEST_CASE("a model pins Eigen's product blocking to the same cache sizes on every CPU", "[model]") {
  Transformer m(micro_config(ModelKind::kCausalLm), 1);
  REQUIRE(Eigen::l1CacheSize() == kEigenBlockingL1);
  REQUIRE(Eigen::l2CacheSize() == kEigenBlockingL2);
  REQUIRE(Eigen::l3CacheSize() == kEigenBlockingL3);
  // The tiny model's FFN down projection (K = 768) is one block, as on a 48 KiB L1; a 32 KiB L1
  // would split it at 256 and round differently.
  Eigen::Index k = 768, rows = 2048, cols = 256;
  Eigen::internal::computeProductBlockingSizes<float, float, 1>(k, rows, cols, Eigen::Index{1});
  REQUIRE(k == 768);
}

TEST_CASE("a resumed run reproduces the uninterrupted one exactly", "[model][train]") {
  const auto& w = micro_world();
  const std::string path = "/tmp/hilq_test_resume.safetensors";
  TrainConfig full = micro_train(16);
  Transformer ref(micro_config(ModelKind::kCausalLm), 8);
  const TrainStats sr = train(Task::kLm, ref, nullptr, nullptr, kTaskOnly, w.data, full, w.tok);
  TrainConfig first = full;
  first.stop_after = 9;
  first.checkpoint_path = path;
  Transformer m(micro_config(ModelKind::kCausalLm), 8);
  train(Task::kLm, m, nullptr, nullptr, kTaskOnly, w.data, first, w.tok);
  TrainConfig second = full;
  second.resume_from = path;
  Transformer fresh(micro_config(ModelKind::kCausalLm), 999);  // weights come from the checkpoint
  const TrainStats s2 = train(Task::kLm, fresh, nullptr, nullptr, kTaskOnly, w.data, second, w.tok);
  REQUIRE(s2.steps == 7);
  REQUIRE(s2.losses.back() == sr.losses.back());
  for (const auto& [name, v] : ref.named_parameters())
    REQUIRE(fresh.param(name)->value == v->value);
  const LoadedCheckpoint ck = load_checkpoint(path);
  REQUIRE(ck.step == 9);
  REQUIRE(ck.tokenizer.to_json() == w.tok.to_json());
}

TEST_CASE("the encoder pretrains with masked tokens, then learns the sentiment labels",
          "[model][train]") {
  const auto& w = micro_world();
  Transformer enc(micro_config(ModelKind::kClassifier), 2);
  const TrainStats mlm =
      train(Task::kMlm, enc, nullptr, nullptr, kTaskOnly, w.data, micro_train(40), w.tok);
  REQUIRE(mlm.last_loss < mlm.first_loss);
  TrainConfig c = micro_train(60);
  c.batch = 16;
  c.seq = 48;
  const TrainStats cls = train(Task::kCls, enc, nullptr, nullptr, kTaskOnly, w.data, c, w.tok);
  REQUIRE(cls.last_loss < 0.6f);  // fits 120 training sentences (chance is log 2 = 0.69)
  const double acc =
      eval_accuracy(enc, nullptr, w.data.cls_train_x, w.data.cls_train_y, 48, 32, w.data.pad_id);
  REQUIRE(acc > 0.6);
}

TEST_CASE("the learning-rate schedule warms up and decays to its floor", "[train]") {
  REQUIRE(warmup_cosine_lr(0, 100, 10, 1.0f, 0.1f) == Approx(0.1f));
  REQUIRE(warmup_cosine_lr(9, 100, 10, 1.0f, 0.1f) == Approx(1.0f));
  REQUIRE(warmup_cosine_lr(55, 100, 10, 1.0f, 0.1f) == Approx(0.55f));
  REQUIRE(warmup_cosine_lr(100, 100, 10, 1.0f, 0.1f) == Approx(0.1f));
}

}  // namespace
}  // namespace hilq::qat
