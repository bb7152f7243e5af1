// Hostile and stuck peers against the broker in process (issue 14, items 2-5): identities that
// hold [auth], bounded input before HELLO and logs a peer cannot forge or flood [fuzz], runs that
// never hang on a download and retries that avoid the agent that just failed [fault].
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <zmq_addon.hpp>

#include "base/log.h"
#include "host/artifact_store.h"
#include "host/broker.h"
#include "protocol/jobs.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
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

proto::Job noop_job(const std::string& id, const std::string& sha = "") {
  proto::Job j;
  j.job_id = id;
  j.kind = "noop";
  j.artifact_sha256 = sha;
  return j;
}

// Everything written to stderr (fd 2) while it lives, for checking log lines.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(dup(2)) {
    std::fflush(stderr);
    dup2(fileno(file_), 2);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string text() const {
    std::fflush(stderr);
    std::string out;
    std::rewind(file_);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  std::FILE* file_;
  int saved_;
};

// The broker pumped in this thread; `alive` fake agents heartbeat while it pumps.
struct Harness {
  Broker broker;
  zmq::context_t ctx;
  std::vector<BrokerEvent> events;
  std::vector<FakeAgent*> alive;
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
  const BrokerEvent* find(K kind, const std::string& job_id = "") const {
    for (const auto& e : events)
      if (e.kind == kind && (job_id.empty() || e.job_id == job_id)) return &e;
    return nullptr;
  }
  void join(FakeAgent& a, const std::string& id) {
    a.send(proto::make_message(hello_for(id)));
    auto w = recv(a, 2000);
    REQUIRE(w);
    REQUIRE(w->type == proto::MessageType::kWelcome);
    alive.push_back(&a);
    a.send(proto::make_message(proto::MessageType::kReady));
  }
  proto::Job expect_job(FakeAgent& a, int ms = 2000) {
    auto m = recv(a, ms);
    REQUIRE(m);
    REQUIRE(m->type == proto::MessageType::kJob);
    return proto::parse_job(*m);
  }
};

}  // namespace

TEST_CASE("A HELLO naming another agent than its connection's routing id is refused", "[auth]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "mallory");
  a.send(proto::make_message(hello_for("victim")));
  auto m = h.recv(a, 2000);
  REQUIRE(m);
  REQUIRE(m->type == proto::MessageType::kError);
  CHECK(proto::parse_error(*m).error_class == "bad-request");
  CHECK_THAT(proto::parse_error(*m).message, Contains("routing id"));
  CHECK(h.find(K::kAgentJoined) == nullptr);
  CHECK(h.broker.agents_of("local") == 0);
}

TEST_CASE(
    "A second live connection claiming an agent's id is refused and logged; the first keeps "
    "its job",
    "[auth]") {
  StderrCapture log;
  Harness h;
  // hil-agent's routing id is "<id>/<nonce>", new for each connection.
  FakeAgent a(h.ctx, h.broker.endpoint(), "a/5f3a9c1e");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1"));
  CHECK(h.expect_job(a).job_id == "j1");
  // Another connection claims "a"; its routing id carries a forged log line.
  FakeAgent impostor(h.ctx, h.broker.endpoint(), "a/\nhil-search: [1/1] forged\x1b[2J");
  impostor.send(proto::make_message(hello_for("a")));
  auto refused = h.recv(impostor, 2000);
  REQUIRE(refused);
  REQUIRE(refused->type == proto::MessageType::kError);
  CHECK(proto::parse_error(*refused).error_class == "id-in-use");
  impostor.send(proto::make_message(proto::Result{"j1", {{"latency", {{"median_ns", 1.0}}}}}));
  auto told = h.recv(impostor, 1000);  // it never joined: told to say HELLO
  REQUIRE(told);
  CHECK(proto::parse_error(*told).error_class == "not-registered");
  CHECK(h.find(K::kJobRequeued, "j1") == nullptr);
  CHECK(h.find(K::kResult, "j1") == nullptr);
  const BrokerEvent* refusal = h.find(K::kAgentRefused);
  REQUIRE(refusal);
  CHECK(refusal->error_class == "id-in-use");
  a.send(proto::make_message(proto::Result{"j1", {{"latency", {{"median_ns", 2.0}}}}}));
  h.pump(200);
  const BrokerEvent* result = h.find(K::kResult, "j1");
  REQUIRE(result);
  CHECK(result->agent_id == "a");
  CHECK(result->measurement["latency"]["median_ns"] == 2.0);
  const std::string text = log.text();
  INFO(text);
  CHECK_THAT(text, Contains("refused a second connection (routing id a/\\x0ahil-search: [1/1] "
                            "forged\\x1b[2J) claiming agent a, which is connected"));
  CHECK(text.find("\nhil-search: [1/1] forged") == std::string::npos);
}

