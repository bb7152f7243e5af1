// Auth tests (label `auth`): CURVE with a ZAP allow-list. An agent whose key is listed gets work
// and is named by its list entry; an unknown key, or no CURVE at all, never gets a single message;
// hil-keys makes the files hil-search and hil-agent read.
#include <sys/stat.h>
#include <zmq.h>

#include <catch2/catch.hpp>
#include <zmq_addon.hpp>

#include "db/run_store.h"
#include "host/broker.h"
#include "protocol/curve_keys.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
using Catch::Matchers::Contains;

namespace {

proto::KeyPair new_keys() {
  char pub[41] = {0}, sec[41] = {0};
  REQUIRE(zmq_curve_keypair(pub, sec) == 0);
  return {pub, sec};
}

proto::BoardSpec board() {
  proto::BoardSpec b;
  b.name = "local";
  b.arch = build_arch_name();
  b.cores = 1;
  b.memory_mb = 1;
  b.power.backend = "none";
  return b;
}

}  // namespace

TEST_CASE("CURVE: a listed key gets work under its allow-list name, an unknown key gets nothing",
          "[auth]") {
  REQUIRE(zmq_has("curve"));
  const proto::KeyPair host = new_keys(), known = new_keys(), stranger = new_keys();
  hilq::host::BrokerOptions options;
  options.heartbeat_ms = 50;
  options.health_check = false;
  options.curve_keys = host;
  options.allowed_keys = {{known.public_z85, "pi5-lab-1"}};
  // Any interface may be bound once keys are set.
  hilq::host::Broker broker("tcp://0.0.0.0:*", {{"local", board()}}, options);
  const std::string port = broker.endpoint().substr(broker.endpoint().rfind(':') + 1);
  const std::string endpoint = "tcp://127.0.0.1:" + port;
  broker.submit("local", proto::Job{"secret-job", "noop", "", nlohmann::json::object(), {}});
  zmq::context_t ctx;
  FakeAgent intruder(ctx, endpoint, "intruder", stranger.public_z85, stranger.secret_z85,
                     host.public_z85);
  FakeAgent plain(ctx, endpoint, "plain");  // no CURVE at all
  FakeAgent good(ctx, endpoint, "good", known.public_z85, known.secret_z85, host.public_z85);
  for (auto [a, id] :
       {std::pair{&intruder, "intruder"}, std::pair{&plain, "plain"}, std::pair{&good, "good"}}) {
    a->send(proto::make_message(hello_for(id)));  // a HELLO speaks for its own connection only
    a->send(proto::make_message(proto::MessageType::kReady));
  }
  std::vector<hilq::host::BrokerEvent> events;
  std::optional<proto::Message> got_job;
  int intruder_msgs = 0, plain_msgs = 0;
  const auto until = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < until) {
    for (auto& e : broker.poll(5)) events.push_back(e);
    while (intruder.recv(0, false)) ++intruder_msgs;
    while (plain.recv(0, false)) ++plain_msgs;
    if (auto m = good.recv(0)) {
      if (m->type == proto::MessageType::kJob) got_job = m;
    }
    good.send(proto::make_message(proto::MessageType::kHeartbeat));
  }
  REQUIRE(got_job);
  CHECK(proto::parse_job(*got_job).job_id == "secret-job");
  CHECK(intruder_msgs == 0);
  CHECK(plain_msgs == 0);
  int joined = 0;
  for (const auto& e : events)
    if (e.kind == hilq::host::BrokerEvent::Kind::kAgentJoined) {
      ++joined;
      CHECK(e.user_id == "pi5-lab-1");
    }
  CHECK(joined == 1);
}

