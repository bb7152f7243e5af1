// PTQ / LSQ / Squat runs from a teacher checkpoint and the settings x methods experiment table.
#include "qat/experiment.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/setting.h"
#include "qat/checkpoint.h"

namespace hilq::qat {
namespace {

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
  LoadedCheckpoint teacher;
  TaskData data;
};

Context load_context(Task task, const std::string& teacher_path, const std::string& data_dir) {
  Context c{load_checkpoint(teacher_path), {}};
  if (task == Task::kCls) {
    if (c.teacher.model->config().kind != ModelKind::kClassifier) {
      throw ConfigError(teacher_path + " is not a classifier");
    }
    const SentimentSplits s = load_sentiment(data_dir);
    std::fprintf(stderr, "sentiment: dropped %d empty records\n", s.dropped_empty);
    tokenize_cls(s, c.teacher.tokenizer, &c.data);
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
  } else {
    o->metric = eval_accuracy(m, q, d.cls_test_x, d.cls_test_y, cfg.seq, 32, d.pad_id);
    o->dev_metric = eval_accuracy(m, q, d.cls_dev_x, d.cls_dev_y, cfg.seq, 32, d.pad_id);
  }
}

// One QAT run on a loaded context: copy the teacher, calibrate, train (unless PTQ), evaluate.
QatOutcome qat_once(Task task, const Context& c, const model::QuantSpec& qc,
                    const std::string& method, const SquatLossConfig& loss, int calib_batches,
                    int eval_windows, bool mse_init, const TrainConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  Transformer student(c.teacher.model->config(), 0);
  student.copy_from(*c.teacher.model);
  QuantState qs(qc, student.config().n_layers);
  QatOutcome o;
  o.setting = model::quant_label(qc, student.config().n_layers);
  const bool ptq = method == "ptq";
  if (!ptq && method != "lsq" && method != "squat") {
    throw ConfigError("method " + method + " is not ptq, lsq or squat");
  }
  calibrate(task, student, &qs, c.data, cfg, calib_batches,
            ptq || mse_init ? QuantState::Init::kPtq : QuantState::Init::kLsq);
  if (!ptq) {
    const bool squat = method == "squat";
    const SquatLossConfig l = squat ? loss : SquatLossConfig{false, false, false};
    const TrainStats st = train(task, student, &qs, squat ? c.teacher.model.get() : nullptr, l,
                                c.data, cfg, c.teacher.tokenizer);
    o.tokens_per_s = st.tokens_per_s;
  } else if (!cfg.checkpoint_path.empty()) {
    save_checkpoint(cfg.checkpoint_path, student, c.teacher.tokenizer, &qs, nullptr, 0,
                    "{\"method\":\"ptq\"}");
  }
  evaluate(task, student, &qs, c.data, cfg, eval_windows, &o);
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
  const Context c = load_context(r.task, r.teacher_path, r.data_dir);
  const int layers = c.teacher.model->config().n_layers;
  const model::QuantSpec qc = r.quant_json.empty()
                                  ? setting_config(r.setting, layers)
                                  : model::QuantSpec::from_json(r.quant_json, "--quant");
  qc.validate(layers);
  return qat_once(r.task, c, qc, r.method, r.loss, r.calib_batches, r.eval_windows, r.mse_init,
                  r.train);
}

void run_experiment(const ExperimentRequest& r) {
  namespace fs = std::filesystem;
  fs::create_directories(r.out_dir);
  const Context c = load_context(r.task, r.teacher_path, r.data_dir);
  const int layers = c.teacher.model->config().n_layers;
  const bool lm = r.task == Task::kLm;
  const std::string metric = lm ? "val_ppl" : "test_acc";
  std::ofstream tsv(r.out_dir + "/results.tsv", std::ios::app);
  tsv << "# teacher " << r.teacher_path << " steps " << r.train.steps << " batch " << r.train.batch
      << " seq " << r.train.seq << " lr " << r.train.lr << " seed " << r.train.seed << " warmup "
      << r.train.warmup << " calib_batches " << r.calib_batches << " eval_windows "
      << r.eval_windows << " step_init " << (r.mse_init ? "mse" : "lsq") << "\n";
  tsv << "setting\tmethod\t" << metric << (lm ? "" : "\tdev_acc") << "\ttokens_per_s\tseconds\n";
  tsv.flush();
  std::vector<ExperimentRow> rows;
  {
    QatOutcome fp;
    fp.setting = "FP32";
    const auto t0 = std::chrono::steady_clock::now();
    evaluate(r.task, *c.teacher.model, nullptr, c.data, r.train, r.eval_windows, &fp);
    fp.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rows.push_back({"FP32", "fp", fp});
    if (r.sink) r.sink(rows.back());
    tsv << "FP32\tfp\t" << fp.metric << (lm ? "" : "\t" + std::to_string(fp.dev_metric)) << "\t0\t"
        << fp.seconds << "\n";
    tsv.flush();
    std::fprintf(stderr, "experiment: FP teacher %s %.4f\n", metric.c_str(), fp.metric);
  }
  for (const auto& setting : split_list(r.settings)) {
    const model::QuantSpec qc = setting_config(setting, layers);
    for (const auto& m : split_list(r.methods)) {
      SquatLossConfig loss;
      std::string method = m;
      if (m == "squat-e") {
        loss.entropy = false, method = "squat";
      } else if (m == "squat-d") {
        loss.distribution = false, method = "squat";
      }
      TrainConfig cfg = r.train;
      cfg.label = setting;
      cfg.label += ' ';
      cfg.label += m;
      const QatOutcome o =
          qat_once(r.task, c, qc, method, loss, r.calib_batches, r.eval_windows, r.mse_init, cfg);
      rows.push_back({setting, m, o});
      if (r.sink) r.sink(rows.back());
      tsv << setting << "\t" << m << "\t" << o.metric
          << (lm ? "" : "\t" + std::to_string(o.dev_metric)) << "\t" << o.tokens_per_s << "\t"
          << o.seconds << "\n";
      tsv.flush();
      std::fprintf(stderr, "experiment: %s %s %s %.4f (%.0f s)\n", setting.c_str(), m.c_str(),
                   metric.c_str(), o.metric, o.seconds);
    }
  }
  std::ofstream md(r.out_dir + "/results.md");
  md << "| setting | method | " << (lm ? "validation perplexity" : "test accuracy")
     << (lm ? "" : " | dev accuracy") << " | QAT tokens/s | seconds |\n|---|---|---|"
     << (lm ? "" : "---|") << "---|---|\n";
  for (const auto& row : rows) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "| %s | %s | %.4f |", row.setting.c_str(), row.method.c_str(),
                  row.outcome.metric);
    md << buf;
    if (!lm) {
      std::snprintf(buf, sizeof buf, " %.4f |", row.outcome.dev_metric);
      md << buf;
    }
    std::snprintf(buf, sizeof buf, " %.0f | %.0f |\n", row.outcome.tokens_per_s,
                  row.outcome.seconds);
    md << buf;
  }
}

}  // namespace hilq::qat
