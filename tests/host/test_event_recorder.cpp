// The event recorder without sockets: broker events into rows of a :memory: database, one
// transaction per poll, typed model-bench columns, duplicates ignored, failures as rows.
#include <catch2/catch.hpp>

#include "db/database.h"
#include "db/measurement_store.h"
#include "db/run_store.h"
#include "host/event_recorder.h"
#include "host/result_rows.h"
#include "protocol/jobs.h"

namespace host = hilq::host;
namespace proto = hilq::protocol;
namespace db = hilq::db;
using Catch::Matchers::Contains;
using K = host::BrokerEvent::Kind;

namespace {

struct Fixture {
  db::Database d{":memory:"};
  db::RunStore store{d};
  int64_t run = store.create_run("hil-search", std::nullopt);
  host::EventRecorder recorder{d, run, {{"local", false}, {"pi5-qemu", true}}, {600, nullptr}};

  proto::Job job(const std::string& id, const std::string& kind, const std::string& board) {
    proto::Job j;
    j.job_id = id;
    j.kind = kind;
    j.config = {{"threads", 1}};
    store.insert_job({id, run, std::nullopt, board, kind, j.config.dump(), "queued", 0,
                      std::nullopt, host::job_spec(j), std::nullopt, std::nullopt, std::nullopt});
    recorder.expect(j);
    return j;
  }
};

host::BrokerEvent event(K kind, const std::string& job_id, const std::string& board = "local") {
  host::BrokerEvent ev;
  ev.kind = kind;
  ev.agent_id = board + "-1";
  ev.board = board;
  ev.job_id = job_id;
  ev.attempt = 1;
  return ev;
}

nlohmann::json model_result() {
  proto::ModelBenchResult r;
  r.setting = "W4A8";
  r.prefill_ms = 12.5;
  r.prefill = {12.5e6, 12e6, 13e6, 1e5, 12.6e6, 11e6, 14e6, 3};
  r.decode = proto::LatencySummary{2e5, 1.9e5, 2.4e5, 1e4, 2.1e5, 1.8e5, 3e5, 384};
  r.decode_ms_median = 0.2;
  r.decode_ms_p90 = 0.24;
  r.tokens_per_s = 5000;
  r.weight_bytes = 3000000;
  r.kv_cache_bytes = 65536;
  r.arena_bytes = 4096;
  r.peak_rss_bytes = 50 << 20;
  r.kernel = "gemv_w4a8__avx2";
  r.kernel_path = "avx2";
  r.power = proto::PowerReading{false, "", "no sensor here", "", 0, 0, 0, 0, std::nullopt};
  r.energy_unavailable_reason = "no sensor here";
  r.extra = {{"greedy_tokens", {5, 6}}};
  return proto::to_json(r);
}

}  // namespace

TEST_CASE("A model-bench result becomes one row with named columns; a duplicate is ignored",
          "[recorder]") {
  Fixture f;
  f.job("r1-local-1", "model-bench", "local");
  f.recorder.set_total(1);
  auto started = event(K::kJobStarted, "r1-local-1");
  CHECK(f.recorder.record({started}).empty());
  CHECK(f.store.jobs(f.run).at(0).state == "running");
  CHECK(f.store.jobs(f.run).at(0).lease_until.has_value());
  auto result = event(K::kResult, "r1-local-1");
  result.measurement = model_result();
  const auto rows = f.recorder.record({result, result});  // the second one is a duplicate
  REQUIRE(rows.size() == 1);
  CHECK(f.recorder.recorded() == 1);
  CHECK(f.recorder.ok() == 1);
  CHECK(f.recorder.first_dispatch().has_value());
  const auto stored = db::MeasurementStore(f.d).of_run(f.run);
  REQUIRE(stored.size() == 1);
  const auto& m = stored[0];
  CHECK(m.status == "ok");
  CHECK(m.setting == std::string("W4A8"));
  CHECK(m.prefill_ms == 12.5);
  CHECK(m.decode_ms_median == 0.2);
  CHECK(m.decode_ms_p90 == 0.24);
  CHECK(m.tokens_per_s == 5000.0);
  CHECK(m.kv_bytes == int64_t{65536});
  CHECK(m.arena_bytes == int64_t{4096});
  CHECK(m.model_bytes == int64_t{3000000});
  CHECK(m.kernel_path == std::string("avx2"));
  CHECK(m.latency_median_ns == 2e5);  // per decoded token
  CHECK(m.repeats == int64_t{384});
  CHECK_FALSE(m.energy_per_token_j.has_value());
  CHECK(m.power_unavailable == std::string("no sensor here"));
  CHECK(m.config == R"({"threads":1})");
  const auto metrics = nlohmann::json::parse(m.metrics);
  CHECK(metrics["greedy_tokens"] == nlohmann::json({5, 6}));
  CHECK(metrics["attempt"] == 1);
  CHECK_FALSE(metrics.contains("model_label"));  // in its column, not twice
  CHECK(f.store.jobs(f.run).at(0).state == "done");
}

