// hil-train's subcommands: the glue from typed requests to qat's training entry points (see
// commands.h; qat/main.cpp parses the flags).
#include "qat/commands.h"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "qat/bpe_train.h"
#include "qat/checkpoint.h"
#include "qat/experiment.h"
#include "qat/export.h"
#include "qat/train.h"

namespace hilq::qat {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw QatError("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TrainConfig train_config(const TrainFlags& a, const TrainConfig& defaults) {
  TrainConfig c = defaults;
  c.steps = a.steps.value_or(c.steps);
  c.batch = a.batch.value_or(c.batch);
  c.seq = a.seq.value_or(c.seq);
  c.lr = static_cast<float>(a.lr.value_or(c.lr));
  c.warmup = a.warmup.value_or(c.warmup);
  c.seed = static_cast<uint64_t>(a.seed.value_or(static_cast<int>(c.seed)));
  c.log_every = a.log_every.value_or(c.log_every);
  c.ckpt_every = a.ckpt_every.value_or(c.ckpt_every);
  c.weight_decay = static_cast<float>(a.weight_decay.value_or(c.weight_decay));
  c.clip = static_cast<float>(a.clip.value_or(c.clip));
  c.checkpoint_path = a.out.value_or(c.checkpoint_path);
  c.resume_from = a.resume;
  c.stop_after = a.stop_after.value_or(0);
  if (c.steps < 1 || c.batch < 1 || c.seq < 2 || !(c.lr > 0)) {
    throw UsageError("--steps, --batch must be >= 1, --seq >= 2 and --lr > 0");
  }
  return c;
}

SquatLossConfig squat_loss_config(const SquatWeights& w, SquatLossConfig cfg) {
  cfg.entropy_form = parse_entropy_form(w.entropy_form, "--entropy-form");
  cfg.r_entropy = static_cast<float>(w.r_entropy.value_or(cfg.r_entropy));
  cfg.r_distribution = static_cast<float>(w.r_distribution.value_or(cfg.r_distribution));
  return cfg;
}

void prepare_process(int threads) {
  // Activations are allocated and freed every step: keep freed blocks in the heap instead of
  // returning them to the kernel (mmap/munmap page faults cost ~30% of a step otherwise).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  set_num_threads(threads);
}

int run_tokenizer(const TokenizerCommand& a) {
  const int vocab = a.vocab;
  const std::string out = a.out;
  const auto t0 = std::chrono::steady_clock::now();
  const LmCorpus c = load_lm_corpus(a.data_dir);
  std::vector<std::string_view> texts(c.train.begin(), c.train.end());
  const model::BpeTokenizer tok = train_bpe(texts, vocab, hilq_specials());
  std::ofstream f(out, std::ios::binary);
  if (!f) throw QatError("cannot write " + out);
  f << tok.to_json();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "tokenizer: %d tokens (%d merges) from %zu train documents in %.1f s -> %s\n",
               tok.vocab_size(), tok.num_merges(), c.train.size(), secs, out.c_str());
  return 0;
}

