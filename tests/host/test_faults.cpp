// Fault tests (label `fault`): real hil-search and hil-agent processes on loopback with 100 ms
// heartbeats. An agent killed with SIGKILL mid-job, an agent that hangs (SIGSTOP), and a host
// killed mid-run and restarted with --resume: every job ends with exactly one result row.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "db/run_store.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
using Catch::Matchers::Contains;

namespace {

struct Farm {
  Sandbox box;
  std::string boards_dir = write_farm_board(box);
  int port = free_port();
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  std::string db = box.path("hil.db");
  std::map<std::string, std::unique_ptr<Child>> agents;

  std::unique_ptr<Child> search(const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> argv = {search_bin(),
                                     "--insecure-loopback",
                                     "--boards",
                                     "farm",
                                     "--boards-dir",
                                     boards_dir,
                                     "--endpoint",
                                     endpoint,
                                     "--db",
                                     db,
                                     "--out",
                                     box.path("out"),
                                     "--workload",
                                     "noop",
                                     "--heartbeat-ms",
                                     "100",
                                     "--liveness",
                                     "5",
                                     "--connect-timeout",
                                     "20",
                                     "--no-health-check"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(box, name, argv);
  }
  void start_agent(const std::string& id) {
    agents[id] = std::make_unique<Child>(
        box, id,
        std::vector<std::string>{agent_bin(), "--connect", endpoint, "--board", "farm", "--id", id,
                                 "--heartbeat-ms", "100", "--host-timeout", "30", "--reconnect-ms",
                                 "100,400", "--power", "none", "--cache-dir",
                                 box.path("cache-" + id)});
  }
  // The agent currently running a job, from the durable queue (a concurrent WAL reader).
  std::optional<std::string> running_agent() {
    if (!fs::exists(db)) return std::nullopt;
    hilq::db::Database d(db);
    for (const auto& job : hilq::db::RunStore(d).jobs(1))
      if (job.state == "running" && job.agent) return job.agent;
    return std::nullopt;
  }
  size_t recorded() {
    if (!fs::exists(db)) return 0;
    hilq::db::Database d(db);
    return hilq::db::RunStore(d).measurements(1).size();
  }
};

void check_exactly_one_ok_row_per_job(const std::string& db_path, size_t jobs) {
  hilq::db::Database d(db_path);
  hilq::db::RunStore store(d);
  const auto rows = store.measurements(1);
  std::set<std::string> ids;
  for (const auto& m : rows) {
    CAPTURE(m.job_id, m.error.value_or(""));
    CHECK(m.status == "ok");
    ids.insert(m.job_id);
  }
  CHECK(rows.size() == jobs);
  CHECK(ids.size() == jobs);
  for (const auto& job : store.jobs(1)) CHECK(job.state == "done");
}

}  // namespace

TEST_CASE("An agent killed with SIGKILL mid-job: the job finishes on another agent, once",
          "[fault]") {
  Farm farm;
  auto search = farm.search("search", {"--jobs", "6", "--job-sleep-ms", "400"});
  REQUIRE(eventually([&] { return search->err().find("listening on") != std::string::npos; }, 10));
  for (const char* id : {"a1", "a2", "a3"}) farm.start_agent(id);
  std::optional<std::string> victim;
  REQUIRE(eventually([&] { return (victim = farm.running_agent()).has_value(); }, 15));
  kill(farm.agents.at(*victim)->pid, SIGKILL);
  const auto code = search->wait_for(40);
  INFO(search->err());
  REQUIRE(code);
  CHECK(*code == 0);
  check_exactly_one_ok_row_per_job(farm.db, 6);
  CHECK_THAT(search->err(), Contains("agent " + *victim + " missed 5 heartbeats"));
  hilq::db::Database d(farm.db);
  int retried = 0;
  for (const auto& job : hilq::db::RunStore(d).jobs(1)) retried += job.attempts >= 2;
  CHECK(retried >= 1);
  for (const auto& m : hilq::db::RunStore(d).measurements(1)) CHECK(m.agent != *victim);
}

TEST_CASE("An agent that hangs (stops heartbeating) is detected and its job re-queued", "[fault]") {
  Farm farm;
  auto search = farm.search("search", {"--jobs", "4", "--job-sleep-ms", "600"});
  REQUIRE(eventually([&] { return search->err().find("listening on") != std::string::npos; }, 10));
  farm.start_agent("h1");
  farm.start_agent("h2");
  std::optional<std::string> victim;
  REQUIRE(eventually([&] { return (victim = farm.running_agent()).has_value(); }, 15));
  kill(farm.agents.at(*victim)->pid, SIGSTOP);
  const auto stopped = Clock::now();
  // 5 missed 100 ms heartbeats: detected well within 3 s even on a loaded CI machine.
  REQUIRE(eventually([&] { return search->err().find("missed 5 heartbeats") != std::string::npos; },
                     10));
  CHECK(std::chrono::duration<double>(Clock::now() - stopped).count() < 3.0);
  const auto code = search->wait_for(40);
  INFO(search->err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_THAT(search->err(), Contains("re-queued") && Contains("agent-lost"));
  check_exactly_one_ok_row_per_job(farm.db, 4);
  kill(farm.agents.at(*victim)->pid, SIGCONT);
}

TEST_CASE("A host killed mid-run and restarted with --resume keeps results and runs the rest",
          "[fault]") {
  Farm farm;
  auto first = farm.search("first", {"--jobs", "8", "--job-sleep-ms", "300"});
  REQUIRE(eventually([&] { return first->err().find("listening on") != std::string::npos; }, 10));
  farm.start_agent("r1");
  farm.start_agent("r2");
  REQUIRE(eventually([&] { return farm.recorded() >= 2; }, 20));
  kill(first->pid, SIGKILL);
  first->wait();
  std::set<std::string> kept;
  {
    hilq::db::Database d(farm.db);
    hilq::db::RunStore store(d);
    CHECK(store.run(1)->status == "running");  // the host died without a word
    for (const auto& m : store.measurements(1)) kept.insert(m.job_id + "@" + m.created_at);
  }
  REQUIRE(kept.size() >= 2);
  REQUIRE(kept.size() < 8);
  // Same endpoint: the agents reconnect on their own (Paranoid Pirate back-off) and HELLO again.
  auto second = std::make_unique<Child>(
      farm.box, "second",
      std::vector<std::string>{search_bin(), "--insecure-loopback", "--resume", "1", "--boards-dir",
                               farm.boards_dir, "--endpoint", farm.endpoint, "--db", farm.db,
                               "--out", farm.box.path("out2"), "--heartbeat-ms", "100",
                               "--connect-timeout", "20", "--no-health-check"});
  const auto code = second->wait_for(40);
  INFO(second->err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_THAT(second->err(), Contains("resumed"));
  check_exactly_one_ok_row_per_job(farm.db, 8);
  hilq::db::Database d(farm.db);
  hilq::db::RunStore store(d);
  CHECK(store.run(1)->status == "completed");
  std::set<std::string> now;
  for (const auto& m : store.measurements(1)) now.insert(m.job_id + "@" + m.created_at);
  for (const auto& k : kept) CHECK(now.count(k) == 1);  // the finished ones were not redone
}
