// Implausible RESULTs from a fake agent (issue 14, item 6): the broker refuses each one with class
// bad-result naming the field, the try counts against the agent that sent it, the job goes to
// another agent, and nothing implausible reaches the measurements table.
#include <catch2/catch.hpp>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "db/database.h"
#include "db/measurement_store.h"
#include "db/run_store.h"
#include "host/broker.h"
#include "host/event_recorder.h"
#include "host/result_rows.h"
#include "protocol/jobs.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
namespace db = hilq::db;
using hilq::host::Broker;
using hilq::host::BrokerEvent;
using hilq::host::BrokerOptions;
using K = BrokerEvent::Kind;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

proto::BoardSpec local_board() {
  proto::BoardSpec b;
  b.name = "local";
  b.arch = hello_for("x").arch;
  b.cores = 1;
  b.memory_mb = 1;
  b.power.backend = "none";
  return b;
}

json good_kernel_result() {
  return {{"kernel", "gemv_w8a8__ref"},
          {"isa", "ref"},
          {"latency", {{"median_ns", 7.0}, {"p10_ns", 6.0}, {"p90_ns", 8.0}, {"count", 3}}},
          {"samples_ns", {6.0, 7.0, 8.0}},
          {"peak_rss_bytes", 1 << 20},
          {"temperature_c", 45.0}};
}

json good_model_result() {
  proto::ModelBenchResult r;
  r.setting = "W4A8";
  r.prefill_ms = 12.5;
  r.prefill = {12.5e6, 12e6, 13e6, 1e5, 12.6e6, 11e6, 14e6, 3};
  r.decode = proto::LatencySummary{2e5, 1.9e5, 2.4e5, 1e4, 2.1e5, 1.8e5, 3e5, 384};
  r.decode_ms_median = 0.2;
  r.decode_ms_p90 = 0.24;
  r.tokens_per_s = 5000;
  r.weight_bytes = 3000000;
  r.kernel = "gemv_w4a8__ref";
  r.energy_unavailable_reason = "no sensor";
  return proto::to_json(r);
}

struct BadCase {
  std::string what;   // the case, for CAPTURE
  std::string kind;   // job kind
  json measurement;   // the RESULT's measurement
  std::string field;  // the field the error must name
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases;
  auto kernel = [&](const std::string& what, const std::string& field, auto edit) {
    json m = good_kernel_result();
    edit(m);
    cases.push_back({what, "kernel-bench", m, field});
  };
  auto model = [&](const std::string& what, const std::string& field, auto edit) {
    json m = good_model_result();
    edit(m);
    cases.push_back({what, "model-bench", m, field});
  };
  kernel("zero latency", "latency.median_ns", [](json& m) { m["latency"]["median_ns"] = 0.0; });
  kernel("negative latency", "latency.median_ns",
         [](json& m) { m["latency"]["median_ns"] = -5.0; });
  kernel("p90 below p10", "latency.p90_ns", [](json& m) { m["latency"]["p90_ns"] = 5.0; });
  kernel("negative count", "latency.count", [](json& m) { m["latency"]["count"] = -3; });
  kernel("negative memory", "peak_rss_bytes", [](json& m) { m["peak_rss_bytes"] = -1; });
  kernel("1e300 bytes", "peak_rss_bytes", [](json& m) { m["peak_rss_bytes"] = 1e300; });
  kernel("bytes beyond int64", "weight_bytes",
         [](json& m) { m["weight_bytes"] = std::numeric_limits<uint64_t>::max(); });
  kernel("hotter than physics", "temperature_c", [](json& m) { m["temperature_c"] = 500.0; });
  kernel("colder than physics", "temperature_c", [](json& m) { m["temperature_c"] = -300.0; });
  kernel("negative energy", "power.energy_per_inference_j", [](json& m) {
    m["power"] = {{"available", true},
                  {"source", "rapl"},
                  {"idle_w", 1.0},
                  {"window_w", 3.0},
                  {"energy_per_inference_j", -2e-9}};
  });
  kernel("a negative sample", "samples_ns", [](json& m) { m["samples_ns"] = {6.0, -7.0}; });
  kernel("too many samples", "samples_ns",
         [](json& m) { m["samples_ns"] = std::vector<double>(proto::kMaxResultSamples + 1, 7.0); });
  kernel("a huge untyped field", "blob",
         [](json& m) { m["blob"] = std::string(proto::kMaxResultExtraBytes + 1, 'x'); });
  model("zero prefill", "prefill_ms", [](json& m) { m["prefill_ms"] = 0.0; });
  model("decode p90 below the median", "decode_ms_per_token.p90",
        [](json& m) { m["decode_ms_per_token"]["p90"] = 0.1; });
  model("negative weights", "memory.weights_bytes",
        [](json& m) { m["memory"]["weights_bytes"] = -4; });
  model("negative energy per token", "energy_per_token_j",
        [](json& m) { m["energy_per_token_j"] = -0.5; });
  return cases;
}

struct Farm {
  Broker broker;
  zmq::context_t ctx;
  std::vector<BrokerEvent> events;
  std::vector<FakeAgent*> alive;
  db::Database database{":memory:"};
  db::RunStore store{database};
  int64_t run = store.create_run("hil-search", std::nullopt);
  hilq::host::EventRecorder recorder{database, run, {{"local", false}}, {600, nullptr}};

