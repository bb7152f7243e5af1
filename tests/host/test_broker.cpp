// The broker in process, driven by raw DEALER "agents": health check, credits, heartbeats and
// dead agents, run-time-only job timeouts, retries with error classes, idempotent results,
// quarantine, reconnects, artifacts and the loopback rule. Short heartbeats keep it fast.
#include <catch2/catch.hpp>
#include <random>

#include "host/artifact_store.h"
#include "host/broker.h"
#include "host/zap_auth.h"
#include "model/model_file.h"
#include "model/sha256.h"
#include "protocol/health_check.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
namespace model = hilq::model;
using hilq::host::Broker;
using hilq::host::BrokerEvent;
using hilq::host::BrokerOptions;
using K = BrokerEvent::Kind;
using Catch::Matchers::Contains;

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

BrokerOptions fast_options() {
  BrokerOptions o;
  o.heartbeat_ms = 40;
  o.liveness = 4;
  o.health_check = false;
  o.job_timeout_s = 5;
  return o;
}

proto::Job noop_job(const std::string& id) {
  proto::Job j;
  j.job_id = id;
  j.kind = "noop";
  return j;
}

struct Harness {
  Broker broker;
  zmq::context_t ctx;
  std::vector<BrokerEvent> events;
  std::vector<FakeAgent*> alive;  // these send heartbeats while the harness pumps

  explicit Harness(BrokerOptions o = fast_options())
      : broker("tcp://127.0.0.1:*", {{"local", local_board()}}, std::move(o)) {}

