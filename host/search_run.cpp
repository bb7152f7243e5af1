// hil-search run orchestration (see search_run.h).
#include "host/search_run.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "agent/protocol/board_spec.h"
#include "db/database.h"
#include "db/run_store.h"
#include "host/agent_launcher.h"
#include "host/broker.h"
#include "host/workload.h"
#include "reports/run_report.h"

namespace hilq::host {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

template <typename T>
std::optional<T> get_opt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

db::MeasurementRow measurement_row(int64_t run_id, const BrokerEvent& ev, const proto::Job& job,
                                   bool emulated) {
  db::MeasurementRow row;
  row.run_id = run_id;
  row.board = ev.board;
  row.agent = ev.agent_id;
  row.job_id = ev.job_id;
  row.kind = job.kind;
  row.config = job.config.dump();
  row.emulated = emulated;
  if (ev.kind == BrokerEvent::Kind::kJobError) {
    row.status = "failed";
    row.error_class = ev.error_class;
    row.error = ev.message;
    return row;
  }
  const json& m = ev.measurement;
  row.kernel = get_opt<std::string>(m, "kernel");
  if (auto it = m.find("latency"); it != m.end() && it->is_object()) {
    row.latency_median_ns = get_opt<double>(*it, "median_ns");
    row.latency_p10_ns = get_opt<double>(*it, "p10_ns");
    row.latency_p90_ns = get_opt<double>(*it, "p90_ns");
    row.latency_mad_ns = get_opt<double>(*it, "mad_ns");
    row.latency_mean_ns = get_opt<double>(*it, "mean_ns");
    row.repeats = get_opt<int64_t>(*it, "count");
  }
  if (auto it = m.find("samples_ns"); it != m.end() && it->is_array()) row.samples_ns = it->dump();
  row.peak_rss_bytes = get_opt<int64_t>(m, "peak_rss_bytes");
  row.model_bytes = get_opt<int64_t>(m, "model_bytes");
  if (auto it = m.find("power"); it != m.end() && it->is_object()) {
    row.energy_j = get_opt<double>(*it, "energy_j");
    row.power_source = get_opt<std::string>(*it, "source");
    if (!row.energy_j) row.power_unavailable = get_opt<std::string>(*it, "reason");
  }
  if (!row.energy_j && !row.power_unavailable)
    row.power_unavailable = "the agent reported no energy figure";
  row.temperature_c = get_opt<double>(m, "temperature_c");
  // Everything else the agent measured stays available, minus the bulky samples.
  json metrics = m;
  metrics.erase("samples_ns");
  metrics.erase("latency");
  row.metrics = metrics.dump();
  if (!row.latency_median_ns) {
    row.status = "failed";
    row.error_class = proto::kErrorBadRequest;
    row.error = "RESULT carried no latency statistics";
  }
  return row;
}

}  // namespace

void request_search_stop() { g_stop.store(true); }

