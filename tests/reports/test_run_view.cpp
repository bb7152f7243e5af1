// The typed view of a run: each row decoded once (kind, setting, baseline, figures, energy or its
// reason), the FP16 baseline found by its kind, bad JSON blobs tolerated, boards and agents listed;
// a search run's candidates, metrics, fronts and picks.
#include <catch2/catch.hpp>
#include <sstream>

#include "reports/json_reporter.h"
#include "reports/run_view.h"
#include "tests/reports/known_run.h"
#include "tests/reports/search_run.h"

namespace db = hilq::db;
namespace reports = hilq::reports;
using reports::Baseline;
using reports::JobKind;

namespace {

const reports::Measurement& by_job(const reports::RunView& v, const std::string& job_id) {
  for (const auto& m : v.measurements)
    if (m.job_id == job_id) return m;
  throw std::out_of_range("no job " + job_id);
}

}  // namespace

TEST_CASE("The view decodes each measurement into typed fields once", "[reports][view]") {
  db::Database d(":memory:");
  const auto view = reports::load_run_view(d, hilq::test::record_known_run(d));
  REQUIRE(view.measurements.size() == 7);

  const auto& k = by_job(view, "k-1");
  CHECK(k.job_kind == JobKind::kKernelBench);
  CHECK(k.ok);
  CHECK(k.label == "gemv w8a8 256×256");
  CHECK(k.kernel == "gemv_w8a8_1x16__avx2");
  CHECK(k.latency.median == 12345.0);
  CHECK(k.latency.repeats == 30);
  CHECK(k.gops == 10.6181);
  CHECK(k.temperature_c == 51.5);
  CHECK(k.throttled == true);
  CHECK(k.throttle_reasons == std::vector<std::string>{"zone0 hot"});
  CHECK_FALSE(k.energy.joules);
  CHECK(k.energy.unavailable == "no sensor, here");
  CHECK(k.stored.samples_ns == nlohmann::json::array({12000, 12345, 13000}));

  const auto& bad = by_job(view, "k-2");
  CHECK_FALSE(bad.ok);
  CHECK(bad.status == "failed");
  CHECK(bad.label == "kernel-bench");  // its config names no op: the kind stands in
  CHECK(bad.error_class == "runtime");

  const auto& fp16 = by_job(view, "m-1");
  CHECK(fp16.job_kind == JobKind::kModelBench);
  CHECK(fp16.model.setting == "FP16");
  CHECK(fp16.model.baseline == Baseline::kFp16);
  CHECK(fp16.label == "decode/token FP16");
  CHECK(fp16.model.prefill_ms == 13.0);
  CHECK(fp16.model.prefill_p90_ms == Approx(14.5));
  CHECK(fp16.model.decode_median_ms == 0.40);
  CHECK(fp16.model.decode_p90_ms == Approx(0.5));
  CHECK(fp16.model.tokens_per_s == Approx(2500));
  CHECK(fp16.model.weights_bytes == 11900000);
  CHECK(fp16.model.kv_cache_bytes == 1048576);
  CHECK(fp16.energy.joules == 0.0012);
  CHECK(fp16.energy.source == "rapl");
  CHECK_FALSE(fp16.energy.unavailable);

  const auto& w4 = by_job(view, "m-2");
  CHECK(w4.model.setting == "W4A8");
  CHECK(w4.model.baseline == Baseline::kNone);
  CHECK(w4.energy.unavailable == "no power sensor on this board");

  // No label from the runtime: the job config's setting names the row.
  CHECK(by_job(view, "m-3").model.setting == "W8A8");
  CHECK(by_job(view, "q-2").emulated);
}

TEST_CASE("The FP16 baseline of a board is found by its kind and speed-ups are taken over it",
          "[reports][view]") {
  db::Database d(":memory:");
  const auto view = reports::load_run_view(d, hilq::test::record_known_run(d));
  CHECK(view.fp16_baseline("local") == &by_job(view, "m-1"));
  CHECK(view.fp16_baseline("pi5-qemu") == &by_job(view, "q-1"));
  CHECK(view.fp16_baseline("nowhere") == nullptr);
  CHECK(reports::decode_speedup_over_fp16(view, by_job(view, "m-2")) == Approx(2.5));  // .40/.16
  CHECK(reports::decode_speedup_over_fp16(view, by_job(view, "m-1")) == Approx(1.0));
  // Emulated timings are not board timings: no speed-up, even against an emulated baseline.
  CHECK_FALSE(reports::decode_speedup_over_fp16(view, by_job(view, "q-2")));
  CHECK_FALSE(reports::decode_speedup_over_fp16(view, by_job(view, "k-1")));
}

