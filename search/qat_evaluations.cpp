// QAT experiment rows in the evaluations table (see qat_evaluations.h).
#include "search/qat_evaluations.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "db/evaluation_store.h"
#include "model/sha256.h"

namespace hilq::search {
namespace {

struct TaskMetric {
  const char* split;
  const char* metric;
};

// The main metric of a task's table: what qat/experiment.cpp evaluates.
TaskMetric main_metric(qat::Task task) {
  return task == qat::Task::kLm ? TaskMetric{"validation", "perplexity"}
                                : TaskMetric{"test", "accuracy"};
}

}  // namespace

int64_t record_experiment_row(db::Database& db, int64_t run_id, qat::Task task,
                              const qat::ExperimentRow& row) {
  // nlohmann::json keeps keys sorted: the dump is canonical, so equal configs hash equally.
  nlohmann::json key = {{"setting", row.setting}, {"method", row.method}, {"seed", row.seed}};
  if (row.fold >= 0) key["fold"] = row.fold;  // cross-validation: a candidate per held-out fold
  const std::string config = key.dump();
  db::Transaction tx(db);
  db::EvaluationStore store(db);
  const int64_t id = store.candidate(run_id, config, model::sha256_hex(config), "qat");
  const TaskMetric m = main_metric(task);
  store.record({id, m.split, m.metric, row.outcome.metric});
  if (task != qat::Task::kLm) {
    if (row.fold < 0) store.record({id, "dev", "accuracy", row.outcome.dev_metric});
  } else {
    store.record({id, "test", "perplexity", row.outcome.test_metric});
  }
  store.record({id, "train", "qat_tokens_per_s", row.outcome.tokens_per_s});
  store.record({id, "train", "seconds", row.outcome.seconds});
  tx.commit();
  return id;
}

qat::ExperimentSink evaluations_sink(db::Database& db, int64_t run_id, qat::Task task) {
  return [&db, run_id, task](const qat::ExperimentRow& row) {
    record_experiment_row(db, run_id, task, row);
  };
}

std::string experiment_markdown(db::Database& db, int64_t run_id, qat::Task task) {
  const bool lm = task == qat::Task::kLm;
  const TaskMetric main = main_metric(task);
  std::ostringstream md;
  md << "| setting | method | seed | " << (lm ? "validation perplexity" : "test accuracy")
     << (lm ? " | test perplexity" : " | dev accuracy")
     << " | QAT tokens/s | seconds |\n|---|---|---|---|---|---|---|\n";
  db::EvaluationStore store(db);
  for (const auto& c : store.candidates(run_id)) {
    const auto config = nlohmann::json::parse(c.config, nullptr, false);
    if (!config.is_object() || !config.contains("setting") || !config.contains("method")) continue;
    std::map<std::string, double> value;  // "split/metric"
    for (const auto& e : store.evaluations(c.id)) value[e.split + "/" + e.metric] = e.value;
    char buf[256];
    const std::string fold =
        config.contains("fold") ? " (fold " + config["fold"].dump() + ")" : std::string();
    std::snprintf(buf, sizeof buf, "| %s%s | %s | %lld | %.4f | %.4f |",
                  config["setting"].get<std::string>().c_str(), fold.c_str(),
                  config["method"].get<std::string>().c_str(),
                  static_cast<long long>(config.value("seed", int64_t{0})),
                  value[std::string(main.split) + "/" + main.metric],
                  value[lm ? "test/perplexity" : "dev/accuracy"]);
    md << buf;
    std::snprintf(buf, sizeof buf, " %.0f | %.0f |\n", value["train/qat_tokens_per_s"],
                  value["train/seconds"]);
    md << buf;
  }
  return md.str();
}

}  // namespace hilq::search
