// Fuzz tests (label `fuzz`): 10,000 random and mutated messages thrown at the host's broker and at
// a real hil-agent process. Neither may crash or hang; each message is answered (ERROR or a
// protocol reply) or dropped, and afterwards both still do their job for a well-behaved peer.
#include <catch2/catch.hpp>
#include <random>

#include "host/broker.h"
#include "protocol/health_check.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
using nlohmann::json;

namespace {

constexpr int kMessages = 10000;

// Valid messages of every type, the seeds the mutator starts from.
std::vector<proto::Frames> corpus() {
  std::vector<proto::Frames> seeds;
  seeds.push_back(proto::encode(proto::make_message(hello_for("fuzz"))));
  seeds.push_back(proto::encode(proto::make_message(proto::MessageType::kReady)));
  seeds.push_back(proto::encode(proto::make_message(proto::MessageType::kHeartbeat)));
  seeds.push_back(proto::encode(
      proto::make_message(proto::Result{"r1-local-1", {{"latency", {{"median_ns", 5.0}}}}})));
  seeds.push_back(
      proto::encode(proto::make_message(proto::ErrorReply{"r1-local-1", "runtime", "x"})));
  seeds.push_back(proto::encode(proto::make_message(proto::Fetch{std::string(64, 'b'), 0})));
  proto::Job job;
  job.job_id = "fz-1";
  job.kind = "noop";
  job.config = {{"sleep_ms", 0}};
  seeds.push_back(proto::encode(proto::make_message(job)));
  seeds.push_back(proto::encode(proto::make_message(proto::Welcome{"1", 100, 5, json::object()})));
  seeds.push_back(
      proto::encode(proto::make_message(proto::ArtifactChunk{std::string(64, 'c'), 0, 3, "abc"})));
  return seeds;
}

proto::Frames mutate(std::mt19937& rng, const std::vector<proto::Frames>& seeds) {
  if (rng() % 5 == 0) {  // pure noise
    proto::Frames f(rng() % 6);
    for (auto& frame : f) {
      frame.resize(rng() % 300);
      for (auto& c : frame) c = static_cast<char>(rng());
    }
    if (!f.empty() && rng() % 2) f[0] = "HIL1";
    return f;
  }
  proto::Frames f = seeds[rng() % seeds.size()];
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < n && !f.empty(); ++k) {
    auto& frame = f[rng() % f.size()];
    switch (rng() % 7) {
      case 0:
        if (!frame.empty()) frame[rng() % frame.size()] = static_cast<char>(rng());
        break;
      case 1:
        frame.resize(rng() % (frame.size() + 1));
        break;
      case 2:
        frame.insert(frame.begin() + static_cast<long>(rng() % (frame.size() + 1)),
                     static_cast<char>(rng()));
        break;
      case 3:
        if (rng() % 2)
          f.pop_back();
        else
          f.push_back(std::string(rng() % 50, 'z'));
        break;
      case 4: {  // a field of the body replaced with a value of another type
        json body = json::parse(f.size() > 2 ? f[2] : "", nullptr, false);
        if (body.is_object() && !body.empty()) {
          auto it = body.begin();
          std::advance(it, static_cast<long>(rng() % body.size()));
          const json values[] = {nullptr,
                                 -1,
                                 1e308,
                                 "",
                                 json::array(),
                                 json::object(),
                                 std::string(1000, 'q'),
                                 int64_t{1} << 62,
                                 true};
          it.value() = values[rng() % 9];
          f[2] = body.dump();
        }
        break;
      }
      case 5:
        f[1 % f.size()] = proto::to_string(static_cast<proto::MessageType>(rng() % 10));
        break;
      case 6:
        frame = std::string(rng() % 2 ? 100 : 1, '[');
        break;
    }
  }
  return f;
}

bool is_bye(const proto::Frames& f) { return f.size() >= 2 && f[0] == "HIL1" && f[1] == "BYE"; }

}  // namespace

