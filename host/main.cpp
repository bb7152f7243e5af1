// hil-search: runs a hardware-in-the-loop measurement run against the named boards. Parses the
// command line (CLI11) into RunOptions and calls run_session().
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/cli.h"
#include "host/run_session.h"

namespace {

void on_signal(int) { hilq::host::request_run_stop(); }

const CLI::Validator kNameList(
    [](std::string& value) -> std::string {
      for (const auto& name : hilq::cli::split_list(value))
        if (name.empty()) return "has an empty name in '" + value + "'";
      return {};
    },
    "");

// "256x256,768x256" -> {{256, 256}, {768, 256}}; nullopt when a shape does not parse.
std::optional<std::vector<std::pair<int, int>>> try_parse_shapes(const std::string& value) {
  std::vector<std::pair<int, int>> out;
  for (const auto& item : hilq::cli::split_list(value)) {
    const size_t x = item.find('x');
    int m = 0, k = 0;
    if (x == std::string::npos || !CLI::detail::lexical_cast(item.substr(0, x), m) ||
        !CLI::detail::lexical_cast(item.substr(x + 1), k) || m < 1 || k < 1 || m > 65536 ||
        k > 65536)
      return std::nullopt;
    out.emplace_back(m, k);
  }
  return out;
}

std::vector<std::pair<int, int>> parse_shapes(const std::string& value) {
  return *try_parse_shapes(value);
}

const CLI::Validator kShapeList(
    [](std::string& value) -> std::string {
      if (!try_parse_shapes(value))
        return "needs MxK,... with M and K in [1, 65536], not '" + value + "'";
      return {};
    },
    "");

}  // namespace

namespace {

int run(int argc, char** argv) {
  hilq::host::RunOptions options;
  options.agent_binary = HILQ_AGENT_PATH;
  for (int i = 0; i < argc; ++i) {
    if (i) options.command_line += ' ';
    options.command_line += argv[i];
  }

  CLI::App app{
      R"(Starts (or waits for) the agents of every board, sends them measurement jobs over ZeroMQ,
records every result in SQLite as it arrives and writes report.html + measurements.csv/json.
Jobs live in SQLite: after a crash, --resume RUN runs what did not finish. Ctrl-C stops the
agents, keeps what was recorded and marks the run interrupted.)",
      "hil-search"};
  hilq::cli::configure(app);
  app.footer("Exit status: 0 completed, 1 error, 2 usage, 130 interrupted.");