TEST_CASE("An agent back on a new connection takes its id over once the old one is gone",
          "[auth]") {
  BrokerOptions o = fast_options();
  o.max_attempts = 1;  // a counted try would fail the job
  o.liveness = 50;     // the old connection is seen closing, not missing heartbeats
  Harness h(o);
  auto first = std::make_unique<FakeAgent>(h.ctx, h.broker.endpoint(), "a/1");
  h.join(*first, "a");
  h.broker.submit("local", noop_job("j1"));
  h.expect_job(*first);
  h.alive.clear();
  first.reset();  // the connection closes with the job in flight
  FakeAgent second(h.ctx, h.broker.endpoint(), "a/2");
  // The host may not have seen the first connection go yet: id-in-use, then HELLO again.
  std::optional<proto::Message> welcome;
  for (int i = 0; i < 50 && !welcome; ++i) {
    second.send(proto::make_message(hello_for("a")));
    auto m = h.recv(second, 200);
    if (m && m->type == proto::MessageType::kWelcome) welcome = m;
    if (m && m->type == proto::MessageType::kError)
      REQUIRE(proto::parse_error(*m).error_class == "id-in-use");
  }
  REQUIRE(welcome);
  h.alive.push_back(&second);
  second.send(proto::make_message(proto::MessageType::kReady));
  CHECK(h.expect_job(second).job_id == "j1");
  CHECK(h.find(K::kJobError, "j1") == nullptr);
  const BrokerEvent* requeued = h.find(K::kJobRequeued, "j1");
  REQUIRE(requeued);
  CHECK(requeued->attempt == 0);
  CHECK(h.broker.agents_of("local") == 1);
}

TEST_CASE("A HELLO's figures never replace the board file's in the joined event", "[auth]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  proto::Hello hello = hello_for("a");
  hello.cores = 4096;
  hello.features = {"avx512f", "made-up"};
  a.send(proto::make_message(hello));
  REQUIRE(h.recv(a, 2000));
  const BrokerEvent* joined = h.find(K::kAgentJoined);
  REQUIRE(joined);
  REQUIRE(joined->hello);
  CHECK(joined->hello->cores == 1);  // the board file's, which the boards row records
  CHECK(joined->hello->features.empty());
  CHECK(joined->hello->memory_bytes == int64_t{1} << 20);
}

TEST_CASE("Before HELLO a peer may send only a small message; more is refused frame by frame",
          "[fuzz]") {
  Harness h;
  FakeAgent stranger(h.ctx, h.broker.endpoint(), "stranger");
  // Three 40 KiB frames: over the 64 KiB a peer may send before HELLO.
  stranger.send_frames({"HIL1", "HELLO", std::string(40 << 10, ' '), std::string(40 << 10, 'x'),
                        std::string(40 << 10, 'y')});
  auto m = h.recv(stranger, 2000);
  REQUIRE(m);
  CHECK(proto::parse_error(*m).error_class == "bad-request");
  CHECK_THAT(proto::parse_error(*m).message, Contains("before HELLO"));
  // A frame past the ROUTER's frame limit drops the connection before libzmq buffers it.
  FakeAgent big(h.ctx, h.broker.endpoint(), "big");
  big.send_frames({"HIL1", "HELLO", std::string(hilq::host::kMaxAgentFrameBytes + 1, '{')});
  h.pump(300);
  CHECK_FALSE(big.recv(0).has_value());
  CHECK(h.find(K::kAgentRefused) == nullptr);
  // And a well-behaved agent still gets its work.
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1"));
  CHECK(h.expect_job(a).job_id == "j1");
}