TEST_CASE("10,000 random and mutated messages at the host: no crash, no hang, still serving",
          "[fuzz]") {
  proto::BoardSpec board;
  board.name = "local";
  board.arch = build_arch_name();
  board.cores = 1;
  board.memory_mb = 1;
  board.power.backend = "none";
  hilq::host::BrokerOptions options;
  options.heartbeat_ms = 50;
  hilq::host::Broker broker("tcp://127.0.0.1:*", {{"local", board}}, options);
  zmq::context_t ctx;
  std::vector<std::unique_ptr<FakeAgent>> fuzzers;
  fuzzers.reserve(8);
  for (int i = 0; i < 8; ++i)
    fuzzers.push_back(
        std::make_unique<FakeAgent>(ctx, broker.endpoint(), "fuzz-" + std::to_string(i)));
  std::mt19937 rng(1234);
  const auto seeds = corpus();
  int answered = 0;
  const auto start = Clock::now();
  for (int i = 0; i < kMessages; ++i) {
    fuzzers[rng() % fuzzers.size()]->send_frames(mutate(rng, seeds));
    if (i % 50 == 0) {
      broker.poll(1);
      for (auto& f : fuzzers)
        while (auto m = f->recv(0, false)) ++answered;
    }
  }
  for (int i = 0; i < 50; ++i) {
    broker.poll(2);
    for (auto& f : fuzzers)
      while (auto m = f->recv(0, false)) ++answered;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK(seconds < 60);
  CHECK(answered > kMessages / 4);  // the malformed ones at least get an ERROR
  // A well-behaved agent still gets through the health check and a job.
  FakeAgent good(ctx, broker.endpoint(), "good");
  good.send(proto::make_message(hello_for("good")));
  broker.submit("local", proto::Job{"after-fuzz", "noop", "", {{"sleep_ms", 0}}, {}});
  bool done = false;
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (!done && Clock::now() < until) {
    for (const auto& ev : broker.poll(5))
      done |= ev.kind == hilq::host::BrokerEvent::Kind::kResult && ev.job_id == "after-fuzz";
    auto m = good.recv(5);
    if (!m) continue;
    if (m->type == proto::MessageType::kWelcome) {
      good.send(proto::make_message(proto::MessageType::kReady));
    } else if (m->type == proto::MessageType::kJob) {
      const proto::Job job = proto::parse_job(*m);
      json answer = {{"latency", {{"median_ns", 1.0}}}};
      if (job.kind == proto::kHealthCheckKind)
        answer = proto::to_json(proto::compute_health_answer(job.config));
      good.send(proto::make_message(proto::Result{job.job_id, answer}));
      good.send(proto::make_message(proto::MessageType::kReady));
    }
    good.send(proto::make_message(proto::MessageType::kHeartbeat));
  }
  CHECK(done);
}

TEST_CASE("10,000 random and mutated messages at an agent: no crash, no hang, still working",
          "[fuzz]") {
  Sandbox box;
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::router_mandatory, 1);
  router.set(zmq::sockopt::router_handover, 1);
  router.set(zmq::sockopt::sndhwm, 100000);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  Child agent(
      box, "agent",
      {agent_bin(), "--connect", endpoint, "--board", "local", "--id", "target", "--heartbeat-ms",
       "200", "--host-timeout", "60", "--power", "none", "--cache-dir", box.path("cache")});
  // The agent's routing id is "target/<nonce>", new on each connection: answer the latest one.
  std::string route = "target";
  auto recv_any = [&](int ms) -> std::optional<proto::Frames> {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(ms)) <= 0) return std::nullopt;
    proto::Frames frames;
    zmq::message_t part;
    do {
      (void)router.recv(part);
      frames.push_back(part.to_string());
    } while (part.more());
    route = frames[0];
    return proto::Frames(frames.begin() + 1, frames.end());  // without the identity
  };
  auto send_to = [&](const proto::Frames& frames) {
    try {  // while the agent reconnects (a fuzzed WELCOME may shorten its liveness) it is away
      router.send(zmq::buffer(route), zmq::send_flags::sndmore);
      for (size_t i = 0; i < frames.size(); ++i)
        router.send(zmq::buffer(frames[i]),
                    i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      return true;
    } catch (const zmq::error_t&) {
      return false;
    }
  };
  const proto::Frames welcome =
      proto::encode(proto::make_message(proto::Welcome{"fuzz", 200, 50, json::object()}));
  // HELLO, then WELCOME.
  std::optional<proto::Frames> hello;
  REQUIRE(eventually([&] { return (hello = recv_any(50)).has_value(); }, 10));
  REQUIRE(proto::decode(*hello).type == proto::MessageType::kHello);
  send_to(welcome);
  std::mt19937 rng(99);
  const auto seeds = corpus();
  int sent = 0, answered = 0;
  while (sent < kMessages) {
    proto::Frames f = mutate(rng, seeds);
    if (f.empty() || is_bye(f)) continue;  // BYE would end the agent on purpose
    if (!send_to(f)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ++sent;
    if (sent % 100 == 0)
      while (recv_any(0)) ++answered;
  }
  while (recv_any(300)) ++answered;
  CHECK_FALSE(agent.wait_for(0.1).has_value());  // alive
  CHECK(answered > kMessages / 4);
  // Still working: a valid noop job gets its RESULT (after any fuzz job it accepted finishes).
  bool result = false;
  const auto until = Clock::now() + std::chrono::seconds(20);
  auto next_send = Clock::now();
  proto::Job job;
  job.job_id = "after-fuzz";
  job.kind = "noop";
  while (!result && Clock::now() < until) {
    if (Clock::now() >= next_send) {
      send_to(proto::encode(proto::make_message(job)));
      next_send = Clock::now() + std::chrono::milliseconds(500);
    }
    if (auto f = recv_any(50)) {
      try {
        const proto::Message m = proto::decode(*f);
        if (m.type == proto::MessageType::kHello) send_to(welcome);  // it reconnected
        result =
            m.type == proto::MessageType::kResult && proto::parse_result(m).job_id == "after-fuzz";
      } catch (const hilq::ProtocolError&) {
      }
    }
  }
  INFO(agent.err().substr(0, 2000));
  CHECK(result);
  kill(agent.pid, SIGTERM);
  CHECK(agent.wait_for(10).has_value());
}
