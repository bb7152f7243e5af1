// hil-train subcommands: argument parsing and the glue from flags to qat's training entry points.
#include "qat/cli.h"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

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

Task parse_task(const std::string& s) {
  if (s == "lm") return Task::kLm;
  if (s == "mlm") return Task::kMlm;
  if (s == "cls") return Task::kCls;
  throw UsageError("--task " + s + " is not lm, mlm or cls");
}

TrainConfig train_config(const Args& a, const TrainConfig& defaults) {
  TrainConfig c = defaults;
  c.steps = a.integer("steps", c.steps);
  c.batch = a.integer("batch", c.batch);
  c.seq = a.integer("seq", c.seq);
  c.lr = static_cast<float>(a.number("lr", c.lr));
  c.warmup = a.integer("warmup", c.warmup);
  c.seed = static_cast<uint64_t>(a.integer("seed", static_cast<int>(c.seed)));
  c.log_every = a.integer("log-every", c.log_every);
  c.ckpt_every = a.integer("ckpt-every", c.ckpt_every);
  c.weight_decay = static_cast<float>(a.number("weight-decay", c.weight_decay));
  c.clip = static_cast<float>(a.number("clip", c.clip));
  c.checkpoint_path = a.str("out", c.checkpoint_path);
  c.resume_from = a.str("resume", "");
  c.stop_after = a.integer("stop-after", 0);
  if (c.steps < 1 || c.batch < 1 || c.seq < 2 || !(c.lr > 0)) {
    throw UsageError("--steps, --batch must be >= 1, --seq >= 2 and --lr > 0");
  }
  return c;
}

