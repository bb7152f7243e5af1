// The farm end to end: several agents per board kind, a board whose agent fails its health check
// (quarantined and reported), and --boards a,b naming the kind that never came.
#include <catch2/catch.hpp>

#include "db/run_store.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
using Catch::Matchers::Contains;

TEST_CASE("An agent failing its health check is quarantined and reported; the others work",
          "[e2e]") {
  Sandbox box;
  const std::string boards_dir = write_farm_board(box);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  Child search(
      box, "search",
      {search_bin(), "--insecure-loopback", "--boards",   "farm",           "--boards-dir",
       boards_dir,   "--endpoint",          endpoint,     "--db",           box.path("hil.db"),
       "--out",      box.path("out"),       "--workload", "noop",           "--jobs",
       "6",          "--job-sleep-ms",      "50",         "--heartbeat-ms", "100"});
  REQUIRE(eventually([&] { return search.err().find("listening on") != std::string::npos; }, 10));
  auto agent = [&](const std::string& id, std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        agent_bin(), "--connect", endpoint,         "--board",     "farm",
        "--id",      id,          "--heartbeat-ms", "100",         "--host-timeout",
        "10",        "--power",   "none",           "--cache-dir", box.path("cache")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(box, id, argv);
  };
  auto bad = agent("broken", {"--fault", "wrong-health"});
  auto good1 = agent("good1", {});
  auto good2 = agent("good2", {});
  const auto code = search.wait_for(30);
  INFO(search.err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_THAT(search.read_out(), Contains("quarantined: broken") && Contains("health check"));
  hilq::db::Database d(box.path("hil.db"));
  hilq::db::RunStore store(d);
  std::set<std::string> workers;
  for (const auto& m : store.measurements(1)) {
    CHECK(m.status == "ok");
    workers.insert(*m.agent);
  }
  CHECK(store.measurements(1).size() == 6);
  CHECK(workers.count("broken") == 0);
  bool seen = false;
  for (const auto& a : store.agents(1))
    if (a.id == "broken") {
      seen = true;
      CHECK(a.status == "quarantined");
    }
  CHECK(seen);
}

TEST_CASE("--boards a,b waits with a progress line and names the kind that never came", "[e2e]") {
  Sandbox box;
  const std::string boards_dir = write_farm_board(box, "farm");
  write_farm_board(box, "ghost");
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  Child search(
      box, "search",
      {search_bin(), "--insecure-loopback", "--boards",   "farm,ghost",     "--boards-dir",
       boards_dir,   "--endpoint",          endpoint,     "--db",           box.path("hil.db"),
       "--out",      box.path("out"),       "--workload", "noop",           "--jobs",
       "2",          "--connect-timeout",   "2.5",        "--heartbeat-ms", "100"});
  REQUIRE(eventually([&] { return search.err().find("listening on") != std::string::npos; }, 10));
  Child agent(
      box, "agent",
      {agent_bin(), "--connect", endpoint, "--board", "farm", "--id", "f1", "--heartbeat-ms", "100",
       "--host-timeout", "10", "--power", "none", "--cache-dir", box.path("cache")});
  const auto code = search.wait_for(30);
  INFO(search.err());
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_THAT(search.err(), Contains("waiting for agents of ghost"));
  CHECK_THAT(search.err(), Contains("no agent for board(s) ghost said HELLO within 2 s"));
  CHECK(search.err().find("board(s) farm") == std::string::npos);
}

TEST_CASE("Jobs naming an artifact: the agent fetches it once in chunks, verifies and caches it",
          "[e2e]") {
  Sandbox box;
  std::string content(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7919 >> 3);
  box.write("model.bin", content);
  const std::string boards_dir = write_farm_board(box);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  Child search(box, "search", {search_bin(),     "--insecure-loopback",
                               "--boards",       "farm",
                               "--boards-dir",   boards_dir,
                               "--endpoint",     endpoint,
                               "--db",           box.path("hil.db"),
                               "--out",          box.path("out"),
                               "--workload",     "noop",
                               "--jobs",         "3",
                               "--artifact",     box.path("model.bin"),
                               "--heartbeat-ms", "100"});
  REQUIRE(eventually([&] { return search.err().find("listening on") != std::string::npos; }, 10));
  Child agent(
      box, "agent",
      {agent_bin(), "--connect", endpoint, "--board", "farm", "--id", "a1", "--heartbeat-ms", "100",
       "--host-timeout", "10", "--power", "none", "--cache-dir", box.path("cache")});
  const auto code = search.wait_for(30);
  INFO(search.err());
  REQUIRE(code);
  CHECK(*code == 0);
  hilq::db::Database d(box.path("hil.db"));
  const auto rows = hilq::db::RunStore(d).measurements(1);
  REQUIRE(rows.size() == 3);
  std::string sha;
  for (const auto& m : rows) {
    const auto metrics = nlohmann::json::parse(m.metrics);
    REQUIRE(metrics.contains("artifact"));
    sha = metrics["artifact"]["sha256"];
    CHECK(metrics["artifact"]["verified_sha256"] == sha);
  }
  CHECK(fs::file_size(box.dir / "cache" / sha) == content.size());
  int files = 0;
  for (const auto& e : fs::directory_iterator(box.dir / "cache")) files += e.is_regular_file();
  CHECK(files == 1);
}
