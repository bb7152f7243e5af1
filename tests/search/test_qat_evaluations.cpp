// QAT experiment rows stored as candidates and evaluations, and the Markdown table generated
// back from them.
#include <catch2/catch.hpp>

#include "db/evaluation_store.h"
#include "db/run_store.h"
#include "search/qat_evaluations.h"

namespace db = hilq::db;
namespace qat = hilq::qat;
namespace search = hilq::search;

namespace {

qat::ExperimentRow row(const std::string& setting, const std::string& method, double metric,
                       double dev = 0) {
  qat::ExperimentRow r;
  r.setting = setting;
  r.method = method;
  r.outcome.metric = metric;
  r.outcome.dev_metric = dev;
  r.outcome.test_metric = metric + 1;
  r.seed = 7;
  r.outcome.tokens_per_s = 1500;
  r.outcome.seconds = 42;
  return r;
}

}  // namespace

TEST_CASE("QAT experiment rows become candidates with evaluations; the table comes from them",
          "[search][qat]") {
  db::Database d(":memory:");
  const int64_t run = db::RunStore(d).create_run("hil-train experiment --task lm", std::nullopt);
  const auto sink = search::evaluations_sink(d, run, qat::Task::kLm);
  sink(row("FP32", "fp", 21.5));
  sink(row("W4A8", "squat", 23.25));
  const int64_t again =
      search::record_experiment_row(d, run, qat::Task::kLm, row("W4A8", "squat", 23.0));  // re-run
  db::EvaluationStore store(d);
  const auto candidates = store.candidates(run);
  REQUIRE(candidates.size() == 2);
  CHECK(candidates[1].id == again);
  CHECK(candidates[1].config == R"({"method":"squat","seed":7,"setting":"W4A8"})");
  CHECK(candidates[1].tier == std::string("qat"));
  const auto evaluations = store.evaluations(again);
  REQUIRE(evaluations.size() == 4);
  CHECK(evaluations[0].split == "validation");
  CHECK(evaluations[0].metric == "perplexity");
  CHECK(evaluations[0].value == 23.0);
  CHECK(evaluations[1].split == "test");
  CHECK(evaluations[1].metric == "perplexity");
  CHECK(evaluations[1].value == 24.0);
  CHECK(search::experiment_markdown(d, run, qat::Task::kLm) ==
        "| setting | method | seed | validation perplexity | test perplexity | QAT tokens/s | "
        "seconds |\n"
        "|---|---|---|---|---|---|---|\n"
        "| FP32 | fp | 7 | 21.5000 | 22.5000 | 1500 | 42 |\n"
        "| W4A8 | squat | 7 | 23.0000 | 24.0000 | 1500 | 42 |\n");
}

TEST_CASE("A classifier's rows keep test and dev accuracy", "[search][qat]") {
  db::Database d(":memory:");
  const int64_t run = db::RunStore(d).create_run("hil-train experiment --task cls", std::nullopt);
  search::record_experiment_row(d, run, qat::Task::kCls, row("W4A4", "lsq", 0.8125, 0.75));
  const std::string md = search::experiment_markdown(d, run, qat::Task::kCls);
  CHECK(md.find("| test accuracy | dev accuracy |") != std::string::npos);
  CHECK(md.find("| W4A4 | lsq | 7 | 0.8125 | 0.7500 | 1500 | 42 |") != std::string::npos);
}
