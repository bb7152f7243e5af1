// hil-search's run session (see run_session.h): setup, the ask/tell loop, shutdown.
#include "host/run_session.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/log.h"
#include "db/database.h"
#include "db/measurement_store.h"
#include "db/run_store.h"
#include "db/verdict_store.h"
#include "host/ab_strategy.h"
#include "host/agent_launcher.h"
#include "host/artifact_store.h"
#include "host/broker.h"
#include "host/event_recorder.h"
#include "host/result_rows.h"
#include "host/search_phase.h"
#include "host/workload.h"
#include "host/zap_auth.h"
#include "protocol/board_spec.h"
#include "protocol/curve_keys.h"
#include "reports/run_report.h"
#include "reports/verdict_report.h"
#include "search/fixed_list.h"

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

json search_json(const SearchPlan& s) {
  return {{"enabled", s.enabled},
          {"task", s.task},
          {"max_ppl_increase", s.max_ppl_increase},
          {"max_acc_drop", s.max_acc_drop},
          {"mem_budget_mb", s.mem_budget_mb ? json(*s.mem_budget_mb) : json(nullptr)},
          {"strategy", s.strategy},
          {"budget", s.budget},
          {"population", s.population},
          {"crossover", s.crossover},
          {"mutation", s.mutation ? json(*s.mutation) : json(nullptr)},
          {"pick", s.pick},
          {"mu", s.mu},
          {"seed", s.seed},
          {"group", s.group},
          {"high_fraction", s.high_fraction},
          {"data_dir", s.data_dir},
          {"cache_dir", s.cache_dir},
          {"score_threads", s.score_threads},
          {"calibration_windows", s.calibration_windows},
          {"validation_windows", s.validation_windows},
          {"test_windows", s.test_windows},
          {"max_docs_per_split", s.max_docs_per_split}};
}

void apply_saved_search(const json& j, SearchPlan& s) {
  s.enabled = j.value("enabled", false);
  s.task = j.value("task", s.task);
  s.max_ppl_increase = j.value("max_ppl_increase", s.max_ppl_increase);
  s.max_acc_drop = j.value("max_acc_drop", s.max_acc_drop);
  if (j.contains("mem_budget_mb") && j["mem_budget_mb"].is_number())
    s.mem_budget_mb = j["mem_budget_mb"].get<double>();
  else
    s.mem_budget_mb.reset();
  s.strategy = j.value("strategy", s.strategy);
  s.budget = j.value("budget", s.budget);
  s.population = j.value("population", s.population);
  s.crossover = j.value("crossover", s.crossover);
  if (j.contains("mutation") && j["mutation"].is_number()) s.mutation = j["mutation"].get<double>();
  s.pick = j.value("pick", s.pick);
  s.mu = j.value("mu", s.mu);
  s.seed = j.value("seed", s.seed);
  s.group = j.value("group", s.group);
  s.high_fraction = j.value("high_fraction", s.high_fraction);
  s.data_dir = j.value("data_dir", s.data_dir);
  s.cache_dir = j.value("cache_dir", s.cache_dir);
  s.score_threads = j.value("score_threads", s.score_threads);
  s.calibration_windows = j.value("calibration_windows", s.calibration_windows);
  s.validation_windows = j.value("validation_windows", s.validation_windows);
  s.test_windows = j.value("test_windows", s.test_windows);
  s.max_docs_per_split = j.value("max_docs_per_split", s.max_docs_per_split);
}

// Packed candidates live here between runs: $HILQ_CACHE (default ~/.cache/hilq)/candidates.
std::string default_candidate_cache() {
  if (const char* c = std::getenv("HILQ_CACHE"); c && *c) return std::string(c) + "/candidates";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/hilq/candidates";
  return "hilq-cache/candidates";
}

