// Broker throughput benchmark (not a test): N trivial (noop) jobs through the host's broker and
// 4 local hil-agent processes on loopback, optionally recording every job in SQLite exactly as
// hil-search does (job started + result, one transaction per poll). Prints one JSON object.
//
//   hil-broker-bench [--jobs N] [--agents N] [--db FILE]
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/cli.h"
#include "db/database.h"
#include "db/run_store.h"
#include "host/agent_launcher.h"
#include "host/broker.h"
#include "host/result_rows.h"
#include "host/workload.h"

namespace {

int run(int argc, char** argv) {
  namespace proto = hilq::protocol;
  using Clock = std::chrono::steady_clock;
  int jobs = 20000, agent_count = 4;
  std::string db_path;
  CLI::App app{
      "Broker throughput: N trivial (noop) jobs through the host's broker and local hil-agent\n"
      "processes on loopback; prints one JSON object.",
      "hil-broker-bench"};
  hilq::cli::configure(app);
  app.add_option("--jobs", jobs, "noop jobs (default 20000)")
      ->type_name("N")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--agents", agent_count, "local agents (default 4)")
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  app.add_option("--db", db_path,
                 "record every job in this SQLite file, as hil-search does (default: none)")
      ->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  proto::BoardSpec board;
  board.name = "local";
#if defined(__aarch64__)
  board.arch = "aarch64";
#else
  board.arch = "x86_64";
#endif
  board.cores = 1;
  board.memory_mb = 1;
  board.power.backend = "none";
  hilq::host::BrokerOptions options;
  options.health_check = false;
  hilq::host::Broker broker("tcp://127.0.0.1:*", {{"local", board}}, options);
  std::unique_ptr<hilq::db::Database> database;
  std::unique_ptr<hilq::db::RunStore> store;
  int64_t run_id = 1;
  std::map<std::string, hilq::protocol::Job> workload;  // by job id
  std::vector<hilq::protocol::Job> in_order;
  int n = 0;
  for (const auto& trial : hilq::host::noop_trials("local", jobs, 0)) {
    in_order.push_back(hilq::host::make_job(trial, hilq::host::job_id(run_id, "local", ++n), ""));
    workload[in_order.back().job_id] = in_order.back();
  }
  if (!db_path.empty()) {
    database = std::make_unique<hilq::db::Database>(db_path);
    store = std::make_unique<hilq::db::RunStore>(*database);
    run_id = store->create_run("hil-broker-bench", std::nullopt);
    hilq::db::Transaction tx(*database);
    for (const auto& job : in_order)
      store->insert_job({job.job_id, run_id, std::nullopt, "local", job.kind, job.config.dump(),
                         "queued", 0, std::nullopt, hilq::host::job_spec(job), std::nullopt,
                         std::nullopt, std::nullopt});
    tx.commit();
  }
  std::vector<std::unique_ptr<hilq::host::AgentProcess>> agents;
  for (int i = 1; i <= agent_count; ++i)
    agents.push_back(std::make_unique<hilq::host::AgentProcess>(
        std::string(HILQ_AGENT_PATH) + " --connect " + broker.endpoint() +
        " --board local --id bench-" + std::to_string(i) + " --power none 2>/dev/null"));
  int joined = 0;
  while (joined < agent_count)
    for (const auto& ev : broker.poll(100))
      joined += ev.kind == hilq::host::BrokerEvent::Kind::kAgentJoined;
  for (const auto& job : in_order) broker.submit("local", job);
  const auto t0 = Clock::now();
  int done = 0, failed = 0;
  while (done + failed < jobs) {
    const auto events = broker.poll(100);
    std::unique_ptr<hilq::db::Transaction> batch;
    if (store && !events.empty()) batch = std::make_unique<hilq::db::Transaction>(*database);
    for (const auto& ev : events) {
      using K = hilq::host::BrokerEvent::Kind;
      if (ev.kind == K::kJobStarted && store) store->job_started(ev.job_id, ev.agent_id, "-");
      if (ev.kind == K::kResult || ev.kind == K::kJobError) {
        (ev.kind == K::kResult ? done : failed)++;
        if (store) {
          const auto& job = workload.at(ev.job_id);
          store->record_measurement(hilq::host::measurement_row(run_id, ev, job, false));
        }
      }
    }
    if (batch) batch->commit();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  broker.send_bye_to_all();
  for (int i = 0; i < 5; ++i) broker.poll(20);
  for (auto& a : agents) a->stop(2000);
  nlohmann::json out = {{"benchmark", "broker_throughput"},
                        {"jobs", jobs},
                        {"ok", done},
                        {"failed", failed},
                        {"agents", agent_count},
                        {"sqlite", !db_path.empty()},
                        {"seconds", seconds},
                        {"jobs_per_second", jobs / seconds}};
  std::printf("%s\n", out.dump().c_str());
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-broker-bench", [&] { return run(argc, argv); });
}