  std::string boards, settings;
  int resume = 0;
  app.add_option("--boards", boards, "boards to run on, from boards/NAME.json (default local)")
      ->type_name("LIST")
      ->check(kNameList);
  app.add_option("--resume", resume,
                 "continue run RUN of --db: finished results stay, the rest runs")
      ->type_name("RUN")
      ->check(CLI::Range(1, INT_MAX));
  app.add_option("--db", options.db_path, "SQLite file (default hil.db)")->type_name("FILE");
  app.add_option("--out", options.out_dir, "report folder (default results/latest)")
      ->type_name("DIR");
  // --port and --endpoint both set the endpoint: the last one given wins.
  app.add_option_function<int>(
         "--port",
         [&](const int& port) {
           options.endpoint =
               "tcp://127.0.0.1:" + (port == 0 ? std::string("*") : std::to_string(port));
         },
         "host port on 127.0.0.1 (default 5555; 0 picks a free one)")
      ->type_name("N")
      ->check(CLI::Range(0, 65535))
      ->trigger_on_parse();
  app.add_option_function<std::string>(
         "--endpoint", [&](const std::string& endpoint) { options.endpoint = endpoint; },
         "ZeroMQ endpoint to bind instead of --port (not loopback: needs keys)")
      ->type_name("ENDPOINT")
      ->trigger_on_parse();
  app.add_option("--curve-key", options.curve_key_file,
                 "the host's CURVE key pair (from hil-keys): encrypt and authenticate")
      ->type_name("FILE");
  app.add_option("--allow", options.allow_file,
                 "allow-list of agent public keys (lines '<Z85 key> name')")
      ->type_name("FILE");
  app.add_flag("--insecure-loopback", options.insecure_loopback,
               "no CURVE on a loopback endpoint: any local process may join as an agent\n"
               "(without it, agents this host does not start itself need --curve-key)");
  app.add_option("--boards-dir", options.boards_dir,
                 "where board files live (default the source tree's boards/)")
      ->type_name("DIR");
  app.add_option("--agent-bin", options.agent_binary,
                 "hil-agent binary for {agent} in launch commands")
      ->type_name("PATH");
  app.add_option("--agent-aarch64", options.agent_aarch64_binary,
                 "cross-built hil-agent for {agent_aarch64} (pi5-qemu; default\n"
                 "build/aarch64-qemu/agent/hil-agent of the source tree)")
      ->type_name("PATH");
  app.add_option("--agents", options.agents_per_board,
                 "agents to launch per board (default: the board file's \"agents\")")
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  app.add_option("--connect-timeout", options.connect_timeout_s,
                 "wait this long for a board's agents (default 30)")
      ->type_name("SECONDS")
      ->check(hilq::cli::number_in(0, 1e9, true));
  app.add_option("--job-timeout", options.job_timeout_s,
                 "run time one job may take on an agent (default 600)")
      ->type_name("SECONDS")
      ->check(hilq::cli::number_in(0, 1e9, true));
  app.add_option("--heartbeat-ms", options.heartbeat_ms,
                 "heartbeat interval both ways (default 1000)")
      ->type_name("MS")
      ->check(CLI::Range(10, 600000));
  app.add_option("--liveness", options.liveness,
                 "missed heartbeats before an agent is dead (default 5)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  app.add_option("--max-attempts", options.max_attempts,
                 "tries of a job before it is recorded failed (default 3)")
      ->type_name("N")
      ->check(CLI::Range(1, 100));
  app.add_option("--quarantine-after", options.quarantine_after,
                 "failed jobs in a row that quarantine an agent (default 3)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  bool no_health_check = false;
  app.add_flag("--no-health-check", no_health_check,
               "skip the known-answer check each agent gets first");
  CLI::Option* workload =
      app.add_option("--workload", options.workload,
                     "kernel-bench (default; model-bench with --model) or noop (trivial\n"
                     "jobs: broker tests, benchmark)")
          ->type_name("NAME")
          ->check(CLI::IsMember({"kernel-bench", "model-bench", "noop"}));
  // --model and --artifact both name the artifact: the last one given wins.
  CLI::Option* model = app.add_option_function<std::string>(
                              "--model", [&](const std::string& file) { options.artifact = file; },
                              "model-bench: measure this model file (float checkpoint or packed\n"
                              "export) on every board: prefill, decode ms/token, memory, energy")
                           ->type_name("FILE")
                           ->trigger_on_parse();
  app.add_option("--settings", settings,
                 "model-bench settings (default FP32,FP16,W8A8,W4A8,W4A4-TA8/4,W4A4):\n"
                 "FP32/FP16 float baselines, W<w>A<a>[g<group>][-TA<hi>/<lo>] quantized\n"
                 "on load from a float model, as-stored for a packed model as exported")
      ->type_name("LIST")
      ->check(kNameList);
  app.add_option("--threads", options.model_bench.threads,
                 "model-bench kernel threads on the agent (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  app.add_option("--prompt-tokens", options.model_bench.prompt_tokens,
                 "model-bench prompt length (default 128)")
      ->type_name("N")
      ->check(CLI::Range(1, 65536));
  app.add_option("--decode-tokens", options.model_bench.decode_tokens,
                 "model-bench decoded tokens per run (default 128)")
      ->type_name("N")
      ->check(CLI::Range(0, 65536));
  app.add_option("--jobs", options.noop_jobs, "noop jobs per board (default 100)")
      ->type_name("N")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--job-sleep-ms", options.noop_sleep_ms,
                 "how long each noop job sleeps on the agent (default 0)")
      ->type_name("MS")
      ->check(CLI::Range(0, 3600000));
  app.add_option_function<std::string>(
         "--artifact", [&](const std::string& file) { options.artifact = file; },
         "a file every job names by sha256; agents fetch and cache it")
      ->type_name("FILE")
      ->trigger_on_parse();
  app.add_option("--min-time", options.min_time_s,
                 "time each benchmark job repeats for, at least (default 0.2)")
      ->type_name("SECONDS")
      ->check(hilq::cli::number_in(0, 1e9, true));

  std::string shapes;
  app.add_option("--shapes", shapes,
                 "kernel-bench gemv shapes MxK,... (default 256x256,768x256,256x768,4096x4096)")
      ->type_name("LIST")
      ->check(kShapeList);