namespace {

// The value of a flag a command needs (CLI11 cannot say "required for --task lm only").
const std::string& required(const std::string& value, const char* flag) {
  if (value.empty()) throw UsageError(std::string(flag) + " is required");
  return value;
}

// Tokenizer from --tokenizer (JSON) or from the checkpoint given in --init.
model::BpeTokenizer load_tokenizer(const TrainCommand& a) {
  return model::BpeTokenizer::from_json(slurp(required(a.tokenizer, "--tokenizer")));
}

ModelConfig model_config(const TrainCommand& a, ModelKind kind, int vocab) {
  const std::string m = a.model;
  ModelConfig c;
  if (m.size() > 5 && m.substr(m.size() - 5) == ".json") {
    c = ModelConfig::from_json(slurp(m), m);
    c.kind = kind;
    if (c.vocab_size != vocab) {
      throw ConfigError(m + ": vocab_size " + std::to_string(c.vocab_size) +
                        " differs from the tokenizer's " + std::to_string(vocab));
    }
  } else {
    c = ModelConfig::preset(m, kind, vocab);
  }
  c.dropout = static_cast<float>(a.dropout.value_or(c.dropout));
  c.validate();
  return c;
}

// A --normalize value (absent: the classifier default); a bad step is a usage error naming the
// flag.
model::Normalization normalization_flag(const std::optional<std::string>& value,
                                        const std::string& flag) {
  if (!value) return classifier_text();
  try {
    return model::Normalization::parse(*value, flag);
  } catch (const model::TokenizerError& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

int run_train(const TrainCommand& a) {
  const Task task = a.task;
  const std::string data_dir = a.data_dir;
  TrainConfig defaults;
  defaults.label = task_name(task);
  if (task == Task::kCls) defaults = cls_finetune_defaults();
  const bool sentence_text = task == Task::kMlm && a.corpus == "sentiment";
  if (a.corpus != "lm" && task != Task::kMlm) throw UsageError("--corpus is for --task mlm");
  if (sentence_text && a.init.empty())
    throw UsageError("--corpus sentiment needs --init: the encoder pretrained on the LM corpus");
  if (a.folds > 0 && task != Task::kCls && !sentence_text)
    throw UsageError("--folds is for --task cls (or mlm with --corpus sentiment)");
  if (a.folds > 0 && a.fold < 0) throw UsageError("--folds needs --fold F (0 .. folds - 1)");
  if (a.mask_fraction && task != Task::kMlm) throw UsageError("--mask-fraction is for --task mlm");
  if (a.mask_fraction && !(*a.mask_fraction > 0 && *a.mask_fraction < 1))
    throw UsageError("--mask-fraction must be in (0, 1), got " + std::to_string(*a.mask_fraction));
  if (a.normalize && task != Task::kCls) throw UsageError("--normalize is for --task cls");
  const model::Normalization cls_text = normalization_flag(a.normalize, "--normalize");
  std::unique_ptr<Transformer> model;
  model::BpeTokenizer tok;
  int text_folds = sentence_text ? a.folds : -1, text_fold = sentence_text ? a.fold : -1;
  if (task == Task::kCls || (task == Task::kMlm && !a.init.empty())) {
    // Fine-tuning and further pretraining start from a masked-token pretrained encoder.
    LoadedCheckpoint ck = load_checkpoint(required(a.init, "--init"));
    const auto [seen_folds, seen_fold] =
        check_encoder(ck, a.init, task == Task::kMlm && !sentence_text ? -1 : a.folds, a.fold);
    if (seen_folds >= 0) text_folds = seen_folds, text_fold = seen_fold;  // carried forward
    tok = ck.tokenizer;
    if (task == Task::kCls) tok.set_normalization(cls_text);
    model = std::move(ck.model);
    if (a.dropout) model->set_dropout(static_cast<float>(*a.dropout));
  } else {
    tok = load_tokenizer(a);
    const ModelConfig mc = model_config(
        a, task == Task::kLm ? ModelKind::kCausalLm : ModelKind::kClassifier, tok.vocab_size());
    model = std::make_unique<Transformer>(mc, static_cast<uint64_t>(a.train.seed.value_or(1)));
  }
  TrainConfig cfg = train_config(a.train, defaults);
  cfg.sentence_text_folds = text_folds, cfg.sentence_text_fold = text_fold;
  if (a.mask_fraction) cfg.mlm_fraction = static_cast<float>(*a.mask_fraction);
  std::fprintf(stderr, "%s: %s model, %lld parameters, %d steps x %d x %d\n", task_name(task),
               model->config().name.c_str(),
               static_cast<long long>(model->config().parameter_count()), cfg.steps, cfg.batch,
               cfg.seq);
  TaskData data;
  if (task == Task::kCls || sentence_text) {
    SentimentSplits s = load_sentiment(data_dir);
    if (a.folds > 0) s = sentiment_fold(s, a.folds, a.fold);
    std::fprintf(stderr, "sentiment: %zu train, %zu dev, %zu test; dropped %d empty records\n",
                 s.train.size(), s.dev.size(), s.test.size(), s.dropped_empty);
    tokenize_cls(s, tok, &data);
    if (sentence_text) {
      for (const auto& ids : data.cls_train_x) {
        data.lm_train.insert(data.lm_train.end(), ids.begin(), ids.end());
        data.lm_train.push_back(data.eot_id);
      }
      std::fprintf(stderr, "mlm: %zu tokens of the %zu training sentences' text\n",
                   data.lm_train.size(), data.cls_train_x.size());
    }
  } else {
    data = tokenize_lm(load_lm_corpus(data_dir), tok);
    std::fprintf(stderr, "lm corpus: %zu train / %zu validation / %zu test tokens\n",
                 data.lm_train.size(), data.lm_validation.size(), data.lm_test.size());
  }
  const TrainStats st =
      train(task, *model, nullptr, nullptr, SquatLossConfig{false, false, false}, data, cfg, tok);
  std::printf("%s: %lld steps in %s, %.0f tokens/s, loss %.4f -> %.4f\n", task_name(task),
              static_cast<long long>(st.steps), format_duration(st.seconds).c_str(),
              st.tokens_per_s, st.first_loss, st.last_loss);
  if (task == Task::kLm) {
    std::printf("lm: validation perplexity %.3f\n",
                eval_perplexity(*model, nullptr, data.lm_validation, cfg.seq, cfg.batch));
  } else if (task == Task::kCls) {
    const double test =
        eval_accuracy(*model, nullptr, data.cls_test_x, data.cls_test_y, cfg.seq, 32, data.pad_id);
    if (a.folds > 0) {
      std::printf("cls: held-out fold %d of %d accuracy %.4f\n", a.fold, a.folds, test);
    } else {
      std::printf(
          "cls: dev accuracy %.4f, test accuracy %.4f\n",
          eval_accuracy(*model, nullptr, data.cls_dev_x, data.cls_dev_y, cfg.seq, 32, data.pad_id),
          test);
    }
  }
  return 0;
}

int run_eval(const EvalCommand& a) {
  const Task task = a.task;
  LoadedCheckpoint ck = load_checkpoint(a.checkpoint);
  const std::string split = a.split;
  const std::string data_dir = a.data_dir;
  const int batch = a.batch;
  if (task == Task::kCls) {
    TaskData data;
    tokenize_cls(load_sentiment(data_dir), ck.tokenizer, &data);
    const bool test = split == "test";
    const int seq = a.seq.value_or(96);
    std::printf("cls %s accuracy %.4f\n", test ? "test" : "dev",
                eval_accuracy(*ck.model, ck.quant.get(), test ? data.cls_test_x : data.cls_dev_x,
                              test ? data.cls_test_y : data.cls_dev_y, seq, batch, data.pad_id));
  } else {
    const TaskData data = tokenize_lm(load_lm_corpus(data_dir), ck.tokenizer);
    const int seq = a.seq.value_or(128);
    const auto& stream = split == "test" ? data.lm_test : data.lm_validation;
    std::printf("lm %s perplexity %.3f\n", split.c_str(),
                eval_perplexity(*ck.model, ck.quant.get(), stream, seq, batch));
  }
  return 0;
}

int run_export(const ExportCommand& a) {
  LoadedCheckpoint ck = load_checkpoint(a.checkpoint);
  if (!ck.quant)
    throw UsageError(a.checkpoint + " holds no quant config (run hil-train qat first)");
  const ExportSummary s = export_packed_model(a.out, *ck.model, *ck.quant, ck.tokenizer);
  std::printf(
      "exported %d packed tensors (%lld bytes of packed weights, %lld bytes in all) -> %s\n"
      "data_sha256 %s\n",
      s.packed_tensors, static_cast<long long>(s.packed_bytes),
      static_cast<long long>(s.file_bytes), a.out.c_str(), s.data_sha256.c_str());
  return 0;
}

int run_qat(const QatCommand& a) {
  const Task task = a.task;
  QatRequest r;
  r.task = task;
  r.teacher_path = a.teacher;
  r.method = a.method;
  r.quant_json = !a.quant_file.empty() ? slurp(a.quant_file) : "";
  r.setting = a.setting;
  if (r.quant_json.empty() == r.setting.empty())
    throw UsageError("give exactly one of --quant FILE or --setting NAME");
  r.loss = squat_loss_config(a.weights, r.loss);
  r.loss.distill = a.kd;
  r.loss.entropy = a.entropy;
  r.loss.distribution = a.distribution;
  r.calib_batches = a.calib_batches;
  r.eval_windows = a.eval_windows;
  r.mse_init = a.mse_init;
  r.data_dir = a.data_dir;
  r.folds = a.folds;
  r.fold = a.fold;
  TrainConfig defaults = default_qat_config(task);
  r.train = train_config(a.train, defaults);
  const QatOutcome o = run_qat_request(r);
  if (task == Task::kLm) {
    std::printf("%s %s %s: validation perplexity %.4f, test perplexity %.4f (%.0f tokens/s)\n",
                task_name(task), o.setting.c_str(), r.method.c_str(), o.metric, o.test_metric,
                o.tokens_per_s);
  } else {
    std::printf("%s %s %s: test accuracy %.4f (%.0f tokens/s)\n", task_name(task),
                o.setting.c_str(), r.method.c_str(), o.metric, o.tokens_per_s);
  }
  return 0;
}

int run_experiment_command(const ExperimentCommand& a) {
  ExperimentRequest r;
  r.task = a.task;
  r.teacher_path = a.teacher;
  r.out_dir = a.out_dir;
  r.data_dir = a.data_dir;
  r.train = default_qat_config(r.task);
  r.train.steps = a.train.steps.value_or(r.train.steps);
  r.train.batch = a.train.batch.value_or(r.train.batch);
  r.train.seq = a.train.seq.value_or(r.train.seq);
  r.train.lr = static_cast<float>(a.train.lr.value_or(r.train.lr));
  r.train.seed = static_cast<uint64_t>(a.train.seed.value_or(static_cast<int>(r.train.seed)));
  r.train.log_every = a.train.log_every.value_or(r.train.log_every);
  r.calib_batches = a.calib_batches;
  r.eval_windows = a.eval_windows;
  r.mse_init = a.mse_init;
  r.train.warmup = a.train.warmup.value_or(r.train.warmup);
  r.settings = a.settings;
  r.methods = a.methods;
  r.seeds = a.seeds;
  r.jobs = a.jobs;
  r.resume = a.resume;
  r.tables_only = a.tables_only;
  r.train.eval_every = a.eval_every;
  r.train.eval_windows = a.eval_windows > 0 ? a.eval_windows : 64;
  r.loss = squat_loss_config(a.weights, r.loss);
  r.folds = a.folds;
  r.finetune = cls_finetune_defaults();
  r.finetune.steps = a.ft_steps;
  r.finetune.batch = a.ft_batch;
  r.finetune.seq = r.train.seq;
  r.finetune.lr = static_cast<float>(a.ft_lr);
  r.finetune.warmup = a.ft_warmup;
  r.finetune.seed = r.train.seed;
  r.finetune.log_every = r.train.log_every;
  r.finetune_text = normalization_flag(a.ft_normalize, "--ft-normalize");
  if (r.finetune.steps < 1 || r.finetune.batch < 1 || !(r.finetune.lr > 0) || r.finetune.warmup < 0)
    throw UsageError("--ft-steps and --ft-batch must be >= 1, --ft-lr > 0, --ft-warmup >= 0");
  r.command_line = a.command_line;
  r.sink = a.sink;
  run_experiment(r);
  return 0;
}

}  // namespace hilq::qat
