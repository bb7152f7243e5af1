// PTQ / LSQ / Squat runs from a teacher checkpoint and the settings x methods experiment table.
#include "qat/experiment.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "base/file.h"
#include "base/stats.h"
#include "model/setting.h"
#include "model/sha256.h"
#include "qat/checkpoint.h"

namespace hilq::qat {
namespace {

const std::string kFp32 = "FP32";

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Context {
  LoadedCheckpoint teacher;     // with folds: the encoder each fold's teacher is fine-tuned from
  TaskData data;                // the fixed split, or fold `fold` of a cross-validation
  std::vector<TaskData> folds;  // all folds (the experiment's cross-validation)
};

// folds > 0 with fold >= 0 puts that fold in data; with fold < 0 every fold goes to folds, and
// the encoder's tokenizer gets `fold_text`, the fold teachers' normalization, before any sentence
// is encoded.
Context load_context(Task task, const std::string& teacher_path, const std::string& data_dir,
                     int folds = 0, int fold = -1,
                     const model::Normalization& fold_text = model::Normalization{}) {
  Context c{load_checkpoint(teacher_path), {}, {}};
  if (folds > 0 && fold < 0) c.teacher.tokenizer.set_normalization(fold_text);
  if (folds > 0 && task != Task::kCls)
    throw ConfigError("--folds: cross-validation is for --task cls");
  if (task == Task::kCls) {
    if (c.teacher.model->config().kind != ModelKind::kClassifier) {
      throw ConfigError(teacher_path + " is not a classifier");
    }
    const SentimentSplits s = load_sentiment(data_dir);
    std::fprintf(stderr, "sentiment: dropped %d empty records\n", s.dropped_empty);
    if (folds <= 0) {
      tokenize_cls(s, c.teacher.tokenizer, &c.data);
    } else if (fold >= 0) {
      tokenize_cls(sentiment_fold(s, folds, fold), c.teacher.tokenizer, &c.data);
    } else {
      c.folds.resize(static_cast<size_t>(folds));
      for (int f = 0; f < folds; ++f)
        tokenize_cls(sentiment_fold(s, folds, f), c.teacher.tokenizer,
                     &c.folds[static_cast<size_t>(f)]);
    }
  } else if (task == Task::kLm) {
    if (c.teacher.model->config().kind != ModelKind::kCausalLm) {
      throw ConfigError(teacher_path + " is not a causal LM");
    }
    c.data = tokenize_lm(load_lm_corpus(data_dir), c.teacher.tokenizer);
  } else {
    throw ConfigError("QAT runs on task lm or cls");
  }
  return c;
}

void evaluate(Task task, const Transformer& m, QuantState* q, const TaskData& d,
              const TrainConfig& cfg, int eval_windows, QatOutcome* o) {
  if (task == Task::kLm) {
    o->metric = eval_perplexity(m, q, d.lm_validation, cfg.seq, 16, eval_windows);
    o->test_metric = eval_perplexity(m, q, d.lm_test, cfg.seq, 16);
  } else {
    o->metric = eval_accuracy(m, q, d.cls_test_x, d.cls_test_y, cfg.seq, 32, d.pad_id);
    o->dev_metric = eval_accuracy(m, q, d.cls_dev_x, d.cls_dev_y, cfg.seq, 32, d.pad_id);
    o->test_metric = o->metric;
  }
}

// The control run (fp-ft): the teacher trained on with the same recipe and no quantizers, to
// tell what the training alone does to a model that has not converged.
QatOutcome fp_finetune_once(Task task, const TaskData& data, const model::BpeTokenizer& tok,
                            const Transformer& teacher, int eval_windows, const TrainConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  Transformer model(teacher.config(), 0);
  model.copy_from(teacher);
  QatOutcome o;
  o.setting = "FP32";
  const TrainStats st =
      train(task, model, nullptr, nullptr, SquatLossConfig{false, false, false}, data, cfg, tok);
  o.tokens_per_s = st.tokens_per_s;
  o.steps = st.steps;
  o.validation = st.validation;
  evaluate(task, model, nullptr, data, cfg, eval_windows, &o);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

// One QAT run on a loaded context: copy the teacher, calibrate, train (unless PTQ), evaluate.
QatOutcome qat_once(Task task, const TaskData& data, const model::BpeTokenizer& tok,
                    const Transformer& teacher, const model::QuantSpec& qc,
                    const std::string& method, const SquatLossConfig& loss, int calib_batches,
                    int eval_windows, bool mse_init, const TrainConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  Transformer student(teacher.config(), 0);
  student.copy_from(teacher);
  QuantState qs(qc, student.config().n_layers, student.config().kind);
  QatOutcome o;
  o.setting = model::quant_label(qc, student.config().n_layers);
  const bool ptq = method == "ptq";
  if (!ptq && method != "lsq" && method != "squat") {
    throw ConfigError("method " + method + " is not ptq, lsq or squat");
  }
  calibrate(task, student, &qs, data, cfg, calib_batches,
            ptq || mse_init ? QuantState::Init::kPtq : QuantState::Init::kLsq);
  if (!ptq) {
    const bool squat = method == "squat";
    const SquatLossConfig l = squat ? loss : SquatLossConfig{false, false, false};
    const TrainStats st = train(task, student, &qs, squat ? &teacher : nullptr, l, data, cfg, tok);
    o.tokens_per_s = st.tokens_per_s;
    o.steps = st.steps;
    o.term_stats = st.term_stats;
    o.validation = st.validation;
  } else if (!cfg.checkpoint_path.empty()) {
    save_checkpoint(cfg.checkpoint_path, student, tok, &qs, nullptr, 0, "{\"method\":\"ptq\"}");
  }
  evaluate(task, student, &qs, data, cfg, eval_windows, &o);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

}  // namespace

model::QuantSpec setting_config(const std::string& setting, int n_layers) {
  const model::Setting s = model::Setting::parse(setting);
  if (!s.is_quantized()) {
    throw ConfigError("setting " + setting + " is not a quantized setting (QAT needs W<w>A<a>...)");
  }
  return s.to_quant_spec(n_layers, model::ActScaleMode::kLsq);
}

TrainConfig default_qat_config(Task task) {
  TrainConfig c;
  c.steps = 300;
  c.batch = task == Task::kCls ? 32 : 16;
  c.seq = task == Task::kCls ? 96 : 128;
  c.lr = task == Task::kCls ? 1e-4f : 2e-4f;
  c.warmup = 20;
  c.weight_decay = 0.0f;
  c.min_lr_ratio = 0.1f;
  c.log_every = 50;
  c.seed = 7;
  c.label = std::string("qat-") + task_name(task);
  return c;
}

QatOutcome run_qat_request(const QatRequest& r) {
  if (r.method == kFpFinetune && (r.setting != "FP32" || !r.quant_json.empty())) {
    throw UsageError("--method fp-ft trains the float model: give --setting FP32");
  }
  if (r.folds > 0 && r.fold < 0) throw UsageError("--folds needs --fold F (0 .. folds - 1)");
  const Context c = load_context(r.task, r.teacher_path, r.data_dir, r.folds, r.fold);
  if (r.method == kFpFinetune) {
    return fp_finetune_once(r.task, c.data, c.teacher.tokenizer, *c.teacher.model, r.eval_windows,
                            r.train);
  }
  const int layers = c.teacher.model->config().n_layers;
  const model::QuantSpec qc = r.quant_json.empty()
                                  ? setting_config(r.setting, layers)
                                  : model::QuantSpec::from_json(r.quant_json, "--quant");
  qc.validate(layers);
  return qat_once(r.task, c.data, c.teacher.tokenizer, *c.teacher.model, qc, r.method, r.loss,
                  r.calib_batches, r.eval_windows, r.mse_init, r.train);
}

MeanSd mean_sd(const std::vector<double>& values) {
  MeanSd m;
  m.n = static_cast<int>(values.size());
  if (values.empty()) return m;
  for (double v : values) m.mean += v;
  m.mean /= m.n;
  if (m.n < 2) return m;
  double ss = 0;
  for (double v : values) ss += (v - m.mean) * (v - m.mean);
  m.sd = std::sqrt(ss / (m.n - 1));
  return m;
}

double seconds_left(const std::vector<std::string>& remaining,
                    const std::map<std::string, MeanSd>& finished, int jobs) {
  double trained = 0, all = 0;
  int n_trained = 0, n_all = 0;
  for (const auto& [method, ms] : finished) {
    all += ms.mean * ms.n, n_all += ms.n;
    if (method != "ptq") trained += ms.mean * ms.n, n_trained += ms.n;
  }
  if (n_all == 0 || remaining.empty()) return 0;
  double left = 0;
  for (const auto& method : remaining) {
    const auto it = finished.find(method);
    if (it != finished.end() && it->second.n > 0)
      left += it->second.mean;
    else if (n_trained > 0 && method != "ptq")
      left += trained / n_trained;
    else
      left += all / n_all;
  }
  const double side_by_side = std::min<double>(std::max(jobs, 1), remaining.size());
  return left / side_by_side;
}

namespace {
// Adds one value to a running mean (the sd is not kept).
void add_to_mean(MeanSd& m, double value) {
  m.mean = (m.mean * m.n + value) / (m.n + 1);
  ++m.n;
}
}  // namespace

std::map<std::string, MeanSd> kept_method_seconds(const std::vector<ExperimentRow>& rows,
                                                  int64_t steps) {
  std::map<std::string, std::vector<double>> times;
  for (const ExperimentRow& row : rows) {
    const bool same_recipe = row.outcome.steps == 0 || row.outcome.steps == steps;  // PTQ: 0
    if (row.method == "fp" || row.outcome.seconds <= 0 || !same_recipe) continue;
    times[row.method].push_back(row.outcome.seconds);
  }
  std::map<std::string, MeanSd> out;
  for (const auto& [method, t] : times) out[method] = {median(t), 0, static_cast<int>(t.size())};
  return out;
}

PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                                   bool lower_is_better, const std::string& a_name,
                                   const std::string& b_name) {
  if (a.size() != b.size()) throw QatError("paired_difference: unequal pair counts");
  PairedDifference p;
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    d[i] = a[i] - b[i];
    const bool a_wins = lower_is_better ? d[i] < 0 : d[i] > 0;
    const bool b_wins = lower_is_better ? d[i] > 0 : d[i] < 0;
    p.a_better += a_wins;
    p.b_better += b_wins;
  }
  p.diff = mean_sd(d);
  const int n = p.diff.n;
  if (n == 0) {
    p.reading = "no pairs";
  } else if (n == 1) {
    p.reading = "one pair: no spread, no claim";
  } else if (std::abs(p.diff.mean) > p.diff.sd && (p.a_better == n || p.b_better == n)) {
    p.reading = (p.a_better == n ? a_name : b_name) + " better in every pair";
  } else {
    p.reading = "no difference (inside the spread)";
  }
  return p;
}

model::Normalization classifier_text() { return {true, true}; }

TrainConfig cls_finetune_defaults() {
  TrainConfig c;
  c.label = task_name(Task::kCls);
  c.seq = 96;
  c.lr = 1e-3f;
  c.warmup = 50;
  return c;
}

std::string fold_teacher_path(const std::string& out_dir, int fold) {
  return out_dir + "/fold-" + std::to_string(fold) + "-teacher.safetensors";
}

std::string fold_teacher_command(const ExperimentRequest& r, int fold) {
  std::ostringstream c;
  const TrainConfig& f = r.finetune;
  c << "hil-train train --task cls --init " << r.teacher_path << " --folds " << r.folds
    << " --fold " << fold << " --steps " << f.steps << " --batch " << f.batch << " --seq " << f.seq
    << " --lr " << f.lr << " --warmup " << f.warmup << " --seed " << f.seed << " --normalize "
    << r.finetune_text.to_string();
  if (!r.data_dir.empty()) c << " --data " << r.data_dir;
  c << " --out " << fold_teacher_path(r.out_dir, fold);
  return c.str();
}

std::string qat_command_for(const ExperimentRequest& r, const std::string& setting,
                            const std::string& method, int64_t seed, int fold) {
  std::ostringstream c;
  c << "hil-train qat --task " << task_name(r.task) << " --teacher "
    << (fold >= 0 ? fold_teacher_path(r.out_dir, fold) : r.teacher_path) << " --setting "
    << setting;
  if (fold >= 0) c << " --folds " << r.folds << " --fold " << fold;
  if (method == "ptq" || method == "lsq" || method == kFpFinetune) {
    c << " --method " << method;
  } else {
    c << " --method squat";
    if (method == "squat-e") c << " --no-entropy";
    if (method == "squat-d") c << " --no-distribution";
    c << " --entropy-form " << entropy_form_name(r.loss.entropy_form) << " --r-entropy "
      << r.loss.r_entropy << " --r-distribution " << r.loss.r_distribution;
  }
  c << " --steps " << r.train.steps << " --batch " << r.train.batch << " --seq " << r.train.seq
    << " --lr " << r.train.lr << " --warmup " << r.train.warmup << " --seed " << seed
    << " --calib-batches " << r.calib_batches << " --eval-windows " << r.eval_windows
    << " --step-init " << (r.mse_init ? "mse" : "lsq");
  if (!r.data_dir.empty()) c << " --data " << r.data_dir;
  return c.str();
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// What makes two experiments' runs comparable: the training recipe, the loss and the
// evaluation (the number of seeds is not part of it: a resumed run may add seeds).
nlohmann::json recipe_json(const ExperimentRequest& r) {
  nlohmann::json j = {{"task", task_name(r.task)},
                      {"teacher", r.teacher_path},
                      {"steps", r.train.steps},
                      {"batch", r.train.batch},
                      {"seq", r.train.seq},
                      {"lr", r.train.lr},
                      {"warmup", r.train.warmup},
                      {"first_seed", r.train.seed},
                      {"calib_batches", r.calib_batches},
                      {"eval_windows", r.eval_windows},
                      {"eval_every", r.train.eval_every},
                      {"step_init", r.mse_init ? "mse" : "lsq"},
                      {"entropy_form", entropy_form_name(r.loss.entropy_form)},
                      {"r_entropy", r.loss.r_entropy},
                      {"r_distribution", r.loss.r_distribution},
                      {"gamma", r.loss.gamma},
                      {"tau", r.loss.tau}};
  if (r.folds > 0) {  // absent otherwise, so the files of the fixed split keep their recipe
    j["folds"] = r.folds;
    j["finetune"] = {{"steps", r.finetune.steps},   {"batch", r.finetune.batch},
                     {"seq", r.finetune.seq},       {"lr", r.finetune.lr},
                     {"warmup", r.finetune.warmup}, {"seed", r.finetune.seed}};
    // Absent when none, so the tables made before classifiers normalized keep their recipe.
    if (!r.finetune_text.none()) j["finetune"]["normalize"] = r.finetune_text.to_string();
  }
  return j;
}

// One run of results.json back as a row (the inverse of write_tables' "runs" entries).
ExperimentRow row_from_json(const nlohmann::json& run, bool lm) {
  ExperimentRow row;
  row.setting = run.at("setting").get<std::string>();
  row.method = run.at("method").get<std::string>();
  row.seed = run.at("seed").get<int64_t>();
  row.fold = run.value("fold", -1);
  row.build = run.value("build", std::string());
  QatOutcome& o = row.outcome;
  if (lm) {
    o.metric = run.at("validation_perplexity").get<double>();
    o.test_metric = run.at("test_perplexity").get<double>();
  } else {
    o.metric = o.test_metric = run.at("test_accuracy").get<double>();
    o.dev_metric = run.at("dev_accuracy").get<double>();
  }
  o.steps = run.at("steps").get<int64_t>();
  o.tokens_per_s = run.at("tokens_per_s").get<double>();
  o.seconds = run.at("seconds").get<double>();
  for (const auto& t : run.at("loss_terms_first_step")) {
    o.term_stats.push_back({t.at("term").get<std::string>(), t.at("weight").get<float>(),
                            t.at("value").get<float>(), t.at("grad_norm_weights").get<double>(),
                            t.at("grad_norm_steps").get<double>()});
  }
  for (const auto& p : run.at("validation_curve"))
    o.validation.emplace_back(p.at(0).get<int64_t>(), p.at(1).get<double>());
  return row;
}

// The runs of an earlier experiment in out_dir/results.json with the same recipe (--resume), the
// commands that made the file, and the sha256 of the teacher they were made from (empty in a file
// from before it was recorded).
std::vector<ExperimentRow> resumed_rows(const ExperimentRequest& r,
                                        std::vector<std::string>* commands,
                                        std::string* teacher_sha256) {
  const std::string path = r.out_dir + "/results.json";
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "experiment: --resume: no %s yet, every run starts\n", path.c_str());
    return {};
  }
  std::vector<ExperimentRow> rows;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    const nlohmann::json now = recipe_json(r);
    nlohmann::json before = j.at("config");
    before["task"] = j.at("task");
    before["teacher"] = j.at("teacher");
    if (before.contains("folds") && !now.contains("folds")) {
      throw ConfigError("--resume: " + path + " was run with folds = " + before["folds"].dump() +
                        ", this run has none; use another --out");
    }
    for (const auto& [key, value] : now.items()) {
      if (!before.contains(key) || before[key] != value) {
        std::string what = "--resume: ";
        what += path;
        what += " was run with ";
        what += key;
        what += " = ";
        what += before.contains(key) ? before[key].dump() : "(absent)";
        what += ", this run has ";
        what += value.dump();
        what += "; use another --out";
        throw ConfigError(what);
      }
    }
    for (const auto& run : j.at("runs")) rows.push_back(row_from_json(run, r.task == Task::kLm));
    // Every invocation that added runs, oldest first ("command" alone: a file from before the
    // list was kept).
    if (j.contains("commands")) {
      *commands = j.at("commands").get<std::vector<std::string>>();
    } else if (!j.value("command", std::string()).empty()) {
      commands->push_back(j.at("command").get<std::string>());
    }
    *teacher_sha256 = j.value("teacher_sha256", std::string());
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("--resume: " + path + " is not an experiment's results.json: " + e.what());
  }
  return rows;
}