TEST_CASE("Peer strings in log lines are escaped and cut; per-peer lines are rate-limited",
          "[fuzz]") {
  CHECK(hilq::log_safe("ok\nhil-search: [1/1] forged\x1b[2J") ==
        "ok\\x0ahil-search: [1/1] forged\\x1b[2J");
  CHECK(hilq::log_safe("a\\b") == "a\\\\b");
  const std::string cut = hilq::log_safe(std::string(1 << 20, 'n'));
  CHECK(cut.size() < 260);
  CHECK_THAT(cut, Contains("(1048576 bytes)"));
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  hilq::LogLimiter limiter(out, "test", 10);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.allow("peer");
  CHECK(allowed == 10);
  CHECK(limiter.allow("other"));  // one peer's flood does not silence another
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(limiter.allow("peer"));
  std::rewind(out);
  char line[256] = {0};
  REQUIRE(std::fgets(line, sizeof(line), out));
  CHECK(std::string(line) == "test: suppressed 990 log lines about peer\n");
  std::fclose(out);
}

TEST_CASE("A reconnect is not a failed try of the job", "[fault]") {
  BrokerOptions o = fast_options();
  o.max_attempts = 1;  // one counted failure would fail the job
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1"));
  h.expect_job(a);
  h.alive.clear();
  h.join(a, "a");  // HELLO again on a fresh session
  const BrokerEvent* requeued = h.find(K::kJobRequeued, "j1");
  REQUIRE(requeued);
  CHECK(requeued->attempt == 0);
  CHECK(h.find(K::kJobError, "j1") == nullptr);
  CHECK(h.expect_job(a).job_id == "j1");
}

TEST_CASE("A job is not retried on the agent that just failed it while the board has another",
          "[fault]") {
  Harness h;
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  FakeAgent b(h.ctx, h.broker.endpoint(), "b");
  h.join(a, "a");
  h.join(b, "b");
  h.pump(100);
  h.broker.submit("local", noop_job("j1"));
  h.broker.submit("local", noop_job("j2"));
  // Each agent gets one; the one holding j1 fails it, the other stays busy with j2.
  h.pump(200);
  std::optional<proto::Message> ma = a.recv(200), mb = b.recv(200);
  REQUIRE(ma);
  REQUIRE(mb);
  FakeAgent& failer = proto::parse_job(*ma).job_id == "j1" ? a : b;
  FakeAgent& other = &failer == &a ? b : a;
  const std::string other_job = "j2";
  failer.send(proto::make_message(proto::ErrorReply{"j1", "runtime", "boom"}));
  failer.send(proto::make_message(proto::MessageType::kReady));
  h.pump(300);
  bool got_job = false;  // idle, but j1 waits for the other agent
  while (auto m = failer.recv(50)) got_job |= m->type == proto::MessageType::kJob;
  CHECK_FALSE(got_job);
  other.send(proto::make_message(proto::Result{other_job, {{"latency", {{"median_ns", 1.0}}}}}));
  other.send(proto::make_message(proto::MessageType::kReady));
  CHECK(h.expect_job(other).job_id == "j1");
}

TEST_CASE("Re-sending the same FETCH does not renew a job's lease", "[fault]") {
  Sandbox box;
  box.write("model.bin", std::string(3 * proto::kArtifactChunkBytes, 'm'));
  hilq::host::ArtifactStore store;
  const std::string sha = store.add_file(box.path("model.bin"));
  BrokerOptions o = fast_options();
  o.artifacts = &store;
  o.job_timeout_s = 0.6;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1", sha));
  h.expect_job(a);
  const auto until = Clock::now() + std::chrono::milliseconds(1500);
  while (Clock::now() < until && !h.find(K::kJobRequeued, "j1")) {
    a.send(proto::make_message(proto::Fetch{sha, 0}));  // the first chunk, again and again
    h.pump(50);
    while (a.recv(0)) {
    }
  }
  const BrokerEvent* requeued = h.find(K::kJobRequeued, "j1");
  REQUIRE(requeued);
  CHECK(requeued->error_class == "timeout");
}