const std::vector<std::string> kTrainKeys = {
    "steps",        "batch", "seq", "lr",     "warmup",     "seed",    "log-every", "ckpt-every",
    "weight-decay", "clip",  "out", "resume", "stop-after", "threads", "task",      "data"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int cmd_tokenizer(const Args& a) {
  a.only({"vocab", "out", "data"});
  const int vocab = a.integer("vocab", 4096);
  const std::string out = a.required("out");
  const auto t0 = std::chrono::steady_clock::now();
  const LmCorpus c = load_lm_corpus(a.str("data", default_data_dir()));
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

// Tokenizer from --tokenizer (JSON) or from the checkpoint given in --init.
model::BpeTokenizer load_tokenizer(const Args& a) {
  return model::BpeTokenizer::from_json(slurp(a.required("tokenizer")));
}

ModelConfig model_config(const Args& a, ModelKind kind, int vocab) {
  const std::string m = a.str("model", "tiny");
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
  c.dropout = static_cast<float>(a.number("dropout", c.dropout));
  c.validate();
  return c;
}

int cmd_train(const Args& a) {
  a.only(with(kTrainKeys, {"model", "tokenizer", "init", "dropout", "eval-batches"}));
  const Task task = parse_task(a.required("task"));
  const std::string data_dir = a.str("data", default_data_dir());
  TrainConfig defaults;
  defaults.label = task_name(task);
  if (task == Task::kCls) defaults.seq = 96, defaults.lr = 1e-3f, defaults.warmup = 50;
  std::unique_ptr<Transformer> model;
  model::BpeTokenizer tok;
  if (task == Task::kCls) {
    // Fine-tuning starts from a masked-token pretrained encoder.
    LoadedCheckpoint ck = load_checkpoint(a.required("init"));
    tok = ck.tokenizer;
    model = std::move(ck.model);
  } else {
    tok = load_tokenizer(a);
    const ModelConfig mc = model_config(
        a, task == Task::kLm ? ModelKind::kCausalLm : ModelKind::kClassifier, tok.vocab_size());
    model = std::make_unique<Transformer>(mc, static_cast<uint64_t>(a.integer("seed", 1)));
  }
  const TrainConfig cfg = train_config(a, defaults);
  std::fprintf(stderr, "%s: %s model, %lld parameters, %d steps x %d x %d\n", task_name(task),
               model->config().name.c_str(),
               static_cast<long long>(model->config().parameter_count()), cfg.steps, cfg.batch,
               cfg.seq);
  TaskData data;
  if (task == Task::kCls) {
    const SentimentSplits s = load_sentiment(data_dir);
    std::fprintf(stderr, "sentiment: %zu train, %zu dev, %zu test; dropped %d empty records\n",
                 s.train.size(), s.dev.size(), s.test.size(), s.dropped_empty);
    tokenize_cls(s, tok, &data);
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
    std::printf(
        "cls: dev accuracy %.4f, test accuracy %.4f\n",
        eval_accuracy(*model, nullptr, data.cls_dev_x, data.cls_dev_y, cfg.seq, 32, data.pad_id),
        eval_accuracy(*model, nullptr, data.cls_test_x, data.cls_test_y, cfg.seq, 32, data.pad_id));
  }
  return 0;
}

int cmd_eval(const Args& a) {
  a.only({"task", "checkpoint", "split", "seq", "batch", "threads", "data"});
  const Task task = parse_task(a.required("task"));
  LoadedCheckpoint ck = load_checkpoint(a.required("checkpoint"));
  const std::string split = a.str("split", "validation");
  const std::string data_dir = a.str("data", default_data_dir());
  const int batch = a.integer("batch", 16);
  if (task == Task::kCls) {
    TaskData data;
    tokenize_cls(load_sentiment(data_dir), ck.tokenizer, &data);
    const bool test = split == "test";
    const int seq = a.integer("seq", 96);
    std::printf("cls %s accuracy %.4f\n", test ? "test" : "dev",
                eval_accuracy(*ck.model, ck.quant.get(), test ? data.cls_test_x : data.cls_dev_x,
                              test ? data.cls_test_y : data.cls_dev_y, seq, batch, data.pad_id));
  } else {
    const TaskData data = tokenize_lm(load_lm_corpus(data_dir), ck.tokenizer);
    const int seq = a.integer("seq", 128);
    const auto& stream = split == "test" ? data.lm_test : data.lm_validation;
    std::printf("lm %s perplexity %.3f\n", split.c_str(),
                eval_perplexity(*ck.model, ck.quant.get(), stream, seq, batch));
  }
  return 0;
}

int cmd_export(const Args& a) {
  a.only({"checkpoint", "out", "threads"});
  LoadedCheckpoint ck = load_checkpoint(a.required("checkpoint"));
  if (!ck.quant)
    throw UsageError(a.required("checkpoint") + " holds no quant config (run hil-train qat first)");
  const ExportSummary s =
      export_packed_model(a.required("out"), *ck.model, *ck.quant, ck.tokenizer);
  std::printf(
      "exported %d packed tensors (%lld bytes of packed weights, %lld bytes in all) -> %s\n"
      "data_sha256 %s\n",
      s.packed_tensors, static_cast<long long>(s.packed_bytes),
      static_cast<long long>(s.file_bytes), a.required("out").c_str(), s.data_sha256.c_str());
  return 0;
}

// --step-init lsq (the paper: 2 mean|x| / sqrt(qmax)) or mse (start from the PTQ calibration).
bool step_init(const Args& a) {
  const std::string s = a.str("step-init", "lsq");
  if (s != "lsq" && s != "mse") throw UsageError("--step-init " + s + " is not lsq or mse");
  return s == "mse";
}

int cmd_qat(const Args& a) {
  a.only(with(kTrainKeys, {"teacher", "quant", "setting", "method", "no-kd", "no-entropy",
                           "no-distribution", "calib-batches", "eval-windows", "step-init"}));
  const Task task = parse_task(a.required("task"));
  QatRequest r;
  r.task = task;
  r.teacher_path = a.required("teacher");
  r.method = a.str("method", "squat");
  r.quant_json = a.flag("quant") ? slurp(a.required("quant")) : "";
  r.setting = a.str("setting", "");
  if (r.quant_json.empty() == r.setting.empty())
    throw UsageError("give exactly one of --quant FILE or --setting NAME");
  r.loss.distill = !a.flag("no-kd");
  r.loss.entropy = !a.flag("no-entropy");
  r.loss.distribution = !a.flag("no-distribution");
  r.calib_batches = a.integer("calib-batches", 8);
  r.eval_windows = a.integer("eval-windows", 0);
  r.mse_init = step_init(a);
  r.data_dir = a.str("data", default_data_dir());
  TrainConfig defaults = default_qat_config(task);
  r.train = train_config(a, defaults);
  const QatOutcome o = run_qat_request(r);
  std::printf("%s %s %s: %s %.4f (%.0f tokens/s)\n", task_name(task), o.setting.c_str(),
              r.method.c_str(), task == Task::kLm ? "validation perplexity" : "test accuracy",
              o.metric, o.tokens_per_s);
  return 0;
}

int cmd_experiment(const Args& a) {
  a.only({"task", "teacher", "steps", "batch", "seq", "lr", "seed", "out", "threads", "data",
          "calib-batches", "settings", "methods", "log-every", "eval-windows", "warmup",
          "step-init"});
  ExperimentRequest r;
  r.task = parse_task(a.required("task"));
  r.teacher_path = a.required("teacher");
  r.out_dir = a.required("out");
  r.data_dir = a.str("data", default_data_dir());
  r.train = default_qat_config(r.task);
  r.train.steps = a.integer("steps", r.train.steps);
  r.train.batch = a.integer("batch", r.train.batch);
  r.train.seq = a.integer("seq", r.train.seq);
  r.train.lr = static_cast<float>(a.number("lr", r.train.lr));
  r.train.seed = static_cast<uint64_t>(a.integer("seed", static_cast<int>(r.train.seed)));
  r.train.log_every = a.integer("log-every", r.train.log_every);
  r.calib_batches = a.integer("calib-batches", 8);
  r.eval_windows = a.integer("eval-windows", 0);
  r.mse_init = step_init(a);
  r.train.warmup = a.integer("warmup", r.train.warmup);
  r.settings = a.str("settings", "W8A8,W4A8,W4A4-TA8/4,W2A8");
  r.methods = a.str("methods", "ptq,lsq,squat,squat-e,squat-d");
  run_experiment(r);
  return 0;
}

}  // namespace

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s.size() < 3 || s.compare(0, 2, "--") != 0)
      throw UsageError("unexpected argument '" + s + "'");
    const std::string key = s.substr(2);
    if (std::find(flags.begin(), flags.end(), key) != flags.end()) {
      values_[key] = "1";
      continue;
    }
    if (i + 1 >= argv.size()) throw UsageError("--" + key + " needs a value");
    values_[key] = argv[++i];
  }
}