  // A paired A/B run: two builds' agents on the same boards, ABBA rounds, a verdict.
  hilq::host::AbPlan& ab = options.ab;
  CLI::Option* baseline_agent =
      app.add_option("--baseline-agent", ab.baseline_agent,
                     "A/B run: the baseline build's hil-agent (with --candidate-agent): both\n"
                     "measure the workload on each board in ABBA rounds; the verdict lands in\n"
                     "the verdicts table, regress.md and regress.json (hil-report regress)")
          ->type_name("PATH")
          ->check(CLI::Validator(CLI::ExistingFile).description(""));
  CLI::Option* candidate_agent = app.add_option("--candidate-agent", ab.candidate_agent,
                                                "A/B run: the candidate build's hil-agent")
                                     ->type_name("PATH")
                                     ->check(CLI::Validator(CLI::ExistingFile).description(""));
  baseline_agent->needs(candidate_agent);
  candidate_agent->needs(baseline_agent);
  double delta_pct = ab.params.delta_latency * 100, energy_pct = ab.params.delta_energy * 100;
  app.add_option("--alpha", ab.params.alpha,
                 "A/B: significance after Benjamini-Hochberg over the run's tests (default 0.01)")
      ->type_name("A")
      ->check(hilq::cli::number_in(0, 0.5, true));
  app.add_option("--delta", delta_pct, "A/B: latency change that matters, percent (default 3)")
      ->type_name("PCT")
      ->check(hilq::cli::number_in(0, 100, true));
  app.add_option("--delta-energy", energy_pct,
                 "A/B: energy change that matters, percent (default 5)")
      ->type_name("PCT")
      ->check(hilq::cli::number_in(0, 100, true));
  app.add_option("--min-rounds", ab.params.min_rounds,
                 "A/B: ABBA rounds before deciding (default 8)")
      ->type_name("N")
      ->check(CLI::Range(1, 10000));
  app.add_option("--max-rounds", ab.params.max_rounds,
                 "A/B: rounds cap; still undecided is INCONCLUSIVE (default 30)")
      ->type_name("N")
      ->check(CLI::Range(1, 10000));
  app.add_option("--max-dropped", ab.params.max_dropped,
                 "A/B: fraction of rounds that may be dropped as throttled or failed before\n"
                 "the verdict is INCONCLUSIVE (default 0.25)")
      ->type_name("F")
      ->check(hilq::cli::number_in(0, 1));