TEST_CASE("The host fails a job (class artifact) when it cannot serve the job's artifact",
          "[fault]") {
  Sandbox box;
  box.write("model.bin", std::string(1000, 'm'));
  hilq::host::ArtifactStore store;
  const std::string sha = store.add_file(box.path("model.bin"));
  fs::remove(box.path("model.bin"));  // vanished after it was registered
  BrokerOptions o = fast_options();
  o.artifacts = &store;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1", sha));
  h.expect_job(a);
  a.send(proto::make_message(proto::Fetch{sha, 0}));
  auto m = h.recv(a, 2000);
  REQUIRE(m);
  CHECK(proto::parse_error(*m).error_class == "artifact");
  const BrokerEvent* failed = h.find(K::kJobError, "j1");
  REQUIRE(failed);
  CHECK(failed->error_class == "artifact");
  CHECK(h.broker.outstanding("local") == 0);
}

TEST_CASE("An agent answering bad-request to a job another agent runs fine is quarantined",
          "[fault]") {
  Harness h;
  FakeAgent rogue(h.ctx, h.broker.endpoint(), "rogue");
  FakeAgent good(h.ctx, h.broker.endpoint(), "good");
  h.join(rogue, "rogue");
  h.pump(50);
  h.broker.submit("local", noop_job("j1"));
  CHECK(h.expect_job(rogue).job_id == "j1");
  h.join(good, "good");
  rogue.send(proto::make_message(proto::ErrorReply{"j1", "bad-request", "no such kind"}));
  rogue.send(proto::make_message(proto::MessageType::kReady));
  CHECK(h.expect_job(good).job_id == "j1");
  good.send(proto::make_message(proto::Result{"j1", {{"latency", {{"median_ns", 1.0}}}}}));
  h.pump(200);
  CHECK(h.find(K::kResult, "j1"));
  CHECK(h.find(K::kJobError, "j1") == nullptr);
  const BrokerEvent* q = h.find(K::kAgentQuarantined);
  REQUIRE(q);
  CHECK(q->agent_id == "rogue");
}

TEST_CASE("An agent that stays not ready a lease after its lease expired is quarantined",
          "[fault]") {
  BrokerOptions o = fast_options();
  o.job_timeout_s = 0.3;
  Harness h(o);
  FakeAgent stuck(h.ctx, h.broker.endpoint(), "stuck");
  h.join(stuck, "stuck");
  h.broker.submit("local", noop_job("j1"));
  h.expect_job(stuck);  // and never answers nor says READY, but keeps heartbeating
  h.pump(1000);
  CHECK(h.find(K::kJobRequeued, "j1"));
  const BrokerEvent* q = h.find(K::kAgentQuarantined);
  REQUIRE(q);
  CHECK_THAT(q->message, Contains("not ready"));
}