  void pump(int ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    auto next_beat = Clock::now();
    do {
      if (Clock::now() >= next_beat) {
        for (auto* a : alive) a->send(proto::make_message(proto::MessageType::kHeartbeat));
        next_beat = Clock::now() + std::chrono::milliseconds(15);
      }
      for (auto& e : broker.poll(5)) events.push_back(std::move(e));
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
  int count(K kind, const std::string& job_id = "") const {
    int n = 0;
    for (const auto& e : events) n += e.kind == kind && (job_id.empty() || e.job_id == job_id);
    return n;
  }
  const BrokerEvent* find(K kind, const std::string& job_id = "") const {
    for (const auto& e : events)
      if (e.kind == kind && (job_id.empty() || e.job_id == job_id)) return &e;
    return nullptr;
  }
  // HELLO -> WELCOME -> READY; returns the WELCOME.
  proto::Welcome join(FakeAgent& a, const std::string& id) {
    a.send(proto::make_message(hello_for(id)));
    auto w = recv(a, 2000);
    REQUIRE(w);
    REQUIRE(w->type == proto::MessageType::kWelcome);
    alive.push_back(&a);
    a.send(proto::make_message(proto::MessageType::kReady));
    return proto::parse_welcome(*w);
  }
  proto::Job expect_job(FakeAgent& a, int ms = 2000) {
    auto m = recv(a, ms);
    REQUIRE(m);
    REQUIRE(m->type == proto::MessageType::kJob);
    return proto::parse_job(*m);
  }
  void finish(FakeAgent& a, const std::string& job_id) {
    a.send(proto::make_message(proto::Result{job_id, {{"latency", {{"median_ns", 1.0}}}}}));
    a.send(proto::make_message(proto::MessageType::kReady));
  }
};

}  // namespace

TEST_CASE("An agent passes the health check, gets work, and a duplicate RESULT is ignored",
          "[broker]") {
  BrokerOptions o = fast_options();
  o.health_check = true;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  const proto::Welcome w = h.join(a, "a");
  CHECK(w.heartbeat_ms == 40);
  CHECK(w.liveness == 4);
  CHECK(w.board["power"]["backend"] == "none");
  h.broker.submit("local", noop_job("j1"));
  const proto::Job check = h.expect_job(a);
  REQUIRE(check.kind == proto::kHealthCheckKind);
  a.send(proto::make_message(
      proto::Result{check.job_id, proto::to_json(proto::compute_health_answer(check.config))}));
  a.send(proto::make_message(proto::MessageType::kReady));
  const proto::Job job = h.expect_job(a);
  CHECK(job.job_id == "j1");
  h.finish(a, "j1");
  h.pump(100);
  a.send(proto::make_message(proto::Result{"j1", {{"latency", {{"median_ns", 2.0}}}}}));
  h.pump(100);
  CHECK(h.count(K::kResult, "j1") == 1);
  CHECK(h.count(K::kAgentQuarantined) == 0);
  CHECK(h.broker.outstanding() == 0);
}

TEST_CASE("A protocol version mismatch is refused with both versions in the message", "[broker]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "old");
  proto::Hello hello = hello_for("old");
  hello.protocol_version = 7;
  a.send(proto::make_message(hello));
  auto m = h.recv(a, 2000);
  REQUIRE(m);
  const proto::ErrorReply e = proto::parse_error(*m);
  CHECK(e.error_class == "version");
  CHECK_THAT(e.message, Contains("agent speaks 7") && Contains("host speaks 1"));
  CHECK(h.count(K::kAgentRefused) == 1);
}

TEST_CASE("Jobs spread over the agents of a kind", "[broker]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "a"), b(h.ctx, h.broker.endpoint(), "b");
  h.join(a, "a");
  h.join(b, "b");
  h.pump(50);
  for (int i = 0; i < 10; ++i) h.broker.submit("local", noop_job("j" + std::to_string(i)));
  std::map<std::string, int> per_agent;
  int done = 0;
  const auto until = Clock::now() + std::chrono::seconds(5);
  while (done < 10 && Clock::now() < until) {
    for (FakeAgent* agent : {&a, &b}) {
      h.pump(5);
      if (auto m = agent->recv(1); m && m->type == proto::MessageType::kJob) {
        const auto job = proto::parse_job(*m);
        h.finish(*agent, job.job_id);
        ++done;
      }
    }
  }
  h.pump(50);
  for (const auto& e : h.events)
    if (e.kind == K::kResult) ++per_agent[e.agent_id];
  CHECK(h.count(K::kResult) == 10);
  CHECK(per_agent["a"] >= 3);
  CHECK(per_agent["b"] >= 3);
}

TEST_CASE("A silent agent is declared dead and its job runs on another agent of the kind",
          "[broker]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1"));
  h.expect_job(a);
  h.alive.clear();  // a hangs: no heartbeat, no result
  FakeAgent b(h.ctx, h.broker.endpoint(), "b");
  h.join(b, "b");
  const auto t0 = Clock::now();
  const proto::Job job = h.expect_job(b, 3000);
  const double detected_s = std::chrono::duration<double>(Clock::now() - t0).count();
  CHECK(job.job_id == "j1");
  CHECK(detected_s < 1.0);  // 4 x 40 ms heartbeats, plus scheduling slack
  const BrokerEvent* lost = h.find(K::kAgentLost);
  REQUIRE(lost);
  CHECK(lost->agent_id == "a");
  const BrokerEvent* requeued = h.find(K::kJobRequeued, "j1");
  REQUIRE(requeued);
  CHECK(requeued->error_class == "agent-lost");
  h.finish(b, "j1");
  // The hung agent wakes up and reports late: it is told to HELLO again, and nothing is recorded.
  a.send(proto::make_message(proto::Result{"j1", {{"latency", {{"median_ns", 9.0}}}}}));
  auto reply = h.recv(a, 1000);
  REQUIRE(reply);
  CHECK(proto::parse_error(*reply).error_class == "not-registered");
  h.pump(50);
  CHECK(h.count(K::kResult, "j1") == 1);
  CHECK(h.find(K::kResult, "j1")->agent_id == "b");
}

TEST_CASE("Job timeouts count run time on an agent, never time in the queue", "[broker]") {
  BrokerOptions o = fast_options();
  o.job_timeout_s = 0.3;
  Harness h(o);
  h.broker.submit("local", noop_job("queued-long"));
  h.pump(600);  // twice the timeout in the queue: no agent yet
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  CHECK(h.expect_job(a).job_id == "queued-long");
  h.pump(100);
  h.finish(a, "queued-long");
  h.pump(50);
  CHECK(h.count(K::kResult, "queued-long") == 1);
  CHECK(h.count(K::kJobRequeued) == 0);

  h.broker.submit("local", noop_job("slow"));
  CHECK(h.expect_job(a).job_id == "slow");
  h.pump(500);  // runs past its 0.3 s lease while heartbeating
  const BrokerEvent* timeout = h.find(K::kJobRequeued, "slow");
  REQUIRE(timeout);
  CHECK(timeout->error_class == "timeout");
  // The late result is ignored; the agent takes the job again only once it is READY.
  h.finish(a, "slow");
  h.pump(50);
  CHECK(h.count(K::kResult, "slow") == 0);
  CHECK(h.expect_job(a).job_id == "slow");
  h.finish(a, "slow");
  h.pump(50);
  CHECK(h.count(K::kResult, "slow") == 1);
}