TEST_CASE("hil-keys makes key files; hil-search and hil-agent run a CURVE farm with them",
          "[auth]") {
  Sandbox box;
  for (const char* name : {"host", "agent1", "intruder"}) {
    Child k(box, std::string("keys-") + name,
            {keys_bin(), "generate", name, "--dir", box.dir.string()});
    REQUIRE(k.wait() == 0);
  }
  struct stat st {};
  REQUIRE(stat(box.path("host.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK_NOTHROW(proto::load_key_file(box.path("agent1.key")));
  box.write("allow.txt", "# the farm\n" + box.read("agent1.pub"));
  Child again(box, "keys-again", {keys_bin(), "generate", "host", "--dir", box.dir.string()});
  CHECK(again.wait() == 1);  // never overwrites a key

  const std::string boards_dir = write_farm_board(box);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  Child search(
      box, "search",
      noop_search_args(box, "farm", boards_dir, endpoint, 5, 100,
                       {"--curve-key", box.path("host.key"), "--allow", box.path("allow.txt"),
                        "--heartbeat-ms", "100", "--connect-timeout", "20"}));
  REQUIRE(eventually([&] { return search.err().find("listening on") != std::string::npos; }, 10));
  auto agent = [&](const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(),
                {agent_bin(), "--connect", endpoint, "--board", "farm", "--id", name, "--curve-key",
                 box.path(name + ".key"), "--server-key", box.path("host.pub"), "--heartbeat-ms",
                 "100", "--power", "none", "--cache-dir", box.path("cache")});
    return std::make_unique<Child>(box, name, args);
  };
  // The refused agent says why the host never answers (libzmq reports it only as a socket event).
  // That is waited for before the good agent starts, while the host still listens: on a loaded
  // machine the refusal can come after a short session has already given up, and once the host
  // has run its jobs and exited no handshake is refused any more. So the intruder keeps each
  // session up for 2 s (--liveness 20) and retries for longer than the wait (--host-timeout 50).
  auto intruder = agent("intruder", {"--liveness", "20", "--host-timeout", "50"});
  const auto refused = [&] { return intruder->err().find("ZAP status 400") != std::string::npos; };
  CHECK(eventually(refused, 20));
  auto good = agent("agent1", {"--host-timeout", "5"});
  const auto code = search.wait_for(30);
  INFO(search.err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_THAT(search.err(), Contains("key agent1") && Contains("not in the allow-list"));
  hilq::db::Database d(box.path("hil.db"));
  hilq::db::RunStore store(d);
  const auto rows = store.measurements(1);
  CHECK(rows.size() == 5);
  for (const auto& m : rows) CHECK(m.agent == "agent1");
  for (const auto& a : store.agents(1)) CHECK(a.id != "intruder");
  CHECK(intruder->err().find("welcomed") == std::string::npos);
  CHECK_THAT(intruder->err(),
             Contains("the host refused this agent's CURVE key (ZAP status 400)") &&
                 Contains("authentication is the likely cause"));
}

TEST_CASE("hil-search refuses a non-loopback endpoint without keys", "[auth]") {
  Sandbox box;
  Child search(box, "search",
               {search_bin(), "--endpoint", "tcp://0.0.0.0:0", "--db", box.path("x.db"), "--out",
                box.path("out")});
  CHECK(search.wait() == 1);
  CHECK_THAT(search.err(), Contains("refusing to bind") && Contains("hil-keys"));
}

TEST_CASE(
    "A run whose agents this host starts uses CURVE keys made for the run; a peer without "
    "them gets nothing",
    "[auth]") {
  Sandbox box;
  std::filesystem::create_directories(box.dir / "boards");
  box.write("boards/own.json",
            std::string(R"({"name": "own", "arch": ")") + build_arch_name() +
                R"(", "features": [], "cores": 1, "memory_mb": 1, "power": {"backend": "none"},
                "threads": 1,
                "launch": "{agent} --connect {endpoint} --board {board} --id {id} --heartbeat-ms 100 --power none --cache-dir )" +
                box.path("cache") + R"("})");
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  Child search(box, "search",
               noop_search_args(box, "own", box.path("boards"), endpoint, 10, 100,
                                {"--heartbeat-ms", "100", "--connect-timeout", "20"}));
  REQUIRE(eventually([&] { return search.err().find("listening on") != std::string::npos; }, 10));
  // Without keys, neither a new id nor the launched agent's own id gets a single message.
  zmq::context_t ctx;
  FakeAgent stranger(ctx, endpoint, "stranger");
  FakeAgent squatter(ctx, endpoint, "own-1");
  int received = 0;
  std::optional<int> code;
  const auto until = Clock::now() + std::chrono::seconds(40);
  while (!(code = search.wait_for(0.05)) && Clock::now() < until) {
    for (auto [peer, id] : {std::pair{&stranger, "stranger"}, std::pair{&squatter, "own-1"}}) {
      // Without a completed handshake a DEALER may have no pipe to queue into: never block.
      for (const auto& m : {proto::make_message(hello_for(id, "own")),
                            proto::make_message(proto::MessageType::kReady)}) {
        const proto::Frames frames = proto::encode(m);
        std::vector<zmq::const_buffer> parts;
        for (const auto& f : frames) parts.push_back(zmq::buffer(f));
        (void)zmq::send_multipart(peer->socket(), parts, zmq::send_flags::dontwait);
      }
      while (peer->recv(0, false)) ++received;
    }
  }
  INFO(search.err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(received == 0);
  hilq::db::Database d(box.path("hil.db"));
  hilq::db::RunStore store(d);
  const auto rows = store.measurements(1);
  CHECK(rows.size() == 10);
  for (const auto& m : rows) CHECK(m.agent == "own-1");
  const auto agents = store.agents(1);
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].id == "own-1");
  CHECK(agents[0].user_id == std::optional<std::string>("own-1"));  // its key, made for the run
}

TEST_CASE("Without keys, hil-search refuses boards whose agents it does not start itself",
          "[auth]") {
  Sandbox box;
  const std::string boards_dir = write_farm_board(box);
  Child search(box, "search",
               {search_bin(), "--boards", "farm", "--boards-dir", boards_dir, "--port", "0", "--db",
                box.path("x.db"), "--out", box.path("out")});
  CHECK(search.wait() == 1);
  CHECK_THAT(search.err(), Contains("board(s) farm") && Contains("--curve-key") &&
                               Contains("--insecure-loopback"));
}