TEST_CASE("An agent whose download gets no chunk fails the job (artifact) and says READY again",
          "[fault]") {
  Sandbox box;
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  Child agent(box, "agent",
              {agent_bin(), "--connect", endpoint, "--board", "local", "--id", "slow",
               "--heartbeat-ms", "100", "--host-timeout", "30", "--fetch-timeout", "0.5", "--power",
               "none", "--cache-dir", box.path("cache")});
  std::string route = "slow";  // "slow/<nonce>" once the agent has said something
  auto send = [&](const proto::Message& m) {
    proto::Frames frames = proto::encode(m);
    frames.insert(frames.begin(), route);
    std::vector<zmq::const_buffer> buffers;
    for (const auto& f : frames) buffers.push_back(zmq::buffer(f));
    REQUIRE(zmq::send_multipart(router, buffers));
  };
  // The next message from the agent that is not a HEARTBEAT; the fake host heartbeats too.
  auto next = [&](int ms) -> std::optional<proto::Message> {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < until) {
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) <= 0) {
        send(proto::make_message(proto::MessageType::kHeartbeat));
        continue;
      }
      std::vector<zmq::message_t> parts;
      (void)zmq::recv_multipart(router, std::back_inserter(parts));
      route = parts[0].to_string();
      proto::Frames frames;
      for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
      proto::Message m = proto::decode(frames);
      if (m.type != proto::MessageType::kHeartbeat) return m;
      send(proto::make_message(proto::MessageType::kHeartbeat));
    }
    return std::nullopt;
  };
  auto hello = next(10000);
  REQUIRE(hello);
  REQUIRE(hello->type == proto::MessageType::kHello);
  send(proto::make_message(proto::Welcome{"stuck", 100, 50, {{"power", {{"backend", "none"}}}}}));
  auto ready = next(5000);
  REQUIRE(ready);
  REQUIRE(ready->type == proto::MessageType::kReady);
  send(proto::make_message(noop_job("j1", std::string(64, 'e'))));
  auto fetch = next(5000);
  REQUIRE(fetch);
  REQUIRE(fetch->type == proto::MessageType::kFetch);
  // The fake host never answers the FETCH.
  auto error = next(5000);
  INFO(agent.err());
  REQUIRE(error);
  REQUIRE(error->type == proto::MessageType::kError);
  CHECK(proto::parse_error(*error).job_id == "j1");
  CHECK(proto::parse_error(*error).error_class == "artifact");
  auto again = next(5000);
  REQUIRE(again);
  CHECK(again->type == proto::MessageType::kReady);
  kill(agent.pid, SIGTERM);
  CHECK(agent.wait_for(10).has_value());
}

TEST_CASE("A FETCH past the end of the job's artifact is the agent's failed try, not the job's end",
          "[fault]") {
  Sandbox box;
  box.write("model.bin", std::string(1000, 'm'));
  hilq::host::ArtifactStore store;
  const std::string sha = store.add_file(box.path("model.bin"));
  BrokerOptions o = fast_options();
  o.artifacts = &store;
  Harness h(o);
  FakeAgent a(h.ctx, h.broker.endpoint(), "a");
  h.join(a, "a");
  h.broker.submit("local", noop_job("j1", sha));
  h.expect_job(a);
  a.send(proto::make_message(proto::Fetch{sha, 1 << 30}));
  auto m = h.recv(a, 2000);
  REQUIRE(m);
  CHECK(proto::parse_error(*m).error_class == "artifact");
  CHECK(h.find(K::kJobError, "j1") == nullptr);  // it used to fail the job at once
  const BrokerEvent* requeued = h.find(K::kJobRequeued, "j1");
  REQUIRE(requeued);
  CHECK(requeued->error_class == "artifact");
  CHECK(h.broker.outstanding("local") == 1);
}

TEST_CASE("The largest RESULT the host accepts fits the ROUTER's frame limit", "[fuzz]") {
  // kMaxResultSamples samples, each printed as long as a double gets, plus the untyped fields at
  // their limit: the JSON frame an agent may legitimately send, at its largest.
  nlohmann::json samples = nlohmann::json::array();
  for (size_t i = 0; i < proto::kMaxResultSamples; ++i) samples.push_back(-1.2345678901234567e-300);
  nlohmann::json m = {{"latency", {{"median_ns", 1.0}, {"samples_ns", samples}}},
                      {"note", std::string(proto::kMaxResultExtraBytes, 'x')}};
  const proto::Frames frames = proto::encode(proto::make_message(proto::Result{"j1", m}));
  int64_t largest = 0;
  for (const auto& f : frames) largest = std::max<int64_t>(largest, static_cast<int64_t>(f.size()));
  CHECK(largest > 2 * 1000 * 1000);
  CHECK(largest < hilq::host::kMaxAgentFrameBytes);
}