TEST_CASE("A job is tried at most 3 times, then recorded failed with its error class", "[broker]") {
  BrokerOptions o = fast_options();
  o.quarantine_after = 10;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("doomed"));
  for (int i = 0; i < 3; ++i) {
    CHECK(h.expect_job(a).job_id == "doomed");
    a.send(proto::make_message(proto::ErrorReply{"doomed", "runtime", "out of memory"}));
    a.send(proto::make_message(proto::MessageType::kReady));
  }
  h.pump(100);
  CHECK(h.count(K::kJobRequeued, "doomed") == 2);
  const BrokerEvent* failed = h.find(K::kJobError, "doomed");
  REQUIRE(failed);
  CHECK(failed->error_class == "runtime");
  CHECK_THAT(failed->message, Contains("failed on 3 tries") && Contains("out of memory"));
  CHECK_FALSE(h.recv(a, 150));  // nothing more to run
}

TEST_CASE("A bad-request error fails the job at once: no other agent would do better", "[broker]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("bad"));
  h.expect_job(a);
  a.send(proto::make_message(proto::ErrorReply{"bad", "bad-request", "config field 'm' missing"}));
  h.pump(100);
  REQUIRE(h.find(K::kJobError, "bad"));
  CHECK(h.count(K::kJobRequeued) == 0);
}

TEST_CASE("A wrong health-check answer quarantines the agent; it is fed no work", "[broker]") {
  BrokerOptions o = fast_options();
  o.health_check = true;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "liar");
  h.join(a, "liar");
  h.broker.submit("local", noop_job("j1"));
  const proto::Job check = h.expect_job(a);
  proto::HealthAnswer wrong = proto::compute_health_answer(check.config);
  wrong.dot += 1;
  a.send(proto::make_message(proto::Result{check.job_id, proto::to_json(wrong)}));
  a.send(proto::make_message(proto::MessageType::kReady));
  CHECK_FALSE(h.recv(a, 300));
  const BrokerEvent* q = h.find(K::kAgentQuarantined);
  REQUIRE(q);
  CHECK_THAT(q->message, Contains("health check"));
  CHECK(h.broker.agents_of("local") == 0);
  CHECK(h.broker.outstanding("local") == 1);
  // Reconnecting does not lift a quarantine.
  a.send(proto::make_message(hello_for("liar")));
  auto m = h.recv(a, 1000);
  REQUIRE(m);
  CHECK_THAT(proto::parse_error(*m).message, Contains("quarantined"));
}

TEST_CASE("Several failed jobs in a row quarantine an agent", "[broker]") {
  BrokerOptions o = fast_options();
  o.quarantine_after = 2;
  o.max_attempts = 5;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "flaky");
  h.join(a, "flaky");
  h.broker.submit("local", noop_job("j1"));
  for (int i = 0; i < 2; ++i) {
    h.expect_job(a);
    a.send(proto::make_message(proto::ErrorReply{"j1", "runtime", "segfault"}));
    a.send(proto::make_message(proto::MessageType::kReady));
  }
  CHECK_FALSE(h.recv(a, 300));
  CHECK(h.count(K::kAgentQuarantined) == 1);
  CHECK(h.broker.quarantined_agents() == 1);
}

TEST_CASE("A reconnecting agent starts clean: its job in flight goes back to the queue",
          "[broker]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1"));
  h.expect_job(a);
  h.alive.clear();
  h.join(a, "a");  // HELLO again (restarted), then READY
  const BrokerEvent* requeued = h.find(K::kJobRequeued, "j1");
  REQUIRE(requeued);
  CHECK(requeued->error_class == "agent-lost");
  CHECK(h.expect_job(a).job_id == "j1");
  h.finish(a, "j1");
  h.pump(50);
  CHECK(h.count(K::kResult, "j1") == 1);
}

TEST_CASE("A peer that never said HELLO is told to say it; malformed input gets bad-request",
          "[broker]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "stranger");
  a.send(proto::make_message(proto::MessageType::kReady));
  auto m = h.recv(a, 1000);
  REQUIRE(m);
  CHECK(proto::parse_error(*m).error_class == "not-registered");
  a.send_frames({"HIL1", "JOB",
                 "{\"job_id\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]"});
  m = h.recv(a, 1000);
  REQUIRE(m);
  CHECK(proto::parse_error(*m).error_class == "bad-request");
  CHECK_THAT(proto::parse_error(*m).message, Contains("deeper"));
}