TEST_CASE("Settings fall back from the runtime's label to the config; bad JSON is tolerated",
          "[reports][view]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search", std::nullopt);
  const struct {
    const char *id, *config, *metrics, *setting;
    Baseline baseline;
  } cases[] = {
      {"a", R"({"weights":"fp32"})", "{}", "FP32", Baseline::kFp32},
      {"b", R"({"weights":"fp16"})", R"({"model_label":7})", "FP16", Baseline::kFp16},
      {"c", "{}", "{}", "as stored", Baseline::kNone},
      {"d", "not json", "{", "?", Baseline::kNone},
      {"e", R"({"setting":"FP16"})", R"({"model_label":"W4A4"})", "W4A4", Baseline::kNone},
  };
  for (const auto& c : cases) {
    auto m = hilq::test::measurement(run, "b-" + std::string(c.id), c.id, "model-bench", c.config);
    m.metrics = c.metrics;
    m.latency_median_ns = 1e6;
    store.record_measurement(m);
  }
  // A failed FP16 run is no baseline.
  auto failed = hilq::test::measurement(run, "b-a", "f", "model-bench", R"({"weights":"fp16"})");
  failed.status = "failed";
  store.record_measurement(failed);

  const auto view = reports::load_run_view(d, run);
  for (const auto& c : cases) {
    CAPTURE(c.id);
    const auto& m = by_job(view, c.id);
    CHECK(m.model.setting == c.setting);
    CHECK(m.model.baseline == c.baseline);
  }
  CHECK(view.fp16_baseline("b-a") == nullptr);
  CHECK(by_job(view, "d").stored.config.is_null());
  CHECK(by_job(view, "d").stored.metrics.is_null());
  CHECK(by_job(view, "d").stored.config_text == "not json");  // the CSV keeps what was stored
  std::ostringstream out;
  reports::JsonReporter().report(view, out);
  CHECK_NOTHROW(nlohmann::json::parse(out.str()));
}

TEST_CASE("The view holds the run, its boards and its agents", "[reports][view]") {
  db::Database d(":memory:");
  const int64_t run = hilq::test::record_known_run(d);
  db::RunStore(d).upsert_agent({run, "x-1", "unlisted", std::nullopt, "lost", std::nullopt});
  const auto view = reports::load_run_view(d, run);
  CHECK(view.run.id == run);
  CHECK(view.run.status == "completed");
  CHECK(view.run.message == "5 of 7 jobs & 2 more");
  CHECK(view.run.git_sha == "0123abc");
  CHECK(view.run.finished_at);
  REQUIRE(view.boards.size() == 3);
  CHECK(view.boards[0].name == "local");
  CHECK(view.boards[0].known);
  CHECK(view.boards[0].features == std::vector<std::string>{"avx2", "fma"});
  CHECK_FALSE(view.boards[0].emulated);
  CHECK(view.boards[1].name == "pi5-qemu");
  CHECK(view.boards[1].emulated);
  CHECK(view.boards[2].name == "unlisted");
  CHECK_FALSE(view.boards[2].known);
  REQUIRE(view.agents.size() == 3);
  CHECK(view.agents[1].status == "quarantined");
  CHECK(view.agents[1].reason == "health check answered <wrong>");
}

TEST_CASE("A run without candidates has no search in its view", "[reports][view]") {
  db::Database d(":memory:");
  const auto view = reports::load_run_view(d, hilq::test::record_known_run(d));
  CHECK(!view.search);
}

TEST_CASE("The view of a search run: constraints, candidates with metrics, fronts and picks",
          "[reports][view]") {
  db::Database d(":memory:");
  const auto view = reports::load_run_view(d, hilq::test::record_search_run(d));
  REQUIRE(view.search);
  const auto& s = *view.search;
  CHECK(s.constraints.task == "lm");
  CHECK(s.constraints.metric == "perplexity");
  CHECK(!s.constraints.higher_is_better());
  CHECK(s.constraints.metric_limit == 21.0);
  CHECK(s.constraints.mem_budget_bytes == 3000000);
  REQUIRE(s.candidates.size() == 10);
  CHECK(s.candidates[9].baseline());  // FP16, never scored
  const auto& b = s.candidates[4];
  CHECK(b.label == "W4A8 b0-1 & W8A8 <rest>");
  CHECK(b.tier == "block");
  CHECK(b.parent_id == s.candidates[2].id);
  CHECK(b.validation == 20.4);
  CHECK(b.test == 20.8);
  CHECK(b.memory_bytes == 2200000);
  CHECK(!s.candidates[6].validation);
  CHECK(s.scored == 7);
  CHECK(s.count("feasible") == 4);
  CHECK(s.count("pruned") == 2);
  REQUIRE(s.pruned_reasons.size() == 1);
  CHECK(s.pruned_reasons[0].second == 2);

  REQUIRE(s.boards.size() == 2);
  CHECK(s.boards[0].board == "local");
  CHECK(!s.boards[0].emulated);
  CHECK(s.boards[1].emulated);
  CHECK(s.boards[0].on_front("metric-memory", s.candidates[5].id));
  CHECK(!s.boards[0].on_front("metric-latency", s.candidates[5].id));
  REQUIRE(s.boards[0].pick);
  CHECK(s.boards[0].pick->candidate_id == b.id);
  CHECK(s.boards[0].pick->rule == "tradeoff mu=0.5");
  CHECK(s.boards[1].pick->score == std::nullopt);

  const auto* m = view.candidate_measurement(b.id, "local");
  REQUIRE(m);
  CHECK(m->model.decode_median_ms == 0.24);
  CHECK(!m->model.energy_per_token_j);
  CHECK(view.candidate_measurement(s.candidates[5].id, "pi5-qemu") == nullptr);  // failed there
  CHECK(view.candidate_measurements(s.candidates[5].id).size() == 2);
}