int run_search(const SearchOptions& options) {
  // 1. Boards: every name must have a valid file before anything starts.
  std::map<std::string, proto::BoardSpec> boards;
  for (const auto& name : options.boards) boards[name] = proto::load_board(options.boards_dir, name);

  // 2. Database, then the socket, then the run row: a failure here records nothing half-way.
  db::Database database(options.db_path);
  db::RunStore store(database);
  Broker broker(options.endpoint, boards);
  const int64_t run_id = store.create_run(options.command_line, std::string(HILQ_GIT_SHA));
  std::fprintf(stderr, "hil-search: run %lld, database %s, listening on %s\n",
               static_cast<long long>(run_id), options.db_path.c_str(),
               broker.endpoint().c_str());

  std::string status = "completed";
  std::optional<std::string> failure;
  std::map<std::string, std::unique_ptr<AgentProcess>> agents;  // by board
  try {
    // 3. Agents: start the ones this host launches and wait for each board's HELLO.
    for (const auto& [name, board] : boards) {
      if (!board.launch) {
        std::fprintf(stderr, "hil-search: board %s has no launch command; waiting for its agents "
                     "to connect to %s\n", name.c_str(), broker.endpoint().c_str());
        continue;
      }
      const std::string command = expand_launch_template(
          *board.launch, {{"agent", options.agent_binary},
                  {"endpoint", broker.endpoint()},
                  {"board", name},
                  {"id", name + "-1"},
                  {"source_dir", HILQ_SOURCE_DIR}});
      std::fprintf(stderr, "hil-search: starting agent for %s: %s\n", name.c_str(),
                   command.c_str());
      agents[name] = std::make_unique<AgentProcess>(command);
    }
    std::map<std::string, Workload> workloads;
    size_t submitted = 0, recorded = 0;
    const auto connect_start = Clock::now();
    auto waiting_boards = [&] {
      std::vector<std::string> waiting;
      for (const auto& [name, board] : boards)
        if (broker.agents_of(name) == 0) waiting.push_back(name);
      return waiting;
    };
    auto handle = [&](const BrokerEvent& ev) {
      switch (ev.kind) {
        case BrokerEvent::Kind::kAgentRefused:
          throw std::runtime_error("agent " + ev.agent_id + " refused: " + ev.message);
        case BrokerEvent::Kind::kAgentJoined: {
          const auto& h = *ev.hello;
          std::string features;
          for (const auto& f : h.features) features += (features.empty() ? "" : ",") + f;
          std::fprintf(stderr, "hil-search: agent %s joined for %s (%s, %d cores, %s)\n",
                       ev.agent_id.c_str(), ev.board.c_str(), h.arch.c_str(), h.cores,
                       features.c_str());
          store.upsert_board({ev.board, h.arch, json(h.features).dump(), h.cores, h.memory_bytes,
                              h.agent_version, boards.at(ev.board).emulated});
          if (!workloads.count(ev.board)) {
            workloads[ev.board] = kernel_bench_workload(run_id, ev.board, options.min_time_s);
            for (const auto& job : workloads[ev.board].jobs) {
              store.insert_job({job.job_id, run_id, std::nullopt, ev.board, job.kind,
                                job.config.dump(), "queued", 0, std::nullopt});
              broker.submit(ev.board, job);
              ++submitted;
            }
          }
          break;
        }
        case BrokerEvent::Kind::kJobStarted:
          store.set_job_state(ev.job_id, "running", ev.agent_id);
          break;
        case BrokerEvent::Kind::kResult:
        case BrokerEvent::Kind::kJobError: {
          const proto::Job* job = workloads.count(ev.board) ? workloads[ev.board].find(ev.job_id)
                                                            : nullptr;
          if (!job) break;
          const auto row = measurement_row(run_id, ev, *job, boards.at(ev.board).emulated);
          if (store.record_measurement(row)) ++recorded;
          if (row.status == "ok")
            std::fprintf(stderr, "hil-search: [%zu/%zu] %s on %s: %s, median %.1f us\n", recorded,
                         submitted, ev.job_id.c_str(), ev.board.c_str(),
                         row.kernel.value_or("?").c_str(), *row.latency_median_ns / 1e3);
          else
            std::fprintf(stderr, "hil-search: [%zu/%zu] %s on %s failed: [%s] %s\n", recorded,
                         submitted, ev.job_id.c_str(), ev.board.c_str(),
                         row.error_class.value_or("?").c_str(), row.error.value_or("").c_str());
          break;
        }
      }
    };
    while (!g_stop.load()) {
      for (const auto& ev : broker.poll(100)) handle(ev);
      const auto waiting = waiting_boards();
      if (!waiting.empty()) {
        for (const auto& name : waiting) {
          auto agent = agents.find(name);
          if (agent == agents.end()) continue;
          if (auto code = agent->second->exited())
            throw std::runtime_error("the agent for board " + name + " exited with status " +
                                     std::to_string(*code) + " before saying HELLO (command: " +
                                     agent->second->command() + ")");
        }
        if (seconds_since(connect_start) > options.connect_timeout_s) {
          std::string names;
          for (const auto& w : waiting) names += (names.empty() ? "" : ", ") + w;
          throw std::runtime_error("no agent for board(s) " + names + " said HELLO within " +
                                   std::to_string(static_cast<int>(options.connect_timeout_s)) +
                                   " s");
        }
        continue;
      }
      if (submitted > 0 && broker.outstanding() == 0 && recorded == submitted) break;
      if (seconds_since(connect_start) > options.connect_timeout_s + options.job_timeout_s)
        throw std::runtime_error("jobs did not finish within " +
                                 std::to_string(static_cast<int>(options.job_timeout_s)) + " s");
    }
    if (g_stop.load()) {
      status = "interrupted";
      failure = "interrupted by a signal after " + std::to_string(recorded) + " of " +
                std::to_string(submitted) + " jobs";
    }
  } catch (const std::exception& e) {
    status = "failed";
    failure = e.what();
  }

  // 4. Shut down in order: BYE, let agents exit, mark the run, write the report.
  broker.send_bye_to_all();
  for (int i = 0; i < 5; ++i) broker.poll(20);
  for (auto& [name, agent] : agents) agent->stop(3000);
  store.finish_run(run_id, status, failure);
  if (failure) std::fprintf(stderr, "hil-search: run %lld %s: %s\n", static_cast<long long>(run_id),
                            status.c_str(), failure->c_str());
  const auto files = reports::write_run_report(database, run_id, options.out_dir);
  std::printf("run %lld %s\ndatabase: %s\n", static_cast<long long>(run_id), status.c_str(),
              options.db_path.c_str());
  for (const auto& path : files.paths) std::printf("report: %s\n", path.c_str());
  return status == "completed" ? 0 : status == "interrupted" ? 130 : 1;
}

}  // namespace hilq::host