TEST_CASE("A malformed result is a failed row naming the field; a final error is a failed row",
          "[recorder]") {
  Fixture f;
  f.job("a", "model-bench", "local");
  f.job("b", "kernel-bench", "pi5-qemu");
  f.job("c", "noop", "local");
  auto bad = event(K::kResult, "a");
  bad.measurement = model_result();
  bad.measurement["memory"].erase("arena_bytes");
  auto error = event(K::kJobError, "b", "pi5-qemu");
  error.error_class = "runtime";
  error.message = "segfault in the kernel";
  auto noop = event(K::kResult, "c");
  noop.measurement = {{"kernel", "noop"}, {"latency", {{"median_ns", 10.0}}}};
  auto unknown = event(K::kResult, "not-ours");
  unknown.measurement = noop.measurement;
  const auto rows = f.recorder.record({bad, error, noop, unknown});
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].status == "failed");
  CHECK(rows[0].error_class == std::string("bad-result"));
  CHECK_THAT(*rows[0].error, Contains("'memory.arena_bytes'"));
  CHECK(rows[1].status == "failed");
  CHECK(rows[1].error == std::string("segfault in the kernel"));
  CHECK(rows[1].emulated);
  CHECK(rows[2].status == "ok");
  CHECK(rows[2].latency_median_ns == 10.0);
  CHECK(rows[2].power_unavailable == std::string("the agent reported no energy figure"));
  CHECK(f.recorder.failed() == 2);
  CHECK(f.recorder.ok() == 1);
  const auto jobs = f.store.jobs(f.run);
  CHECK(jobs[0].state == "failed");
  CHECK(jobs[1].state == "failed");
  CHECK(jobs[1].error_class == std::string("runtime"));
}

TEST_CASE("Agents, refusals, re-queues and quarantines are recorded for the run", "[recorder]") {
  Fixture f;
  f.job("j", "noop", "local");
  auto joined = event(K::kAgentJoined, "");
  proto::Hello hello;
  hello.arch = "x86_64";
  hello.features = {"avx2"};
  hello.cores = 2;
  hello.memory_bytes = 1 << 30;
  hello.agent_version = "0.1.0";
  joined.hello = hello;
  joined.user_id = "lab-1";
  auto refused = event(K::kAgentRefused, "", "pi5-qemu");
  refused.message = "features differ";
  auto requeued = event(K::kJobRequeued, "j");
  requeued.error_class = "agent-lost";
  requeued.message = "stopped heartbeating";
  auto quarantined = event(K::kAgentQuarantined, "");
  quarantined.message = "health check answered wrong";
  f.recorder.record({joined, event(K::kJobStarted, "j"), requeued, refused, quarantined});
  CHECK(f.store.board("local")->features == R"(["avx2"])");
  const auto agents = f.store.agents(f.run);
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].status == "quarantined");
  CHECK(agents[0].user_id == std::string("lab-1"));
  CHECK(f.recorder.quarantined().at("local-1") == "local: health check answered wrong");
  CHECK_THAT(f.recorder.refusals().at("pi5-qemu"), Contains("features differ"));
  const auto job = f.store.jobs(f.run).at(0);
  CHECK(job.state == "queued");
  CHECK(job.error_class == std::string("agent-lost"));
  CHECK(job.attempts == 1);
  CHECK(f.recorder.recorded() == 0);
}

TEST_CASE("A stored job spec holds no config; the job comes back whole from spec and config",
          "[recorder]") {
  proto::Job j;
  j.job_id = "r1-local-1";
  j.kind = "model-bench";
  j.artifact_sha256 = std::string(64, 'a');
  j.config = {{"setting", "W4A8"}};
  const std::string spec = host::job_spec(j);
  CHECK(spec.find("W4A8") == std::string::npos);
  const proto::Job back = host::job_from_spec(spec, j.config.dump());
  CHECK(back.job_id == j.job_id);
  CHECK(back.config == j.config);
  CHECK(back.artifact_sha256 == j.artifact_sha256);
  CHECK(back.repeat.min_repeats == j.repeat.min_repeats);
  CHECK_THROWS_AS(host::job_from_spec("[]", "{}"), hilq::ProtocolError);
}