// What --resume needs to rebuild a run, stored with it.
json run_options_json(const RunOptions& o, const std::string& artifact_sha) {
  return {{"boards", o.boards},
          {"workload", o.workload},
          {"noop_jobs", o.noop_jobs},
          {"noop_sleep_ms", o.noop_sleep_ms},
          {"min_time_s", o.min_time_s},
          {"kernel_shapes", o.kernel_shapes},
          {"model_bench",
           {{"settings", o.model_bench.settings},
            {"prompt_tokens", o.model_bench.prompt_tokens},
            {"decode_tokens", o.model_bench.decode_tokens},
            {"threads", o.model_bench.threads}}},
          {"artifact", o.artifact},
          {"artifact_sha256", artifact_sha},
          {"search", search_json(o.search)},
          {"ab", o.ab.enabled ? json{{"baseline_agent", o.ab.baseline_agent},
                                     {"candidate_agent", o.ab.candidate_agent},
                                     {"params", reports::to_json(o.ab.params)}}
                              : json(nullptr)}};
}

// On --resume: the run's own boards and workload, from its stored options.
void apply_saved_options(RunOptions& options, const db::RunRow& run) {
  const json saved = json::parse(run.options, nullptr, false);
  if (!saved.is_object() || !saved.contains("boards"))
    throw ConfigError("run " + std::to_string(run.id) +
                      " was made by an older hil-search and cannot be resumed");
  if (auto ab = saved.find("ab"); ab != saved.end() && ab->is_object())
    throw ConfigError("run " + std::to_string(run.id) +
                      " is an A/B run, which cannot be resumed (its rounds depend on its "
                      "results): start a new one");
  const auto boards = saved["boards"].get<std::vector<std::string>>();
  if (options.boards_given && boards != options.boards)
    throw ConfigError("run " + std::to_string(run.id) + " was on boards " + join(boards) +
                      ", not " + join(options.boards));
  options.boards = boards;
  options.workload = saved.value("workload", options.workload);
  options.noop_jobs = saved.value("noop_jobs", options.noop_jobs);
  options.noop_sleep_ms = saved.value("noop_sleep_ms", options.noop_sleep_ms);
  options.min_time_s = saved.value("min_time_s", options.min_time_s);
  if (auto k = saved.find("kernel_shapes"); k != saved.end() && k->is_array())
    options.kernel_shapes = k->get<std::vector<std::pair<int, int>>>();
  options.artifact = saved.value("artifact", options.artifact);
  if (auto mb = saved.find("model_bench"); mb != saved.end() && mb->is_object()) {
    const ModelBenchPlan defaults;
    options.model_bench.settings = mb->value("settings", options.model_bench.settings);
    options.model_bench.prompt_tokens = mb->value("prompt_tokens", defaults.prompt_tokens);
    options.model_bench.decode_tokens = mb->value("decode_tokens", defaults.decode_tokens);
    options.model_bench.threads = mb->value("threads", defaults.threads);
  }
  if (auto s = saved.find("search"); s != saved.end() && s->is_object())
    apply_saved_search(*s, options.search);
}

// The strategy of a run without a search: the workload's fixed list of trials per board.
std::vector<search::Trial> plain_trials(const RunOptions& o) {
  std::vector<search::Trial> trials;
  for (const auto& name : o.boards) {
    const auto board_trials = o.workload == "noop" ? noop_trials(name, o.noop_jobs, o.noop_sleep_ms)
                              : o.workload == "model-bench"
                                  ? model_bench_trials(name, o.model_bench, o.min_time_s)
                                  : kernel_bench_trials(name, o.min_time_s, o.kernel_shapes);
    trials.insert(trials.end(), board_trials.begin(), board_trials.end());
  }
  return trials;
}

std::unique_ptr<search::Strategy> make_strategy(const RunOptions& o) {
  return std::make_unique<search::FixedList>(plain_trials(o));
}

// Jobs kept queued or in flight per board: enough that an agent finishing a job finds the next
// one already queued (dispatch never waits for the strategy), at least one so that a board
// without agents is seen waiting.
size_t room_for(const Broker& broker, const std::string& board) {
  const size_t target = std::max<size_t>(4, 2 * static_cast<size_t>(broker.agents_of(board)));
  const size_t outstanding = broker.outstanding(board);
  return outstanding >= target ? 0 : target - outstanding;
}

}  // namespace

void request_run_stop() { g_stop.store(true); }