// The paired comparisons of results.md/json: per setting, LSQ against PTQ, Squat against LSQ and
// the Squat ablations against Squat, each pair from the same seed (and fold); and every method
// against its float control of the same seed (LM: the fp-ft row, relative; classifier: the
// fold's FP teacher, in points).
void write_paired(const ExperimentRequest& r, const std::vector<ExperimentRow>& rows,
                  std::ostringstream& md, nlohmann::json& j) {
  const bool lm = r.task == Task::kLm;
  using Key = std::pair<int64_t, int>;  // seed, fold
  std::map<std::pair<std::string, std::string>, std::map<Key, double>> cell;
  std::map<Key, double> control;  // LM: fp-ft per seed; cls: fp per fold
  for (const auto& row : rows) {
    const double v = row.outcome.test_metric;
    if (lm && row.method == kFpFinetune) control[{row.seed, row.fold}] = v;
    if (!lm && row.method == "fp") control[{0, row.fold}] = v;
    cell[{row.setting, row.method}][{row.seed, row.fold}] = v;
  }
  const std::vector<std::pair<std::string, std::string>> ladder = {
      {"lsq", "ptq"}, {"squat", "lsq"}, {"squat", "squat-e"}, {"squat", "squat-d"}};
  nlohmann::json out = nlohmann::json::array();
  std::ostringstream t;
  // One comparison: a line of the Markdown table and an entry of results.json's "paired".
  auto add = [&](const std::string& s, const std::string& a, const std::string& b,
                 const std::string& joiner, const MeanSd& d, const char* unit,
                 const std::string& reading, const char* extra_key, const std::string& extra) {
    t << "| " << s << " | " << a << joiner << b << " | " << d.n << " | " << fmt("%+.2f", d.mean)
      << (d.n > 1 ? " ± " + fmt("%.2f", d.sd) : "") << unit << " | " << reading << " |\n";
    out.push_back({{"setting", s},
                   {"a", a},
                   {"b", b},
                   {"pairs", d.n},
                   {"mean", d.mean},
                   {"sd", d.sd},
                   {extra_key, extra}});
  };
  for (const auto& s : split_list(r.settings)) {
    for (const auto& [a, b] : ladder) {
      const auto ia = cell.find({s, a}), ib = cell.find({s, b});
      if (ia == cell.end() || ib == cell.end()) continue;
      std::vector<double> va, vb;
      for (const auto& [key, v] : ia->second) {
        const auto hit = ib->second.find(key);
        if (hit != ib->second.end()) va.push_back(v), vb.push_back(hit->second);
      }
      if (va.empty()) continue;
      // Classifier accuracies in points.
      if (!lm)
        for (auto* v : {&va, &vb})
          for (double& x : *v) x *= 100;
      const PairedDifference p = paired_difference(va, vb, lm, a, b);
      add(s, a, b, " − ", p.diff, lm ? "" : " points", p.reading, "reading", p.reading);
    }
    if (control.empty()) continue;
    for (const auto& m : split_list(r.methods)) {
      if (m == kFpFinetune) continue;
      const auto it = cell.find({s, m});
      if (it == cell.end()) continue;
      std::vector<double> rel;
      for (const auto& [key, v] : it->second) {
        const auto c = control.find(lm ? key : Key{0, key.second});
        if (c == control.end()) continue;
        rel.push_back(lm ? 100.0 * (v / c->second - 1) : 100.0 * (v - c->second));
      }
      if (rel.empty()) continue;
      add(s, m, lm ? "fp-ft" : "FP", " vs ", mean_sd(rel), lm ? " %" : " points",
          lm ? "test perplexity change" : "accuracy change", "unit", lm ? "percent" : "points");
    }
  }
  j["paired"] = out;
  if (out.empty()) return;
  md << "\n## Paired differences (same seed" << (r.folds > 0 ? " and fold" : "") << ")\n\n"
     << (lm ? "Test perplexity, lower is better" : "Test accuracy, higher is better")
     << ". A method is named better only where it is better in every pair and the mean "
        "difference is larger than its sd.\n\n| setting | comparison | pairs | difference, mean "
        "± sd | reading |\n|---|---|---|---|---|\n"
     << t.str();
}

