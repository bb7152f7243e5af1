// Hostile peers (label `auth`): whatever answers on the endpoint an agent connects to must not be
// able to run anything on the board, and a hostile peer among a run's agents must not be able to
// fail its jobs.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <zmq_addon.hpp>

#include "db/run_store.h"
#include "protocol/health_check.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
using nlohmann::json;

TEST_CASE("A WELCOME's power.command never reaches a shell on the board", "[auth]") {
  Sandbox box;
  const std::string marker = box.path("pwned");
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  // No --power override: the agent takes the backend the (fake) host names.
  Child agent(box, "agent",
              {agent_bin(), "--connect", endpoint, "--board", "local", "--id", "target",
               "--heartbeat-ms", "200", "--host-timeout", "30", "--cache-dir", box.path("cache")});
  std::string route = "target";  // the agent's routing id: "target/<nonce>"
  auto recv_frames = [&](int ms) -> std::optional<proto::Frames> {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(ms)) <= 0) return std::nullopt;
    std::vector<zmq::message_t> parts;
    (void)zmq::recv_multipart(router, std::back_inserter(parts));
    route = parts[0].to_string();
    proto::Frames frames;
    for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
    return frames;
  };
  std::optional<proto::Frames> hello;
  REQUIRE(eventually([&] { return (hello = recv_frames(50)).has_value(); }, 10));
  REQUIRE(proto::decode(*hello).type == proto::MessageType::kHello);
  for (const std::string& command : {"vcgencmd pmic_read_adc; touch " + marker,
                                     "vcgencmd $(touch " + marker + ")", "touch " + marker}) {
    const json board = {{"power", {{"backend", "pi5-pmic"}, {"command", command}}}};
    proto::Frames welcome =
        proto::encode(proto::make_message(proto::Welcome{"hostile", 200, 50, board}));
    welcome.insert(welcome.begin(), route);
    std::vector<zmq::const_buffer> buffers;
    for (const auto& f : welcome) buffers.push_back(zmq::buffer(f));
    REQUIRE(zmq::send_multipart(router, buffers));
  }
  // The agent configures its sensor on each WELCOME (a pi5-pmic sensor reads once at once), then
  // says READY; by the third READY every WELCOME has been handled.
  int readies = 0;
  REQUIRE(eventually(
      [&] {
        if (auto f = recv_frames(50))
          if (proto::decode(*f).type == proto::MessageType::kReady) ++readies;
        return readies >= 1 && agent.err().find("welcomed") != std::string::npos;
      },
      10));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  INFO(agent.err());
  CHECK_FALSE(fs::exists(marker));
  CHECK(agent.err().find("ignoring the host's power.command") != std::string::npos);
  kill(agent.pid, SIGTERM);
  CHECK(agent.wait_for(10).has_value());
}

namespace {

// A hostile local peer (no CURVE: the run has --insecure-loopback): again and again it connects
// under a fresh id, says HELLO for the board, passes the health check (its answer is public),
// takes one real job and spoils it in one of seven ways, then goes.
void hostile_peer(const std::string& endpoint, const std::atomic<bool>& stop,
                  std::atomic<int>& jobs_taken) {
  zmq::context_t ctx;
  for (int n = 0; !stop.load(); ++n) {
    const std::string id = "evil-" + std::to_string(n);
    FakeAgent peer(ctx, endpoint, id);
    peer.send(proto::make_message(hello_for(id, "farm")));
    auto welcome = peer.recv(1000);
    if (!welcome || welcome->type != proto::MessageType::kWelcome) continue;
    peer.send(proto::make_message(proto::MessageType::kReady));
    auto until = Clock::now() + std::chrono::seconds(5);
    auto next_beat = Clock::now();
    bool silent = false, took = false;
    while (!stop.load() && Clock::now() < until) {
      if (!silent && Clock::now() >= next_beat) {
        peer.send(proto::make_message(proto::MessageType::kHeartbeat));
        next_beat = Clock::now() + std::chrono::milliseconds(50);
      }
      auto m = peer.recv(20);
      if (took || !m || m->type != proto::MessageType::kJob) continue;
      const proto::Job job = proto::parse_job(*m);
      if (job.kind == proto::kHealthCheckKind) {
        peer.send(proto::make_message(
            proto::Result{job.job_id, proto::to_json(proto::compute_health_answer(job.config))}));
        peer.send(proto::make_message(proto::MessageType::kReady));
        continue;
      }
      ++jobs_taken;
      switch (n % 7) {
        case 0:  // an implausible result
          peer.send(
              proto::make_message(proto::Result{job.job_id, {{"latency", {{"median_ns", -5.0}}}}}));
          break;
        case 1:
          peer.send(proto::make_message(proto::ErrorReply{job.job_id, "runtime", "boom"}));
          break;
        case 2:
          peer.send(proto::make_message(proto::ErrorReply{job.job_id, "bad-request", "no"}));
          break;
        case 3:  // a download the host cannot serve
          peer.send(proto::make_message(proto::Fetch{std::string(64, 'e'), int64_t{1} << 40}));
          break;
        case 4:
          peer.send(proto::make_message(proto::MessageType::kReady));
          break;
        case 5:  // falls silent until the host declares it dead (5 x 100 ms)
          silent = took = true;
          until = Clock::now() + std::chrono::milliseconds(800);
          continue;
        default:  // holds the job past its 1 s lease, heartbeating
          took = true;
          until = Clock::now() + std::chrono::milliseconds(1500);
          continue;
      }
      break;
    }
  }
}

}  // namespace

TEST_CASE("A hostile local peer with fresh ids next to a real agent makes no job fail", "[auth]") {
  Sandbox box;
  const std::string boards_dir = write_farm_board(box);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  // One counted failure would fail a job: every try the peer spoils must go uncounted.
  Child search(box, "search",
               noop_search_args(box, "farm", boards_dir, endpoint, 30, 150,
                                {"--insecure-loopback", "--heartbeat-ms", "100", "--job-timeout",
                                 "1", "--max-attempts", "1", "--connect-timeout", "20"}));
  REQUIRE(eventually([&] { return search.err().find("listening on") != std::string::npos; }, 10));
  Child good(
      box, "good",
      {agent_bin(), "--connect", endpoint, "--board", "farm", "--id", "good", "--heartbeat-ms",
       "100", "--host-timeout", "10", "--power", "none", "--cache-dir", box.path("cache")});
  REQUIRE(
      eventually([&] { return search.err().find("agent good joined") != std::string::npos; }, 10));
  std::atomic<bool> stop{false};
  std::atomic<int> jobs_taken{0};
  std::thread peer([&] { hostile_peer(endpoint, stop, jobs_taken); });
  const auto code = search.wait_for(60);
  stop.store(true);
  peer.join();
  INFO(search.err().substr(0, 6000));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_THAT(search.read_out(), Catch::Matchers::Contains("jobs: 30 ok, 0 failed"));
  CHECK(jobs_taken.load() >= 7);  // it did get real jobs, in every way of spoiling them
  hilq::db::Database d(box.path("hil.db"));
  const auto rows = hilq::db::RunStore(d).measurements(1);
  CHECK(rows.size() == 30);
  for (const auto& m : rows) {
    CHECK(m.status == "ok");
    CHECK(m.agent == "good");
  }
}