TEST_CASE("Artifacts are served in verified chunks; an unknown hash is an artifact error",
          "[broker]") {
  Sandbox box;
  std::string content(2 * proto::kArtifactChunkBytes + 12345, '\0');
  std::mt19937 rng(3);
  for (auto& c : content) c = static_cast<char>(rng());
  box.write("model.bin", content);
  hilq::host::ArtifactStore store;
  const std::string sha = store.add_file(box.path("model.bin"));
  CHECK(sha == model::sha256_hex(content));
  BrokerOptions o = fast_options();
  o.artifacts = &store;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  std::string received;
  while (true) {
    a.send(proto::make_message(proto::Fetch{sha, static_cast<int64_t>(received.size())}));
    auto m = h.recv(a, 2000);
    REQUIRE(m);
    const proto::ArtifactChunk c = proto::parse_artifact(*m);
    CHECK(c.total_bytes == static_cast<int64_t>(content.size()));
    received += c.data;
    if (static_cast<int64_t>(received.size()) == c.total_bytes) break;
  }
  CHECK(model::sha256_hex(received) == sha);
  a.send(proto::make_message(proto::Fetch{std::string(64, 'a'), 0}));
  auto m = h.recv(a, 2000);
  REQUIRE(m);
  CHECK(proto::parse_error(*m).error_class == "artifact");
}

TEST_CASE("Binding a non-loopback interface without CURVE keys is refused", "[broker]") {
  using hilq::host::is_loopback_endpoint;
  CHECK(is_loopback_endpoint("tcp://127.0.0.1:5555"));
  CHECK(is_loopback_endpoint("tcp://127.0.0.1:*"));
  CHECK(is_loopback_endpoint("tcp://localhost:5555"));
  CHECK(is_loopback_endpoint("tcp://[::1]:5555"));
  CHECK(is_loopback_endpoint("ipc:///tmp/hil.sock"));
  CHECK_FALSE(is_loopback_endpoint("tcp://0.0.0.0:5555"));
  CHECK_FALSE(is_loopback_endpoint("tcp://*:5555"));
  CHECK_FALSE(is_loopback_endpoint("tcp://192.168.1.4:5555"));
  CHECK_FALSE(is_loopback_endpoint("tcp://127.evil.example:5555"));
  CHECK_THROWS_WITH(Broker("tcp://0.0.0.0:*", {{"local", local_board()}}),
                    Contains("refusing to bind") && Contains("CURVE"));
}

TEST_CASE("tcp://localhost:N is bound as 127.0.0.1:N and an agent reaches it by either name",
          "[broker]") {
  using hilq::host::bindable_endpoint;
  CHECK(bindable_endpoint("tcp://localhost:5555") == "tcp://127.0.0.1:5555");
  CHECK(bindable_endpoint("tcp://localhost:*") == "tcp://127.0.0.1:*");
  CHECK(bindable_endpoint("tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5555");
  CHECK(bindable_endpoint("ipc:///tmp/hil.sock") == "ipc:///tmp/hil.sock");
  Broker broker(bindable_endpoint("tcp://localhost:*"), {{"local", local_board()}}, fast_options());
  const std::string port = broker.endpoint().substr(broker.endpoint().rfind(':') + 1);
  CHECK(broker.endpoint() == "tcp://127.0.0.1:" + port);
  zmq::context_t ctx;
  FakeAgent a(ctx, "tcp://localhost:" + port, "a");
  a.send(proto::make_message(hello_for("a")));
  std::optional<proto::Message> w;
  for (int i = 0; i < 200 && !w; ++i) {
    broker.poll(5);
    w = a.recv(1);
  }
  REQUIRE(w);
  CHECK(w->type == proto::MessageType::kWelcome);
}

TEST_CASE("A directory given as the model path is a clear error, not a huge read", "[broker]") {
  Sandbox box;
  hilq::host::ArtifactStore store;
  CHECK_THROWS_WITH(store.add_file(box.dir.string()),
                    Contains(box.dir.string()) && Contains("is a directory"));
  model::ModelFile file;
  CHECK_THAT(model::read_model_file(box.dir.string(), &file), Contains("is a directory"));
}