std::string Args::str(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::required(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw UsageError("--" + key + " is required");
  return it->second;
}

int Args::integer(const std::string& key, int fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    const int v = std::stoi(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("--" + key + " " + it->second + " is not an integer");
}

double Args::number(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("--" + key + " " + it->second + " is not a number");
}

void Args::only(const std::vector<std::string>& known) const {
  for (const auto& [k, v] : values_) {
    if (std::find(known.begin(), known.end(), k) == known.end())
      throw UsageError("unknown option --" + k);
  }
}

std::string usage() {
  return R"(usage: hil-train <command> [options]

commands:
  tokenizer --out FILE [--vocab 4096]
      train a byte-level BPE on the LM train split (saved as JSON)
  train --task lm|mlm --tokenizer FILE --out CKPT [--model micro|tiny|small|FILE.json]
  train --task cls --init MLM_CKPT --out CKPT
      FP training: causal LM teacher, masked-token encoder pretraining, sentiment fine-tuning
      [--steps N --batch B --seq T --lr X --warmup N --seed S --dropout P --ckpt-every N]
      [--resume CKPT (same flags: continues at the saved step) --stop-after N]
  qat --task lm|cls --teacher CKPT (--setting W4A8|W8A8|W4A4-TA8/4|W2A8|... | --quant FILE)
      [--method ptq|lsq|squat] [--no-kd --no-entropy --no-distribution] [--out CKPT]
      [--calib-batches 8 --eval-windows N (LM: validation windows scored, 0 = all)]
      [--step-init lsq|mse (QAT steps from LSQ's formula, the default, or the PTQ calibration)]
  eval --task lm|cls --checkpoint CKPT [--split validation|test]
  export --checkpoint QAT_CKPT --out MODEL.safetensors
      packed integer weights + scales (kernels/pack.h); metadata: quant config, data_sha256,
      and class labels for classifiers ("labels": ["negative","positive"])
  experiment --task lm|cls --teacher CKPT --out DIR [--steps N --batch B --lr X --eval-windows N]
      [--settings W8A8,W4A8,W4A4-TA8/4,W2A8 --methods ptq,lsq,squat,squat-e,squat-d]
      the issue's table: FP, PTQ, LSQ, Squat, Squat-E, Squat-D per setting (same steps and seeds)

common: --threads N (default 1: on a shared 2-core machine OpenMP threads lose more to waiting
        than they gain), --data DIR (default the setup folder), --help
exit codes: 0 ok, 1 runtime error, 2 usage error
)";
}

int run_cli(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(usage().c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& s : rest) {
    if (s == "--help" || s == "-h") {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
  }
  const Args a(rest, {"no-kd", "no-entropy", "no-distribution"});
  // Activations are allocated and freed every step: keep freed blocks in the heap instead of
  // returning them to the kernel (mmap/munmap page faults cost ~30% of a step otherwise).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  set_num_threads(a.integer("threads", 1));
  if (cmd == "tokenizer") return cmd_tokenizer(a);
  if (cmd == "train") return cmd_train(a);
  if (cmd == "qat") return cmd_qat(a);
  if (cmd == "eval") return cmd_eval(a);
  if (cmd == "export") return cmd_export(a);
  if (cmd == "experiment") return cmd_experiment(a);
  throw UsageError("unknown command '" + cmd + "'");
}

}  // namespace hilq::qat