  explicit Farm(int max_attempts)
      : broker("tcp://127.0.0.1:*", {{"local", local_board()}}, options(max_attempts)) {}
  static BrokerOptions options(int max_attempts) {
    BrokerOptions o;
    o.heartbeat_ms = 40;
    o.liveness = 4;
    o.health_check = false;
    o.job_timeout_s = 5;
    o.max_attempts = max_attempts;
    return o;
  }
  // Polls the broker, records every poll's events in the database, keeps the agents alive.
  void pump(int ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    do {
      for (auto* a : alive) a->send(proto::make_message(proto::MessageType::kHeartbeat));
      auto polled = broker.poll(5);
      recorder.record(polled);
      for (auto& e : polled) events.push_back(std::move(e));
    } while (Clock::now() < until);
  }
  std::optional<proto::Message> recv(FakeAgent& a, int ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < until) {
      pump(5);
      if (auto m = a.recv(1)) return m;
    }
    return std::nullopt;
  }
  void join(FakeAgent& a, const std::string& id) {
    a.send(proto::make_message(hello_for(id)));
    auto w = recv(a, 2000);
    REQUIRE(w);
    REQUIRE(w->type == proto::MessageType::kWelcome);
    alive.push_back(&a);
    a.send(proto::make_message(proto::MessageType::kReady));
  }
  proto::Job expect_job(FakeAgent& a) {
    auto m = recv(a, 2000);
    REQUIRE(m);
    REQUIRE(m->type == proto::MessageType::kJob);
    return proto::parse_job(*m);
  }
  proto::Job submit(const std::string& id, const std::string& kind) {
    proto::Job j;
    j.job_id = id;
    j.kind = kind;
    j.config = {{"threads", 1}};
    store.insert_job({id, run, std::nullopt, "local", kind, j.config.dump(), "queued", 0,
                      std::nullopt, hilq::host::job_spec(j), std::nullopt, std::nullopt,
                      std::nullopt});
    recorder.expect(j);
    broker.submit("local", j);
    return j;
  }
  const BrokerEvent* find(K kind) const {
    for (const auto& e : events)
      if (e.kind == kind) return &e;
    return nullptr;
  }
};

}  // namespace

TEST_CASE("An implausible RESULT is refused as bad-result naming the field; another agent runs it",
          "[fault][bad-result]") {
  const auto cases = bad_cases();
  const auto& c = GENERATE_REF(from_range(cases));
  CAPTURE(c.what);
  Farm farm(3);
  FakeAgent a(farm.ctx, farm.broker.endpoint(), "a");
  farm.join(a, "a");
  farm.submit("j1", c.kind);
  const proto::Job first = farm.expect_job(a);
  REQUIRE(first.job_id == "j1");
  a.send(proto::make_message(proto::Result{"j1", c.measurement}));
  farm.pump(100);  // a stays busy (no READY): the re-queued job waits for another agent
  const BrokerEvent* requeued = farm.find(K::kJobRequeued);
  REQUIRE(requeued);
  CHECK(requeued->error_class == "bad-result");
  CHECK_THAT(requeued->message, Contains("'" + c.field + "'"));
  CHECK(requeued->attempt == 1);  // a failed try of agent a
  CHECK(farm.find(K::kResult) == nullptr);
  CHECK(db::MeasurementStore(farm.database).of_run(farm.run).empty());

  // A second agent of the board gets the job (a failed it) and answers plausibly.
  FakeAgent b(farm.ctx, farm.broker.endpoint(), "b");
  farm.join(b, "b");
  const proto::Job second = farm.expect_job(b);
  CHECK(second.job_id == "j1");
  b.send(proto::make_message(
      proto::Result{"j1", c.kind == "model-bench" ? good_model_result() : good_kernel_result()}));
  farm.pump(100);
  const auto rows = db::MeasurementStore(farm.database).of_run(farm.run);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "ok");
  CHECK(rows[0].agent == std::string("b"));
  CHECK(rows[0].latency_median_ns > 0);
  CHECK(rows[0].metrics.size() < proto::kMaxResultExtraBytes);
  CHECK(rows[0].temperature_c.value_or(45.0) == 45.0);
  CHECK(rows[0].peak_rss_bytes.value_or(0) >= 0);
  const auto jobs = farm.store.jobs(farm.run);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].state == "done");
}

TEST_CASE("A job whose every try came back implausible is recorded failed with class bad-result",
          "[fault][bad-result]") {
  Farm farm(1);
  FakeAgent a(farm.ctx, farm.broker.endpoint(), "a");
  farm.join(a, "a");
  farm.submit("j1", "kernel-bench");
  REQUIRE(farm.expect_job(a).job_id == "j1");
  json m = good_kernel_result();
  m["latency"]["median_ns"] = 1e300;
  m["peak_rss_bytes"] = -7;
  a.send(proto::make_message(proto::Result{"j1", m}));
  farm.pump(150);
  const auto rows = db::MeasurementStore(farm.database).of_run(farm.run);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "failed");
  CHECK(rows[0].error_class == std::string("bad-result"));
  CHECK_THAT(rows[0].error.value_or(""), Contains("'peak_rss_bytes'"));
  CHECK_FALSE(rows[0].latency_median_ns.has_value());
  CHECK_FALSE(rows[0].peak_rss_bytes.has_value());
}
