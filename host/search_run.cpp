// hil-search run orchestration (see search_run.h).
#include "host/search_run.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "protocol/board_spec.h"
#include "protocol/curve_keys.h"
#include "db/database.h"
#include "db/run_store.h"
#include "host/agent_launcher.h"
#include "host/artifact_store.h"
#include "host/broker.h"
#include "host/result_rows.h"
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

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string utc_in(double seconds) {
  // A lease end as ISO-8601 UTC, in the format of every time column.
  using namespace std::chrono;
  const auto t =
      system_clock::now() + duration_cast<system_clock::duration>(duration<double>(seconds));
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// What --resume needs to rebuild a run, stored with it.
json run_options_json(const SearchOptions& o, const std::string& artifact_sha) {
  return {{"boards", o.boards},
          {"workload", o.workload},
          {"noop_jobs", o.noop_jobs},
          {"noop_sleep_ms", o.noop_sleep_ms},
          {"min_time_s", o.min_time_s},
          {"model_bench",
           {{"settings", o.model_bench.settings},
            {"prompt_tokens", o.model_bench.prompt_tokens},
            {"decode_tokens", o.model_bench.decode_tokens},
            {"threads", o.model_bench.threads}}},
          {"artifact", o.artifact},
          {"artifact_sha256", artifact_sha}};
}

}  // namespace

void request_search_stop() { g_stop.store(true); }