int run_session(const RunOptions& given) {
  RunOptions options = given;
  db::Database database(options.db_path);
  db::RunStore store(database);
  // A run left 'running' by a host that is gone (killed, or its final write failed) is marked
  // interrupted now, by the rule of RunStore::interrupt_abandoned_runs (idle past the job lease).
  for (const int64_t id : store.interrupt_abandoned_runs(options.job_timeout_s, options.resume_run))
    std::fprintf(stderr,
                 "hil-search: run %lld in %s was left running by a host that is gone (nothing "
                 "changed for longer than the job lease); marked interrupted, --resume %lld "
                 "continues it\n",
                 static_cast<long long>(id), options.db_path.c_str(), static_cast<long long>(id));

  // 1. On --resume, the run's own boards and workload; a completed run has nothing left.
  std::optional<db::RunRow> resumed;
  if (options.resume_run && options.ab.enabled)
    throw ConfigError("--resume cannot be combined with --baseline-agent/--candidate-agent");
  if (options.resume_run) {
    resumed = store.run(*options.resume_run);
    if (!resumed)
      throw ConfigError("--resume " + std::to_string(*options.resume_run) + ": no such run in " +
                        options.db_path);
    apply_saved_options(options, *resumed);
  }
  if (options.search.enabled) {
    if (options.artifact.empty()) throw UsageError("a search needs --model FILE (a float model)");
    if (options.search.cache_dir.empty()) options.search.cache_dir = default_candidate_cache();
    check_search_plan(options);
  }
  if (options.workload == "model-bench") {
    if (options.artifact.empty())
      throw ConfigError("the model-bench workload needs --model FILE (a model file)");
    validate_model_bench_plan(options.model_bench);
  }

  // 2. Boards (every name must have a valid file), the artifact (hashed once), keys, the socket.
  std::map<std::string, proto::BoardSpec> boards;
  std::map<std::string, bool> emulated;
  for (const auto& name : options.boards) {
    const proto::BoardSpec spec = proto::load_board(options.boards_dir, name);
    // An A/B run gives each arm its own queue on the board: "<board>@baseline" and
    // "<board>@candidate", each served by that build's agent.
    const std::vector<std::string> queues =
        options.ab.enabled
            ? std::vector<std::string>{reports::arm_queue(name, reports::kBaselineArm),
                                       reports::arm_queue(name, reports::kCandidateArm)}
            : std::vector<std::string>{name};
    for (const auto& queue : queues) {
      boards[queue] = spec;
      emulated[queue] = spec.emulated;
    }
  }
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
  // CURVE unless --insecure-loopback: the agents this host starts get keys for this run.
  std::map<std::string, std::vector<std::string>> launched_ids;
  for (const auto& [name, board] : boards)
    if (board.launch) {
      // An A/B run: one agent per arm at a time (a finished one is replaced under the same id).
      const int count = options.ab.enabled             ? 1
                        : options.agents_per_board > 0 ? options.agents_per_board
                                                       : board.agents;
      for (int i = 1; i <= count; ++i) launched_ids[name].push_back(name + "-" + std::to_string(i));
    }
  options.endpoint = bindable_endpoint(options.endpoint);  // tcp://localhost:N binds 127.0.0.1
  const CurvePlan curve = plan_curve(options.endpoint, options.curve_key_file, options.allow_file,
                                     options.insecure_loopback, boards, launched_ids);
  bopts.curve_keys = curve.host;
  bopts.allowed_keys = curve.allowed;

  Broker broker(options.endpoint, boards, bopts);  // before any row: a bind error records nothing
  int64_t run_id = 0;
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
    if (options.workload == "model-bench") store.set_model_hash(run_id, artifact_sha);
  }
  broker.set_run(std::to_string(run_id));

  // 3. The strategy and the durable queue. A search first runs its host phase (sensitivity and
  // tiers; no agent is started yet, so a board sharing this machine measures on a quiet one) and
  // its candidates become the trials. A resumed run's jobs come back from the database: the
  // unfinished ones are queued again, and the strategy hears what was proposed and measured.
  std::unique_ptr<SearchRun> search_run;
  if (options.search.enabled) {
    try {
      search_run = run_search_phase(options, database, run_id, g_stop);
    } catch (const std::exception& e) {
      store.finish_run(run_id, "failed", std::string(e.what()));
      throw;
    }
    if (!search_run) {
      store.finish_run(run_id, "interrupted", std::string("interrupted during the host phase"));
      std::printf("run %lld interrupted during the host phase; --resume %lld continues it\n",
                  static_cast<long long>(run_id), static_cast<long long>(run_id));
      reports::write_run_report(database, run_id, options.out_dir);
      return 130;
    }
  }
  std::map<std::string, std::string> artifact_of;  // file -> sha256 (a search's candidates)
  if (search_run)
    for (const auto& t : search_run->trials)
      if (!t.artifact.empty() && !artifact_of.contains(t.artifact))
        artifact_of[t.artifact] = artifacts.add_file(t.artifact);
  const std::unique_ptr<search::Strategy> strategy =
      search_run           ? std::make_unique<search::FixedList>(search_run->trials)
      : options.ab.enabled ? std::make_unique<AbStrategy>(plain_trials(options), options.ab.params)
                           : make_strategy(options);
  EventRecorder recorder(database, run_id, emulated, {options.job_timeout_s, stderr});
  std::map<std::string, search::Trial> trials;  // by job id: every job of the run
  std::map<std::string, int> proposed_on;       // board -> jobs so far (names the next one)
  size_t proposed = 0;
  if (resumed) {
    store.reopen_run(run_id);
    std::map<std::string, db::MeasurementRow> finished;
    for (auto& row : db::MeasurementStore(database).of_run(run_id))
      finished.emplace(row.job_id, std::move(row));
    std::vector<search::Trial> restored;
    std::vector<std::pair<std::string, proto::Job>> to_submit;
    for (const auto& row : store.jobs(run_id)) {
      ++proposed_on[row.board];
      if (!row.spec) continue;
      const proto::Job job = job_from_spec(*row.spec, row.config);
      trials[row.id] = trial_of(job, row.board);
      restored.push_back(trials[row.id]);
      recorder.expect(job);
      ++proposed;
      if (row.state == "queued") to_submit.emplace_back(row.board, job);
    }
    strategy->restore(restored);
    for (const auto& [id, row] : finished)
      if (auto t = trials.find(id); t != trials.end()) strategy->tell(t->second, row);
    recorder.set_finished_before(proposed - to_submit.size());
    for (auto& [board, job] : to_submit) broker.submit(board, std::move(job));
  }
  db::VerdictStore ab_store(database);
  auto total = [&] { return std::max(strategy->planned().value_or(proposed), proposed); };
  // Asks the strategy for as many trials as each board has room for; each becomes a job row
  // (one transaction for the batch) before the broker sees it.
  auto ask = [&] {
    if (strategy->done()) return;
    std::vector<search::Trial> batch;
    for (const auto& [name, board] : boards)
      if (const size_t room = room_for(broker, name); room > 0)
        for (search::Trial& trial : strategy->next_batch(name, room)) {
          trial.board = name;  // a trial asked for this board runs on it
          batch.push_back(std::move(trial));
        }
    if (batch.empty()) return;
    db::Transaction tx(database);
    std::vector<proto::Job> jobs;
    for (search::Trial& trial : batch) {
      const std::string& name = trial.board;
      proto::Job job =
          make_job(trial, job_id(run_id, name, ++proposed_on[name]),
                   trial.artifact.empty() ? artifact_sha : artifact_of.at(trial.artifact));
      store.insert_job({job.job_id, run_id, trial.candidate_id, name, job.kind, job.config.dump(),
                        "queued", 0, std::nullopt, job_spec(job), std::nullopt, std::nullopt,
                        std::nullopt});
      if (!trial.tag.is_null()) {  // an A/B job: which board, config, arm, round and slot
        const reports::AbSlot slot = reports::ab_slot_from_json(trial.tag);
        ab_store.insert_ab_job(
            {job.job_id, run_id, slot.board, slot.config, slot.arm, slot.round, slot.slot});
      }
      recorder.expect(job);
      trials[job.job_id] = std::move(trial);
      jobs.push_back(std::move(job));
    }
    tx.commit();  // durable before the broker sees them
    proposed += jobs.size();
    for (proto::Job& job : jobs) {
      const std::string board = trials.at(job.job_id).board;
      broker.submit(board, std::move(job));
    }
    recorder.set_total(total());
  };
  recorder.set_total(total());
  std::fprintf(stderr,
               "hil-search: run %lld%s, database %s, listening on %s, %zu of %zu jobs to run\n",
               static_cast<long long>(run_id), resumed ? " resumed" : "", options.db_path.c_str(),
               broker.endpoint().c_str(), total() - recorder.recorded(), total());

  std::string status = "completed";
  std::optional<std::string> failure;
  std::map<std::string, std::vector<std::unique_ptr<AgentProcess>>> agents;  // by board
  try {
    ask();
    // 4. Agents: start the ones this host launches; the others connect on their own.
    // An A/B run: one agent per arm, of that arm's build (the two never run at once), started
    // with --max-jobs 2 so each config-round (A B B A) gets a fresh pair of processes: a
    // process's memory layout and CPU placement then vary from round to round instead of
    // sticking to one arm as a bias.
    std::map<std::string, int> launched;  // per queue, for agent ids
    auto launch = [&](const std::string& name, const proto::BoardSpec& board) {
      const auto arm = options.ab.enabled ? reports::split_arm_queue(name) : std::nullopt;
      const std::string agent_binary =
          !arm ? options.agent_binary
               : (arm->second == reports::kBaselineArm ? options.ab.baseline_agent
                                                       : options.ab.candidate_agent) +
                     " --max-jobs 2";
      const int n = ++launched[name];
      const auto& ids = launched_ids.at(name);
      const std::string& id = ids[static_cast<size_t>(n - 1) % ids.size()];
      const std::string command = expand_launch_template(
          *board.launch, {{"agent", agent_binary},
                          {"agent_aarch64", options.agent_aarch64_binary},
                          {"endpoint", broker.endpoint()},
                          {"port", broker.endpoint().substr(broker.endpoint().rfind(':') + 1)},
                          {"board", name},
                          {"id", id},
                          {"source_dir", HILQ_SOURCE_DIR}});
      if (!arm || n == 1)
        std::fprintf(stderr, "hil-search: starting agent for %s: %s\n", name.c_str(),
                     command.c_str());
      agents[name].push_back(std::make_unique<AgentProcess>(command, curve.session_env(id)));
    };
    for (const auto& [name, board] : boards) {
      if (!board.launch) {
        std::fprintf(stderr,
                     "hil-search: board %s has no launch command; waiting for its agents "
                     "to connect to %s\n",
                     name.c_str(), broker.endpoint().c_str());
        continue;
      }
      for (size_t i = 0; i < launched_ids.at(name).size(); ++i) launch(name, board);
    }
    // A/B: an arm's agent that finished its --max-jobs (exit 0) is replaced by a fresh one when
    // its queue has work again; the other arm's gets replaced at the same time, so neither
    // starts up while the other measures.
    auto relaunch = [&] {
      if (!options.ab.enabled) return;
      auto all_done = [&](const std::string& queue) {
        auto it = agents.find(queue);
        if (it == agents.end() || it->second.empty()) return false;
        for (auto& a : it->second)
          if (a->exited() != std::optional<int>(0)) return false;
        return true;
      };
      for (const auto& [name, board] : boards) {
        if (!board.launch || broker.outstanding(name) == 0 || !all_done(name)) continue;
        const auto arm = reports::split_arm_queue(name);
        launch(name, board);
        for (const char* other : {reports::kBaselineArm, reports::kCandidateArm}) {
          const std::string sibling = reports::arm_queue(arm->first, other);
          if (sibling != name && all_done(sibling)) launch(sibling, boards.at(sibling));
        }
      }
    };
    // 5. The loop: ask for work while boards have room, record each poll's events in one
    // transaction and tell the strategy every result; boards with work but no agent are waited
    // for (with a progress line) up to the connect timeout.
    std::map<std::string, Clock::time_point> no_agent_since;
    for (const auto& [name, b] : boards) no_agent_since[name] = Clock::now();
    auto last_progress = Clock::now();
    while (!g_stop.load() && !(strategy->done() && recorder.recorded() >= proposed)) {
      for (const auto& row : recorder.record(broker.poll(100)))
        if (auto t = trials.find(row.job_id); t != trials.end()) strategy->tell(t->second, row);
      ask();
      relaunch();
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
        if (all_exited && code && !launched->second.empty()) {
          const auto refusal = recorder.refusals().find(name);
          throw std::runtime_error(
              "the agent for board " + name + " exited with status " + std::to_string(*code) +
              " before saying HELLO (command: " + launched->second.back()->command() + ")" +
              (refusal != recorder.refusals().end() ? "; " + refusal->second : ""));
        }
      }
      if (!timed_out.empty()) {
        std::string why;
        for (const auto& name : timed_out)
          if (auto r = recorder.refusals().find(name); r != recorder.refusals().end())
            why += "; " + r->second;
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
      failure = "interrupted by a signal after " + std::to_string(recorder.recorded()) + " of " +
                std::to_string(total()) + " jobs";
    }
  } catch (const std::exception& e) {
    status = "failed";
    failure = e.what();
  }

  // 6. Shut down in order: BYE, let agents exit, mark the run, write the report.
  // The agents that say BYE back are recorded as they go; every agent still connected after
  // that is recorded 'left' too (the host ended the session, so none of them is lost).
  broker.send_bye_to_all();
  try {
    for (int i = 0; i < 5; ++i) recorder.record(broker.poll(20));
    store.agents_left(run_id, "the run ended: the host said BYE");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-search: could not record the agents leaving: %s\n", e.what());
  }
  for (auto& [name, list] : agents)
    for (auto& agent : list) agent->stop(3000);
  if (search_run && status == "completed") {
    try {
      finish_search_run(*search_run, options, database, run_id);
    } catch (const std::exception& e) {
      status = "failed";
      failure = std::string("after the measurements: ") + e.what();
    }
  }
  store.finish_run(run_id, status, failure);
  if (failure)
    std::fprintf(stderr, "hil-search: run %lld %s: %s\n", static_cast<long long>(run_id),
                 status.c_str(), failure->c_str());
  const auto files = reports::write_run_report(database, run_id, options.out_dir);
  if (options.ab.enabled) {
    // The verdicts, from what the database holds (as hil-report regress recomputes them).
    try {
      const reports::RegressReport verdict =
          reports::regress_report(database, run_id, options.ab.params);
      ab_store.replace_verdicts(run_id, reports::verdict_rows(run_id, verdict.tests));
      const std::string md = reports::regress_markdown(verdict);
      std::ofstream(std::filesystem::path(options.out_dir) / "regress.md") << md;
      std::ofstream(std::filesystem::path(options.out_dir) / "regress.json")
          << reports::regress_json(verdict).dump(2) << "\n";
      std::fputs(md.c_str(), stdout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hil-search: run %lld: no verdict: %s\n", static_cast<long long>(run_id),
                   e.what());
      if (status == "completed") status = "failed";
    }
  }
  std::printf("run %lld %s\ndatabase: %s\n", static_cast<long long>(run_id), status.c_str(),
              options.db_path.c_str());
  const size_t ok = recorder.ok(), failed = recorder.failed();
  std::printf("jobs: %zu ok, %zu failed, %zu recorded of %zu\n", ok, failed, recorder.recorded(),
              total());
  const auto first = recorder.first_dispatch(), last = recorder.last_result();
  if (first && last && ok + failed > 0) {
    const double s = std::chrono::duration<double>(*last - *first).count();
    std::printf("throughput: %zu jobs in %.3f s = %.0f jobs/s\n", ok + failed, s,
                s > 0 ? (ok + failed) / s : 0.0);
  }
  for (const auto& [id, why] : recorder.quarantined())
    std::printf("quarantined: %s (%s)\n", log_safe(id, 64).c_str(), log_safe(why).c_str());
  for (const auto& path : files.paths) std::printf("report: %s\n", path.c_str());
  return status == "completed" ? 0 : status == "interrupted" ? 130 : 1;
}

}  // namespace hilq::host