// results.md and results.json from the finished rows. `others` are kept runs that this command's
// --settings, --methods, --seeds or --folds do not select: they stay in results.json's runs (a
// narrower --resume must not lose them) and out of the tables. `commands`: the invocations that
// made the runs, oldest first; empty means this one alone.
void write_tables(const ExperimentRequest& r, const std::vector<ExperimentRow>& rows,
                  const std::vector<ExperimentRow>& others,
                  const std::vector<std::string>& commands, const std::string& teacher_sha256) {
  const std::vector<std::string> history =
      commands.empty() ? std::vector<std::string>{r.command_line} : commands;
  const bool lm = r.task == Task::kLm;
  const char* vf = lm ? "%.2f" : "%.4f";
  const std::vector<std::string> settings = split_list(r.settings), methods = split_list(r.methods);
  std::map<std::pair<std::string, std::string>, std::vector<double>> test, val;
  const ExperimentRow* fp = nullptr;
  std::vector<double> fp_tests;  // one per fold with folds
  for (const auto& row : rows) {
    if (row.method == "fp") fp = &row, fp_tests.push_back(row.outcome.test_metric);
    test[{row.setting, row.method}].push_back(row.outcome.test_metric);
    val[{row.setting, row.method}].push_back(row.outcome.metric);
  }
  const bool cv = r.folds > 0;
  const double fp_test = fp ? fp->outcome.test_metric : 0;
  nlohmann::json j;
  j["task"] = task_name(r.task);
  j["command"] = history.back();
  j["commands"] = history;
  j["teacher"] = r.teacher_path;
  j["teacher_sha256"] = teacher_sha256;
  j["metric"] = lm ? "test perplexity" : "test accuracy";
  j["config"] = recipe_json(r);
  j["config"]["seeds"] = r.seeds;
  if (fp && !cv) j["fp"] = {{"test", fp->outcome.test_metric}, {"validation", fp->outcome.metric}};
  const MeanSd fp_cv = mean_sd(fp_tests);
  if (fp && cv) j["fp"] = {{"test_mean", fp_cv.mean}, {"test_sd", fp_cv.sd}, {"values", fp_tests}};

  std::ostringstream md;
  md << "# QAT experiment (" << task_name(r.task) << ")\n\n";
  if (history.size() == 1) {
    md << "Command: `" << history.back() << "`\n\n";
  } else {
    md << "Commands (the runs come from " << history.size()
       << " invocations of the same recipe, oldest first; each ran what the ones before had not):"
       << "\n\n";
    for (const auto& c : history) md << "- `" << c << "`\n";
    md << "\n";
  }
  if (cv) {
    const TrainConfig& f = r.finetune;
    md << r.folds << "-fold cross-validation over every labelled sentence (train, dev and test "
       << "pooled, stratified): each fold's FP teacher is fine-tuned from the encoder `"
       << r.teacher_path << "` on the other folds (" << f.steps << " steps x batch " << f.batch
       << " x seq " << f.seq << ", lr " << f.lr << ", warm-up " << f.warmup << ", seed " << f.seed
       << "), and each run of the fold starts from it and is tested on the held-out fold. "
       << "Mean and sd are over folds (and seeds).\n\n";
  }
  md << (cv ? "QAT: " : "Teacher `" + r.teacher_path + "`; ") << r.train.steps << " steps x batch "
     << r.train.batch << " x seq " << r.train.seq << ", lr " << r.train.lr << ", warm-up "
     << r.train.warmup << ", seeds " << r.train.seed << ".."
     << r.train.seed + static_cast<uint64_t>(r.seeds) - 1 << ", " << r.calib_batches
     << " calibration batches, step init " << (r.mse_init ? "mse" : "lsq") << "; Squat: L_E "
     << entropy_form_name(r.loss.entropy_form) << " r_E " << r.loss.r_entropy << ", r_D "
     << r.loss.r_distribution << ", gamma " << r.loss.gamma << ", tau " << r.loss.tau << ".\n\n";
  std::map<std::string, int> builds;  // the runs per build (empty: not recorded)
  for (const auto& row : rows) ++builds[row.build];
  if (!builds.empty()) {
    md << "Builds (vector instructions as Eigen uses them; each width rounds differently):";
    const char* sep = " ";
    for (const auto& [build, n] : builds) {
      md << sep << (build.empty() ? "not recorded" : "`" + build + "`") << ", " << n << " run"
         << (n == 1 ? "" : "s");
      sep = "; ";
    }
    md << ".\n\n";
  }
  if (fp && cv) {
    md << "FP32 fold teachers: held-out accuracy " << fmt(vf, fp_cv.mean) << " ± "
       << fmt(vf, fp_cv.sd) << " over " << fp_cv.n << " folds.\n\n";
  } else if (fp) {
    md << "FP32 teacher: " << (lm ? "test perplexity " : "test accuracy ")
       << fmt(vf, fp->outcome.test_metric) << " (" << (lm ? "validation " : "dev ")
       << fmt(vf, lm ? fp->outcome.metric : fp->outcome.dev_metric) << ").\n\n";
  }
  md << "## " << (lm ? "Test perplexity" : "Test accuracy") << ", mean ± sd over the "
     << (cv ? "folds and seeds" : "seeds") << (lm ? " (relative to FP32)" : "")
     << "\n\n| setting |";
  for (const auto& m : methods) md << " " << m << " |";
  md << "\n|---|";
  for (size_t i = 0; i < methods.size(); ++i) md << "---|";
  md << "\n";
  nlohmann::json table = nlohmann::json::array();
  std::vector<std::string> table_rows = settings;
  if (std::find(methods.begin(), methods.end(), kFpFinetune) != methods.end())
    table_rows.insert(table_rows.begin(), kFp32);  // the fp-ft control's row
  for (const auto& s : table_rows) {
    md << "| " << s << " |";
    for (const auto& m : methods) {
      const auto it = test.find({s, m});
      if (it == test.end()) {
        md << " – |";
        continue;
      }
      const MeanSd t = mean_sd(it->second), v = mean_sd(val[{s, m}]);
      md << " " << fmt(vf, t.mean) << (t.n > 1 ? " ± " + fmt(vf, t.sd) : "");
      if (lm && fp_test > 0) md << " (" << fmt("%+.1f", 100.0 * (t.mean / fp_test - 1)) << " %)";
      md << " |";
      table.push_back({{"setting", s},
                       {"method", m},
                       {"n", t.n},
                       {"test_mean", t.mean},
                       {"test_sd", t.sd},
                       {"validation_mean", v.mean},
                       {"validation_sd", v.sd},
                       {"values", it->second}});
    }
    md << "\n";
  }
  j["table"] = table;
  md << "\nA difference smaller than the spread (sd) of the cells is no difference.\n";
  write_paired(r, rows, md, j);

  md << "\n## Runs\n\n| setting | method | seed | " << (cv ? "fold | " : "")
     << (lm ? "validation | test" : "dev | test") << " | steps | QAT tokens/s | seconds |\n|"
     << (cv ? "---|" : "") << "---|---|---|---|---|---|---|---|\n";
  auto run_json = [&](const ExperimentRow& row) {
    const QatOutcome& o = row.outcome;
    nlohmann::json terms = nlohmann::json::array();
    for (const auto& t : o.term_stats) {
      terms.push_back({{"term", t.name},
                       {"value", t.value},
                       {"weight", t.weight},
                       {"grad_norm_weights", t.grad_norm_weights},
                       {"grad_norm_steps", t.grad_norm_steps}});
    }
    nlohmann::json curve = nlohmann::json::array();
    for (const auto& [step, ppl] : o.validation) curve.push_back({step, ppl});
    nlohmann::json run = {
        {"setting", row.setting},
        {"method", row.method},
        {"seed", row.seed},
        {lm ? "validation_perplexity" : "test_accuracy", o.metric},
        {lm ? "test_perplexity" : "dev_accuracy", lm ? o.test_metric : o.dev_metric},
        {"steps", o.steps},
        {"tokens_per_s", o.tokens_per_s},
        {"seconds", o.seconds},
        {"loss_terms_first_step", terms},
        {"validation_curve", curve},
        {"command", row.method == "fp"
                        ? (row.fold >= 0 ? fold_teacher_command(r, row.fold) : std::string())
                        : qat_command_for(r, row.setting, row.method, row.seed, row.fold)}};
    if (row.fold >= 0) run["fold"] = row.fold;
    if (!row.build.empty()) run["build"] = row.build;
    return run;
  };
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& row : rows) {
    const QatOutcome& o = row.outcome;
    md << "| " << row.setting << " | " << row.method << " | " << row.seed << " | ";
    if (cv) md << row.fold << " | ";
    md << (cv ? "–" : fmt(vf, lm ? o.metric : o.dev_metric)) << " | " << fmt(vf, o.test_metric)
       << " | " << o.steps << " | " << fmt("%.0f", o.tokens_per_s) << " | "
       << fmt("%.0f", o.seconds) << " |\n";
    runs.push_back(run_json(row));
  }
  for (const auto& row : others) runs.push_back(run_json(row));
  if (!others.empty())
    md << "\nresults.json keeps " << others.size()
       << " more runs, of settings, methods, seeds or folds this command did not select.\n";
  j["runs"] = runs;

  bool any_terms = false;
  for (const auto& row : rows) any_terms = any_terms || !row.outcome.term_stats.empty();
  if (any_terms) {
    md << "\n## Loss terms at the first step\n\nGradient norms are of weight × term, over the "
          "model's weights and over the quantizer steps.\n\n| setting | method | seed | term | "
          "value | weight | weighted | grad norm (weights) | grad norm (steps) |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      for (const auto& t : row.outcome.term_stats) {
        md << "| " << row.setting << " | " << row.method << " | " << row.seed << " | " << t.name
           << " | " << fmt("%.4f", t.value) << " | " << fmt("%g", t.weight) << " | "
           << fmt("%.4f", t.weight * t.value) << " | " << fmt("%.3e", t.grad_norm_weights) << " | "
           << fmt("%.3e", t.grad_norm_steps) << " |\n";
      }
    }
  }
  bool any_curve = false;
  for (const auto& row : rows) any_curve = any_curve || !row.outcome.validation.empty();
  if (any_curve) {
    md << "\n## Validation perplexity during training (" << r.train.eval_windows << " windows)\n\n";
    for (const auto& row : rows) {
      if (row.outcome.validation.empty()) continue;
      md << "- " << row.setting << " " << row.method << " seed " << row.seed << ":";
      for (const auto& [step, ppl] : row.outcome.validation)
        md << " " << step << ": " << fmt("%.2f", ppl);
      md << "\n";
    }
  }
  md << "\n## Reproduce\n\nThe whole table" << (history.size() > 1 ? " (in this order)" : "")
     << ":\n\n```\n";
  for (const auto& c : history) md << c << "\n";
  md << "```\n\nOne run (same numbers, bit for bit on the same build):\n\n```\n";
  for (const auto& row : rows) {
    if (row.method != "fp") {
      md << qat_command_for(r, row.setting, row.method, row.seed, row.fold) << "\n";
    } else if (row.fold >= 0) {
      md << fold_teacher_command(r, row.fold) << "\n";
    }
  }
  md << "```\n";
  // results.json is what --resume reads back: a kill while it is written must not lose the runs.
  std::string err = write_file_atomically(r.out_dir + "/results.json", j.dump(2) + "\n");
  if (err.empty()) err = write_file_atomically(r.out_dir + "/results.md", md.str());
  if (!err.empty()) throw QatError("cannot write the tables: " + err);
}