int run_search(const SearchOptions& given) {
  SearchOptions options = given;
  db::Database database(options.db_path);
  db::RunStore store(database);

  // 1. On --resume, the run's own boards and workload; a completed run has nothing left.
  std::optional<db::RunRow> resumed;
  if (options.resume_run) {
    resumed = store.run(*options.resume_run);
    if (!resumed)
      throw ConfigError("--resume " + std::to_string(*options.resume_run) + ": no such run in " +
                        options.db_path);
    const json saved = json::parse(resumed->options, nullptr, false);
    if (!saved.is_object() || !saved.contains("boards"))
      throw ConfigError("run " + std::to_string(resumed->id) +
                        " was made by an older hil-search and cannot be resumed");
    const auto boards = saved["boards"].get<std::vector<std::string>>();
    if (options.boards_given && boards != options.boards)
      throw ConfigError("run " + std::to_string(resumed->id) + " was on boards " + join(boards) +
                        ", not " + join(options.boards));
    options.boards = boards;
    options.workload = saved.value("workload", options.workload);
    options.noop_jobs = saved.value("noop_jobs", options.noop_jobs);
    options.noop_sleep_ms = saved.value("noop_sleep_ms", options.noop_sleep_ms);
    options.min_time_s = saved.value("min_time_s", options.min_time_s);
    options.artifact = saved.value("artifact", options.artifact);
    if (auto mb = saved.find("model_bench"); mb != saved.end() && mb->is_object()) {
      options.model_bench.settings = mb->value("settings", options.model_bench.settings);
      options.model_bench.prompt_tokens = mb->value("prompt_tokens", 128);
      options.model_bench.decode_tokens = mb->value("decode_tokens", 128);
      options.model_bench.threads = mb->value("threads", 1);
    }
  }
  if (options.workload == "model-bench") {
    if (options.artifact.empty())
      throw ConfigError("the model-bench workload needs --model FILE (a model file)");
    validate_model_bench_plan(options.model_bench);
  }

  // 2. Boards (every name must have a valid file), artifacts, keys, then the socket.
  std::map<std::string, proto::BoardSpec> boards;
  for (const auto& name : options.boards)
    boards[name] = proto::load_board(options.boards_dir, name);
  ArtifactStore artifacts;
  std::string artifact_sha;
  if (!options.artifact.empty()) artifact_sha = artifacts.add_file(options.artifact);
  BrokerOptions bopts;
  bopts.heartbeat_ms = options.heartbeat_ms;
  bopts.liveness = options.liveness;
  bopts.max_attempts = options.max_attempts;
  bopts.job_timeout_s = options.job_timeout_s;
  bopts.quarantine_after = options.quarantine_after;
  bopts.health_check = options.health_check;
  bopts.artifacts = &artifacts;
  if (!options.curve_key_file.empty()) {
    if (options.allow_file.empty())
      throw ConfigError("--curve-key needs --allow FILE: the agents' public keys to admit");
    bopts.curve_keys = proto::load_key_file(options.curve_key_file);
    bopts.allowed_keys = proto::load_allow_list(options.allow_file);
  }

  Broker broker(options.endpoint, boards, bopts);  // before any row: a bind error records nothing
  int64_t run_id = 0;
  std::map<std::string, proto::Job> jobs;  // by id: every job of the run
  std::vector<std::pair<std::string, proto::Job>> to_submit;
  if (resumed) {
    run_id = resumed->id;
    if (resumed->status == "completed") {
      std::printf("run %lld already completed; nothing to resume\n",
                  static_cast<long long>(run_id));
      reports::write_run_report(database, run_id, options.out_dir);
      return 0;
    }
  } else {
    run_id = store.create_run(options.command_line, std::string(HILQ_GIT_SHA), "{}",
                              run_options_json(options, artifact_sha).dump());
  }
  broker.set_run(std::to_string(run_id));

  if (resumed) {
    store.reopen_run(run_id);
    for (const auto& row : store.jobs(run_id)) {
      if (!row.spec) continue;
      proto::Job job = job_from_spec(*row.spec, row.config);
      jobs[row.id] = job;
      if (row.state == "queued") to_submit.emplace_back(row.board, std::move(job));
    }
  } else {
    db::Transaction tx(database);
    for (const auto& [name, board] : boards) {
      const Workload w =
          options.workload == "noop"
              ? noop_workload(run_id, name, options.noop_jobs, options.noop_sleep_ms)
          : options.workload == "model-bench"
              ? model_bench_workload(run_id, name, options.model_bench, options.min_time_s)
              : kernel_bench_workload(run_id, name, options.min_time_s);
      for (proto::Job job : w.jobs) {
        job.artifact_sha256 = artifact_sha;
        store.insert_job({job.job_id, run_id, std::nullopt, name, job.kind, job.config.dump(),
                          "queued", 0, std::nullopt, job_spec(job), std::nullopt, std::nullopt,
                          std::nullopt});
        jobs[job.job_id] = job;
        to_submit.emplace_back(name, std::move(job));
      }
    }
    tx.commit();
  }
  for (auto& [board, job] : to_submit) broker.submit(board, std::move(job));
  const size_t total = jobs.size();
  size_t recorded = total - to_submit.size();
  std::fprintf(stderr,
               "hil-search: run %lld%s, database %s, listening on %s, %zu of %zu jobs to run\n",
               static_cast<long long>(run_id), resumed ? " resumed" : "", options.db_path.c_str(),
               broker.endpoint().c_str(), to_submit.size(), total);

  std::string status = "completed";
  std::optional<std::string> failure;
  std::map<std::string, std::vector<std::unique_ptr<AgentProcess>>> agents;  // by board
  std::map<std::string, std::string> refusals;  // board -> last refusal, to explain a timeout
  std::map<std::string, std::string> quarantined;
  size_t results_ok = 0, results_failed = 0;
  std::optional<Clock::time_point> first_dispatch, last_result;
  try {
    // 3. Agents: start the ones this host launches; the others connect on their own.
    for (const auto& [name, board] : boards) {
      if (!board.launch) {
        std::fprintf(stderr,
                     "hil-search: board %s has no launch command; waiting for its agents "
                     "to connect to %s\n",
                     name.c_str(), broker.endpoint().c_str());
        continue;
      }
      const int count = options.agents_per_board > 0 ? options.agents_per_board : board.agents;
      for (int i = 1; i <= count; ++i) {
        const std::string command = expand_launch_template(
            *board.launch, {{"agent", options.agent_binary},
                            {"agent_aarch64", options.agent_aarch64_binary},
                            {"endpoint", broker.endpoint()},
                            {"port", broker.endpoint().substr(broker.endpoint().rfind(':') + 1)},
                            {"board", name},
                            {"id", name + "-" + std::to_string(i)},
                            {"source_dir", HILQ_SOURCE_DIR}});
        std::fprintf(stderr, "hil-search: starting agent for %s: %s\n", name.c_str(),
                     command.c_str());
        agents[name].push_back(std::make_unique<AgentProcess>(command));
      }
    }
    auto handle = [&](const BrokerEvent& ev) {
      using K = BrokerEvent::Kind;
      const auto user = ev.user_id.empty() ? std::optional<std::string>() : ev.user_id;
      switch (ev.kind) {
        case K::kAgentRefused:
          std::fprintf(stderr, "hil-search: agent %s for %s refused: %s\n", ev.agent_id.c_str(),
                       ev.board.c_str(), ev.message.c_str());
          refusals[ev.board] = "agent " + ev.agent_id + " refused: " + ev.message;
          break;
        case K::kAgentJoined: {
          const auto& h = *ev.hello;
          std::fprintf(stderr, "hil-search: agent %s joined for %s (%s, %d cores, %s)%s\n",
                       ev.agent_id.c_str(), ev.board.c_str(), h.arch.c_str(), h.cores,
                       join(h.features, ",").c_str(),
                       ev.user_id.empty() ? "" : (" key " + ev.user_id).c_str());
          store.upsert_board({ev.board, h.arch, json(h.features).dump(), h.cores, h.memory_bytes,
                              h.agent_version, boards.at(ev.board).emulated});
          store.upsert_agent({run_id, ev.agent_id, ev.board, user, "connected", std::nullopt});
          break;
        }
        case K::kAgentLost:
        case K::kAgentLeft:
          store.upsert_agent({run_id, ev.agent_id, ev.board, user,
                              ev.kind == K::kAgentLost ? "lost" : "left",
                              ev.message.empty() ? std::optional<std::string>() : ev.message});
          break;
        case K::kAgentQuarantined:
          quarantined[ev.agent_id] = ev.board + ": " + ev.message;
          store.upsert_agent({run_id, ev.agent_id, ev.board, user, "quarantined", ev.message});
          break;
        case K::kJobStarted:
          if (!first_dispatch) first_dispatch = Clock::now();
          store.job_started(ev.job_id, ev.agent_id, utc_in(options.job_timeout_s));
          break;
        case K::kJobRequeued:
          std::fprintf(stderr, "hil-search: job %s re-queued after try %d on %s: [%s] %s\n",
                       ev.job_id.c_str(), ev.attempt, ev.agent_id.c_str(), ev.error_class.c_str(),
                       ev.message.c_str());
          store.job_requeued(ev.job_id, ev.error_class, ev.message);
          break;
        case K::kResult:
        case K::kJobError: {
          auto job = jobs.find(ev.job_id);
          if (job == jobs.end()) break;
          const auto row = measurement_row(run_id, ev, job->second, boards.at(ev.board).emulated);
          if (!store.record_measurement(row)) break;  // a duplicate: recorded once already
          ++recorded;
          last_result = Clock::now();
          if (row.status == "ok") {
            ++results_ok;
            std::fprintf(stderr, "hil-search: [%zu/%zu] %s on %s: %s\n", recorded, total,
                         ev.job_id.c_str(), ev.agent_id.c_str(), describe_result(row).c_str());
          } else {
            ++results_failed;
            std::fprintf(stderr, "hil-search: [%zu/%zu] %s on %s failed: [%s] %s\n", recorded,
                         total, ev.job_id.c_str(), ev.board.c_str(),
                         row.error_class.value_or("?").c_str(), row.error.value_or("").c_str());
          }
          break;
        }
      }
    };
    // 4. The loop: events committed in one transaction per poll; boards with work but no agent
    // are waited for (with a progress line) up to the connect timeout.
    std::map<std::string, Clock::time_point> no_agent_since;
    for (const auto& [name, b] : boards) no_agent_since[name] = Clock::now();
    auto last_progress = Clock::now();
    while (!g_stop.load() && recorded < total) {
      const auto events = broker.poll(100);
      if (!events.empty()) {
        db::Transaction batch(database);
        for (const auto& ev : events) handle(ev);
        batch.commit();
      }
      std::vector<std::string> waiting, timed_out;
      for (const auto& [name, board] : boards) {
        if (broker.agents_of(name) > 0 || broker.outstanding(name) == 0) {
          no_agent_since[name] = Clock::now();
          continue;
        }
        waiting.push_back(name);
        if (seconds_since(no_agent_since[name]) > options.connect_timeout_s)
          timed_out.push_back(name);
        auto launched = agents.find(name);
        if (launched == agents.end()) continue;
        bool all_exited = true;
        std::optional<int> code;
        for (auto& a : launched->second)
          if (!(code = a->exited())) all_exited = false;
        if (all_exited && code && !launched->second.empty())
          throw std::runtime_error(
              "the agent for board " + name + " exited with status " + std::to_string(*code) +
              " before saying HELLO (command: " + launched->second.back()->command() + ")" +
              (refusals.count(name) ? "; " + refusals[name] : ""));
      }
      if (!timed_out.empty()) {
        std::string why;
        for (const auto& name : timed_out)
          if (refusals.count(name)) why += "; " + refusals[name];
        throw std::runtime_error(
            "no agent for board(s) " + join(timed_out) + " said HELLO within " +
            std::to_string(static_cast<int>(options.connect_timeout_s)) + " s" + why);
      }
      if (!waiting.empty() && seconds_since(last_progress) >= 1.0) {
        std::string line;
        for (const auto& [name, board] : boards)
          line += (line.empty() ? "" : ", ") + name + " " + std::to_string(broker.agents_of(name));
        std::fprintf(stderr,
                     "hil-search: waiting for agents of %s (connected: %s; %.0f of %.0f s)\n",
                     join(waiting).c_str(), line.c_str(), seconds_since(no_agent_since[waiting[0]]),
                     options.connect_timeout_s);
        last_progress = Clock::now();
      }
    }
    if (g_stop.load()) {
      status = "interrupted";
      failure = "interrupted by a signal after " + std::to_string(recorded) + " of " +
                std::to_string(total) + " jobs";
    }
  } catch (const std::exception& e) {
    status = "failed";
    failure = e.what();
  }

  // 5. Shut down in order: BYE, let agents exit, mark the run, write the report.
  broker.send_bye_to_all();
  for (int i = 0; i < 5; ++i) broker.poll(20);
  for (auto& [name, list] : agents)
    for (auto& agent : list) agent->stop(3000);
  store.finish_run(run_id, status, failure);
  if (failure)
    std::fprintf(stderr, "hil-search: run %lld %s: %s\n", static_cast<long long>(run_id),
                 status.c_str(), failure->c_str());
  const auto files = reports::write_run_report(database, run_id, options.out_dir);
  std::printf("run %lld %s\ndatabase: %s\n", static_cast<long long>(run_id), status.c_str(),
              options.db_path.c_str());
  std::printf("jobs: %zu ok, %zu failed, %zu recorded of %zu\n", results_ok, results_failed,
              recorded, total);
  if (first_dispatch && last_result && results_ok + results_failed > 0) {
    const double s = std::chrono::duration<double>(*last_result - *first_dispatch).count();
    std::printf("throughput: %zu jobs in %.3f s = %.0f jobs/s\n", results_ok + results_failed, s,
                s > 0 ? (results_ok + results_failed) / s : 0.0);
  }
  for (const auto& [id, why] : quarantined)
    std::printf("quarantined: %s (%s)\n", id.c_str(), why.c_str());
  for (const auto& path : files.paths) std::printf("report: %s\n", path.c_str());
  return status == "completed" ? 0 : status == "interrupted" ? 130 : 1;
}

}  // namespace hilq::host