  // The search (--model FILE without --settings).
  hilq::host::SearchPlan& search = options.search;
  std::string max_increase;
  app.add_option("--max-ppl-increase", max_increase,
                 "search: quality constraint, the validation perplexity may rise at most\n"
                 "this many percent over the float model's (default 5%)")
      ->type_name("PCT");
  CLI::Option* mem_budget =
      app.add_option("--mem-budget-mb", search.mem_budget_mb,
                     "search: memory budget of the weights as the runtime holds them\n"
                     "(codes + scales + float tensors; 1 MB = 10^6 bytes; default none)")
          ->type_name("MB")
          ->check(hilq::cli::number_in(0, 1e9, true));
  app.add_option("--task", search.task, "search: lm (perplexity; default) or cls (accuracy)")
      ->type_name("TASK")
      ->check(CLI::IsMember({"lm", "cls"}));
  double max_acc_drop = 0;
  CLI::Option* acc_drop =
      app.add_option("--max-acc-drop", max_acc_drop,
                     "search, --task cls: accuracy points the pick may lose (default 1.0)")
          ->type_name("POINTS");
  app.add_option("--strategy", search.strategy,
                 "search strategy: tiered (default; QSLM's sensitivity-guided tiers), or the\n"
                 "baselines nsga2 and random over the same space and scoring")
      ->type_name("NAME")
      ->check(CLI::IsMember({"tiered", "nsga2", "random"}));
  app.add_option("--population", search.population, "search, nsga2: population (default 50)")
      ->type_name("N")
      ->check(CLI::Range(2, 100000));
  app.add_option("--crossover", search.crossover,
                 "search, nsga2: probability a pair is crossed, uniformly (default 0.9)")
      ->type_name("P")
      ->check(hilq::cli::number_in(0, 1));
  app.add_option("--mutation", search.mutation,
                 "search, nsga2: per-gene mutation probability (default 1/genes)")
      ->type_name("P")
      ->check(hilq::cli::number_in(0, 1));
  app.add_option("--budget", search.budget,
                 "search: host scorings the tiers may spend (default 150; sensitivity\n"
                 "is not counted); nsga2 and random: configurations proposed")
      ->type_name("N")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--qat-top", search.qat_top,
                 "search: after the tiers, Squat QAT of the K front members with the best\n"
                 "trade-off and of up to K near misses (default 0: off; each takes minutes)")
      ->type_name("K")
      ->check(CLI::Range(0, 1000));
  app.add_option("--qat-steps", search.qat_steps,
                 "search: QAT steps per --qat-top candidate (default 300)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000000));
  std::string profile = "quick";
  app.add_option("--profile", profile,
                 "search: quick (default: no QAT) or full (as --qat-top 1: Squat QAT of the\n"
                 "best front member and of one near miss, --qat-steps each; every candidate\n"
                 "adds its training, minutes per 100 steps on 2 cores)")
      ->type_name("NAME")
      ->check(CLI::IsMember({"quick", "full"}));
  app.add_option("--pick", search.pick,
                 "search: tf (trade-off mu*P + (1-mu)*(1-M), default) or lexicographic\n"
                 "(least memory under the constraints)")
      ->type_name("RULE")
      ->check(CLI::IsMember({"tf", "lexicographic"}));
  app.add_option("--mu", search.mu, "search: weight of quality in the trade-off (default 0.5)")
      ->type_name("MU")
      ->check(hilq::cli::number_in(0, 1, true));
  app.add_option("--seed", search.seed, "search: seed (stored with the run; default 1)")
      ->type_name("S");
  app.add_option("--groups", search.group,
                 "search: weight groups of the linears (32, 64 or 128 inputs per scale;\n"
                 "default per output channel)")
      ->type_name("G")
      ->check(CLI::IsMember({32, 64, 128}));
  app.add_option("--data", search.data_dir,
                 "search: corpus folder (default the source tree's data/)")
      ->type_name("DIR");
  app.add_option("--candidate-cache", search.cache_dir,
                 "search: where packed candidates are kept between runs (default\n"
                 "$HILQ_CACHE/candidates, HILQ_CACHE defaulting to ~/.cache/hilq)")
      ->type_name("DIR");
  app.add_option("--score-threads", search.score_threads,
                 "search: threads scoring windows on the host (default 2)")
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  app.add_option("--calibration-windows", search.calibration_windows,
                 "search: windows of the train slice for sensitivity (default 8)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--validation-windows", search.validation_windows,
                 "search: validation windows the constraint is checked on (default 64)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--test-windows", search.test_windows,
                 "search: test windows the final front is scored on (default 256)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-docs", search.max_docs_per_split,
                 "search: only the first N documents of each split (quick runs, tests)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  if (profile == "full" && !app.count("--qat-top")) search.qat_top = 1;
  options.ab.enabled = baseline_agent->count() > 0;
  ab.params.delta_latency = delta_pct / 100.0;
  ab.params.delta_energy = energy_pct / 100.0;
  if (ab.params.max_rounds < ab.params.min_rounds) {
    std::fprintf(stderr, "hil-search: --max-rounds %d is below --min-rounds %d\n",
                 ab.params.max_rounds, ab.params.min_rounds);
    return hilq::cli::kExitUsage;
  }
  if (!shapes.empty()) options.kernel_shapes = parse_shapes(shapes);
  if (app.count("--boards")) {
    options.boards = hilq::cli::split_list(boards);
    options.boards_given = true;
  }
  if (app.count("--resume")) options.resume_run = resume;
  if (app.count("--settings")) options.model_bench.settings = hilq::cli::split_list(settings);
  options.health_check = !no_health_check;
  if (model->count() && !workload->count()) options.workload = "model-bench";
  search.enabled = model->count() && !app.count("--settings") && !workload->count();
  if (options.ab.enabled && search.enabled) {
    std::fprintf(stderr,
                 "hil-search: --baseline-agent/--candidate-agent measure fixed configs, not a "
                 "search: give --settings with --model\n");
    return hilq::cli::kExitUsage;
  }
  if (!max_increase.empty()) {
    // "5%" or "5": percent.
    std::string text = max_increase;
    if (text.back() == '%') text.pop_back();
    char* end = nullptr;
    const double pct = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(pct) || pct < 0 || pct > 1000) {
      std::fprintf(stderr,
                   "hil-search: --max-ppl-increase: '%s' is not a percentage in [0, 1000] "
                   "(e.g. 5%%)\n",
                   max_increase.c_str());
      return hilq::cli::kExitUsage;
    }
    search.max_ppl_increase = pct / 100.0;
  }
  if (acc_drop->count() && search.task != "cls") {
    std::fprintf(stderr,
                 "hil-search: --max-acc-drop applies to --task cls, not to an LM search "
                 "(use --max-ppl-increase)\n");
    return hilq::cli::kExitUsage;
  }
  if (acc_drop->count()) {
    if (max_acc_drop < 0 || max_acc_drop > 100 || !std::isfinite(max_acc_drop)) {
      std::fprintf(stderr,
                   "hil-search: --max-acc-drop: %g is not a number of accuracy points in "
                   "[0, 100]\n",
                   max_acc_drop);
      return hilq::cli::kExitUsage;
    }
    search.max_acc_drop = max_acc_drop;
  }
  if (search.task == "cls" && !max_increase.empty()) {
    std::fprintf(stderr,
                 "hil-search: --max-ppl-increase constrains an LM search; a classifier "
                 "(--task cls) takes --max-acc-drop\n");
    return hilq::cli::kExitUsage;
  }
  if (!search.enabled && (mem_budget->count() || !max_increase.empty())) {
    std::fprintf(stderr,
                 "hil-search: --max-ppl-increase and --mem-budget-mb constrain a search "
                 "(--model without --settings)\n");
    return hilq::cli::kExitUsage;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return hilq::host::run_session(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-search: %s\n", e.what());
    return hilq::cli::exit_code(e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-search", [&] { return run(argc, argv); });
}