// Runs task(i) for i < n on up to `jobs` threads (serially for one); the first failure stops
// the others after their current task and is rethrown.
void run_parallel(size_t n, int jobs, const std::function<void(size_t)>& task) {
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(jobs, 1)), n);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) task(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  const int threads_per_job = num_threads();
  auto worker = [&] {
    set_num_threads(threads_per_job);  // OpenMP's thread count is per calling thread
    for (size_t i = next++; i < n; i = next++) {
      try {
        task(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;  // the others finish their current task and stop
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t i = 0; i < workers; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

// A results.json from before the teacher's hash was kept: its FP row of `fold` must be what this
// teacher scores now (within the rounding of another build), or the kept runs came from another
// teacher.
void check_kept_fp(const std::vector<ExperimentRow>& rows, int fold, double test_now,
                   const ExperimentRequest& r) {
  for (const auto& x : rows) {
    if (x.method != "fp" || x.fold != fold) continue;
    const double before = x.outcome.test_metric;
    if (std::abs(test_now - before) > 1e-4 * std::abs(before)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "test %.6g now, %.6g in the kept FP row%s", test_now, before,
                    fold >= 0 ? (" of fold " + std::to_string(fold)).c_str() : "");
      throw ConfigError("--resume: " + r.teacher_path + " is not the teacher the runs in " +
                        r.out_dir + "/results.json were made from (" + buf +
                        "); use another --out");
    }
    std::fprintf(stderr, "experiment: --resume: the teacher scores its kept FP row (%.6g)%s\n",
                 before, fold >= 0 ? (" on fold " + std::to_string(fold)).c_str() : "");
  }
}

}  // namespace

// A fold's FP teacher must not have seen the held-out fold: a classifier already fine-tuned on
// the labelled sentences (its train_state says task cls) is refused as the encoder, and so is one
// pretrained on the sentences' text of another split than the one it is trained for.
std::pair<int, int> check_encoder(const LoadedCheckpoint& encoder, const std::string& path,
                                  int folds, int fold) {
  const auto state = nlohmann::json::parse(encoder.train_state, nullptr, false);
  if (!state.is_object()) return {-1, -1};
  if (folds != 0 && state.value("task", std::string()) == task_name(Task::kCls)) {
    throw ConfigError("--folds: " + path +
                      " was fine-tuned on the labelled sentences (task cls), so every fold's "
                      "held-out sentences would have been trained on; give the masked-token "
                      "pretrained encoder (hil-train train --task mlm)");
  }
  if (!state.contains("sentence_text")) return {-1, -1};
  const auto& text = state["sentence_text"];
  const int text_folds = text.value("folds", -1), text_fold = text.value("fold", -1);
  if (folds < 0 || text_folds != folds || (folds > 0 && text_fold != fold)) {
    const std::string seen = text_folds > 0 ? "fold " + std::to_string(text_fold) + " of " +
                                                  std::to_string(text_folds) + "'s training"
                                            : "the fixed split's training";
    throw ConfigError(path + " was pretrained on the text of " + seen +
                      " sentences (--corpus sentiment), which holds other splits' held-out "
                      "sentences; use it only with " +
                      (text_folds > 0 ? "--folds " + std::to_string(text_folds) + " --fold " +
                                            std::to_string(text_fold)
                                      : std::string("the fixed split")) +
                      ", or give the encoder pretrained on the LM corpus");
  }
  return {text_folds, text_fold};
}

void run_experiment(const ExperimentRequest& r) {
  namespace fs = std::filesystem;
  if (r.seeds < 1) throw ConfigError("--seeds must be >= 1");
  if (r.jobs < 1) throw ConfigError("--jobs must be >= 1");
  if (r.folds < 0 || r.folds == 1) throw ConfigError("--folds must be 0 (the fixed split) or >= 2");
  fs::create_directories(r.out_dir);
  const Context c = load_context(r.task, r.teacher_path, r.data_dir, r.folds, -1, r.finetune_text);
  if (r.folds > 0) check_encoder(c.teacher, r.teacher_path);
  const int layers = c.teacher.model->config().n_layers;
  const bool lm = r.task == Task::kLm;
  const std::string metric = lm ? "val_ppl" : "test_acc";
  // Every setting and method is checked before the first run.
  std::vector<std::pair<std::string, model::QuantSpec>> settings;
  for (const auto& s : split_list(r.settings)) settings.emplace_back(s, setting_config(s, layers));
  const std::vector<std::string> methods = split_list(r.methods);
  for (const auto& m : methods) {
    if (m != "ptq" && m != "lsq" && m != "squat" && m != "squat-e" && m != "squat-d" &&
        m != kFpFinetune) {
      throw ConfigError("--methods: '" + m + "' is not ptq, lsq, squat, squat-e, squat-d or fp-ft");
    }
  }
  // The tables' order: the FP rows (one per fold), then seeds outermost (after the first seed
  // every cell has a value), folds, settings and methods in the order given.
  using Rank = std::tuple<int64_t, int, size_t, size_t>;
  auto rank = [&](const ExperimentRow& x) {
    if (x.method == "fp") return Rank{-1, x.fold, 0, 0};
    size_t si = 0, mi = 0;
    while (si < settings.size() && settings[si].first != x.setting) ++si;
    while (mi < methods.size() && methods[mi] != x.method) ++mi;
    // The fp-ft control (setting FP32) leads its seed; an unknown setting ranks last.
    return Rank{x.seed, x.fold, x.setting == kFp32 ? 0 : si + 1, mi};
  };
  const int fold_count = std::max(r.folds, 1);  // the fixed split is one "fold", -1
  auto fold_at = [&](int i) { return r.folds > 0 ? i : -1; };
  std::vector<ExperimentRow> rows, others;  // others: kept runs outside this selection
  std::vector<std::string> commands;        // the invocations that made the runs, oldest first
  // Kept runs are comparable only if they were made from this very teacher: the same path may
  // hold a retrained one (a new machine's cache). A file from before the hash was recorded is
  // checked by evaluating the teacher again against its FP rows (verify_fp).
  const std::string teacher_sha256 = model::sha256_file(r.teacher_path);
  bool verify_fp = false;
  if (r.resume) {
    std::string kept_sha256;
    for (auto& row : resumed_rows(r, &commands, &kept_sha256)) {
      const auto [seed, fold, si, mi] = rank(row);
      const bool fold_ok = r.folds > 0 ? fold >= 0 && fold < r.folds : fold < 0;
      const bool wanted =
          fold_ok && (row.method == "fp" || (si <= settings.size() && mi < methods.size() &&
                                             seed >= static_cast<int64_t>(r.train.seed) &&
                                             seed < static_cast<int64_t>(r.train.seed) + r.seeds));
      (wanted ? rows : others).push_back(std::move(row));
    }
    if (!kept_sha256.empty() && kept_sha256 != teacher_sha256) {
      throw ConfigError("--resume: the runs in " + r.out_dir +
                        "/results.json were made from a teacher with sha256 " + kept_sha256 + ", " +
                        r.teacher_path + " has " + teacher_sha256 +
                        " (retrained?); use another --out");
    }
    verify_fp = kept_sha256.empty() && !rows.empty();
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    std::fprintf(stderr, "experiment: --resume: %zu runs kept from %s/results.json\n", rows.size(),
                 r.out_dir.c_str());
    if (!others.empty())
      std::fprintf(stderr,
                   "experiment: --resume: %zu more runs there are outside --settings, --methods, "
                   "--seeds and --folds: kept in results.json, left out of the tables\n",
                   others.size());
    const std::string build = training_build();
    const auto other = std::count_if(rows.begin(), rows.end(),
                                     [&](const ExperimentRow& x) { return x.build != build; });
    if (other > 0) {
      std::fprintf(stderr,
                   "experiment: --resume: %lld kept runs were made by another build or one not "
                   "recorded (this one: %s); they are comparable, not bit-reproducible here\n",
                   static_cast<long long>(other), build.c_str());
    }
    if (r.tables_only) {  // the commands that ran them, not this one
      if (commands.empty()) commands.emplace_back("(not recorded)");
      write_tables(r, rows, others, commands, kept_sha256);  // nothing checked the teacher
      std::fprintf(stderr, "experiment: --tables-only: %s/results.md written, nothing run\n",
                   r.out_dir.c_str());
      return;
    }
    if (r.sink)
      for (const auto& row : rows) r.sink(row);
  }
  // This invocation joins the history (a rerun of the last command after a stop does not); it
  // leaves again if it runs nothing.
  const bool joined = commands.empty() || commands.back() != r.command_line;
  if (joined) commands.push_back(r.command_line);
  size_t runs_made = 0;
  std::ofstream tsv(r.out_dir + "/results.tsv", std::ios::app);
  tsv << "# " << r.command_line << "\n# teacher " << r.teacher_path << " steps " << r.train.steps
      << " batch " << r.train.batch << " seq " << r.train.seq << " lr " << r.train.lr << " seed "
      << r.train.seed << " seeds " << r.seeds << " warmup " << r.train.warmup << " calib_batches "
      << r.calib_batches << " eval_windows " << r.eval_windows << " step_init "
      << (r.mse_init ? "mse" : "lsq") << " entropy_form " << entropy_form_name(r.loss.entropy_form)
      << " r_entropy " << r.loss.r_entropy << " folds " << r.folds << "\n";
  tsv << "setting\tmethod\tseed\tfold\t" << metric << (lm ? "\ttest_ppl" : "\tdev_acc")
      << "\ttokens_per_s\tseconds\n";
  tsv.flush();
  std::mutex finish_mutex;  // rows, the sink, the TSV and the tables: one finished run at a time
  auto finish = [&](ExperimentRow row) {
    const std::lock_guard<std::mutex> lock(finish_mutex);
    const auto at =
        std::upper_bound(rows.begin(), rows.end(), row,
                         [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    const ExperimentRow& x = *rows.insert(at, std::move(row));
    ++runs_made;
    if (r.sink) r.sink(x);
    tsv << x.setting << "\t" << x.method << "\t" << x.seed << "\t" << x.fold << "\t"
        << x.outcome.metric << "\t" << (lm ? x.outcome.test_metric : x.outcome.dev_metric) << "\t"
        << x.outcome.tokens_per_s << "\t" << x.outcome.seconds << "\n";
    tsv.flush();
    std::fprintf(stderr, "experiment: %s %s seed %lld%s %s %.4f test %.4f (%.0f s)\n",
                 x.setting.c_str(), x.method.c_str(), static_cast<long long>(x.seed),
                 x.fold >= 0 ? (" fold " + std::to_string(x.fold)).c_str() : "", metric.c_str(),
                 x.outcome.metric, x.outcome.test_metric, x.outcome.seconds);
    // After every row: a stopped run keeps its table.
    write_tables(r, rows, others, commands, teacher_sha256);
  };
  // Reads rows, which finish() may grow from another fold's thread at the same time.
  auto done = [&](const std::string& setting, const std::string& method, int64_t seed, int fold) {
    const std::lock_guard<std::mutex> lock(finish_mutex);
    for (const auto& x : rows)
      if (x.setting == setting && x.method == method && x.fold == fold &&
          (method == "fp" || x.seed == seed))
        return true;
    return false;
  };
  // The FP teachers: the checkpoint itself, or per fold one fine-tuned from the encoder on the
  // other folds (kept on disk, so --resume does not train it again), each with its FP row.
  std::vector<std::unique_ptr<Transformer>> fold_teachers(static_cast<size_t>(fold_count));
  auto data_of = [&](int fold) -> const TaskData& {
    return fold >= 0 ? c.folds[static_cast<size_t>(fold)] : c.data;
  };
  auto teacher_of = [&](int fold) -> const Transformer& {
    return fold >= 0 ? *fold_teachers[static_cast<size_t>(fold)] : *c.teacher.model;
  };
  run_parallel(static_cast<size_t>(fold_count), r.jobs, [&](size_t i) {
    const int fold = fold_at(static_cast<int>(i));
    const auto t0 = std::chrono::steady_clock::now();
    if (fold >= 0) {
      const std::string path = fold_teacher_path(r.out_dir, fold);
      std::unique_ptr<Transformer> t;
      if (r.resume && fs::exists(path)) {
        LoadedCheckpoint kept = load_checkpoint(path);
        if (!(kept.model->config().to_json() == c.teacher.model->config().to_json()))
          throw ConfigError("--resume: " + path + " is not a fine-tune of " + r.teacher_path);
        if (!(kept.tokenizer.normalization() == r.finetune_text)) {
          throw ConfigError("--resume: " + path + " normalizes text as " +
                            kept.tokenizer.normalization().to_string() + ", this run as " +
                            r.finetune_text.to_string() + " (--ft-normalize); use another --out");
        }
        t = std::move(kept.model);
        std::fprintf(stderr, "experiment: --resume: fold %d's teacher from %s\n", fold,
                     path.c_str());
      } else {
        t = std::make_unique<Transformer>(c.teacher.model->config(), 0);
        t->copy_from(*c.teacher.model);
        TrainConfig cfg = r.finetune;
        cfg.checkpoint_path = path;
        cfg.label = "fold " + std::to_string(fold) + " teacher";
        train(Task::kCls, *t, nullptr, nullptr, SquatLossConfig{false, false, false}, data_of(fold),
              cfg, c.teacher.tokenizer);
      }
      fold_teachers[i] = std::move(t);
    }
    const bool kept = done(kFp32, "fp", 0, fold);
    if (kept && !verify_fp) return;
    QatOutcome fp;
    fp.setting = kFp32;
    evaluate(r.task, teacher_of(fold), nullptr, data_of(fold), r.train, r.eval_windows, &fp);
    if (kept) {
      const std::lock_guard<std::mutex> lock(finish_mutex);
      check_kept_fp(rows, fold, fp.test_metric, r);
      return;
    }
    fp.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    finish({kFp32, "fp", fp, static_cast<int64_t>(r.train.seed), fold, training_build()});
  });
  struct Cell {
    const std::string* setting;
    const model::QuantSpec* qc;
    const std::string* method;
    uint64_t seed;
    int fold;
  };
  std::vector<Cell> cells;
  for (int si = 0; si < r.seeds; ++si) {
    const uint64_t seed = r.train.seed + static_cast<uint64_t>(si);
    for (int fi = 0; fi < fold_count; ++fi) {
      const int fold = fold_at(fi);
      for (const auto& m : methods)
        if (m == kFpFinetune && !done(kFp32, m, static_cast<int64_t>(seed), fold))
          cells.push_back({&kFp32, nullptr, &m, seed, fold});
      for (const auto& [setting, qc] : settings)
        for (const auto& m : methods)
          if (m != kFpFinetune && !done(setting, m, static_cast<int64_t>(seed), fold))
            cells.push_back({&setting, &qc, &m, seed, fold});
    }
  }
  if (cells.empty()) {  // every run kept: the tables are still written, by this build's code
    std::fprintf(stderr, "experiment: every run is already in %s/results.json\n",
                 r.out_dir.c_str());
    if (joined && runs_made == 0) commands.pop_back();
    write_tables(r, rows, others, commands, teacher_sha256);
    return;
  }
  // Progress over the whole table: runs finished and the time the rest will take. A PTQ run is
  // seconds and a Squat run many minutes, so each remaining run is priced at the mean time of
  // finished runs of its method (an untimed method: the mean of the finished trained runs, else of
  // all), and the sum is divided by the runs side by side. Until a method has a run finished here,
  // the runs kept by --resume price it, so a resumed table's first estimate is not PTQ's seconds.
  const auto cells_start = std::chrono::steady_clock::now();
  std::mutex progress_mutex;
  std::vector<char> cell_done(cells.size(), 0);
  std::map<std::string, MeanSd> method_seconds;  // mean over runs finished here (n = count)
  std::vector<ExperimentRow> kept = rows;        // every kept run of the recipe prices its method
  kept.insert(kept.end(), others.begin(), others.end());
  const std::map<std::string, MeanSd> kept_seconds = kept_method_seconds(kept, r.train.steps);
  auto priced_left = [&] {
    std::map<std::string, MeanSd> prices = kept_seconds;
    for (const auto& [method, m] : method_seconds) prices[method] = m;
    std::vector<std::string> remaining;
    for (size_t i = 0; i < cells.size(); ++i)
      if (!cell_done[i]) remaining.push_back(*cells[i].method);
    return seconds_left(remaining, prices, r.jobs);
  };
  if (!kept_seconds.empty())
    std::fprintf(stderr, "experiment: %zu runs to do, about %s (priced at the kept runs' times)\n",
                 cells.size(), format_duration(priced_left()).c_str());
  size_t cells_done = 0;
  auto progress = [&](size_t index, double seconds) {
    const std::lock_guard<std::mutex> lock(progress_mutex);
    const size_t n = ++cells_done;
    cell_done[index] = 1;
    add_to_mean(method_seconds[*cells[index].method], seconds);
    const double left = priced_left();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - cells_start).count();
    std::fprintf(stderr, "experiment: %zu of %zu runs done in %s%s\n", n, cells.size(),
                 format_duration(elapsed).c_str(),
                 n < cells.size() ? (", about " + format_duration(left) + " left").c_str() : "");
  };
  auto run_cell = [&](const Cell& cell, const Transformer& teacher) {
    SquatLossConfig loss = r.loss;
    std::string method = *cell.method;
    if (method == "squat-e") {
      loss.entropy = false, method = "squat";
    } else if (method == "squat-d") {
      loss.distribution = false, method = "squat";
    }
    TrainConfig cfg = r.train;
    cfg.seed = cell.seed;
    cfg.label = *cell.setting + ' ' + *cell.method + " s" + std::to_string(cell.seed) +
                (cell.fold >= 0 ? " f" + std::to_string(cell.fold) : "");
    const TaskData& data = data_of(cell.fold);
    const QatOutcome o =
        cell.qc ? qat_once(r.task, data, c.teacher.tokenizer, teacher, *cell.qc, method, loss,
                           r.calib_batches, r.eval_windows, r.mse_init, cfg)
                : fp_finetune_once(r.task, data, c.teacher.tokenizer, teacher, r.eval_windows, cfg);
    finish({*cell.setting, *cell.method, o, static_cast<int64_t>(cell.seed), cell.fold,
            training_build()});
    progress(static_cast<size_t>(&cell - cells.data()), o.seconds);
  };
  if (r.jobs <= 1 || cells.size() <= 1) {
    for (const Cell& cell : cells) run_cell(cell, teacher_of(cell.fold));
    return;
  }
  // Side by side: a teacher copy per worker (and fold), because a forward pass builds its graph
  // on the teacher's parameter nodes.
  std::mutex copies_mutex;
  std::map<std::pair<std::thread::id, int>, std::unique_ptr<Transformer>> copies;
  run_parallel(cells.size(), r.jobs, [&](size_t i) {
    const Cell& cell = cells[i];
    Transformer* teacher = nullptr;
    {
      const std::lock_guard<std::mutex> lock(copies_mutex);
      auto& slot = copies[{std::this_thread::get_id(), cell.fold}];
      if (!slot) {
        slot = std::make_unique<Transformer>(teacher_of(cell.fold).config(), 0);
        slot->copy_from(teacher_of(cell.fold));
      }
      teacher = slot.get();
    }
    run_cell(cell, *teacher);
  });
}

std::string training_build() { return Eigen::SimdInstructionSetsInUse(); }

}  // namespace hilq::qat
