// One hil-search run: boards, agents, a strategy (search/) asked for trials as boards have room,
// each trial a durable job in SQLite run by the broker, results recorded and told back, then the
// report. Ctrl-C, errors and a killed host lose nothing recorded; `--resume RUN` continues.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/workload.h"
#include "reports/verdict.h"

namespace hilq::host {

// What a search run searches (hil-search --model FILE without --settings).
struct SearchPlan {
  bool enabled = false;
  std::string task = "lm";
  double max_ppl_increase = 0.05;       // lm: relative, on validation
  double max_acc_drop = 1.0;            // cls: accuracy points, on validation
  std::optional<double> mem_budget_mb;  // weights as the runtime holds them (1 MB = 1e6 bytes)
  std::string strategy = "tiered";
  int budget = 150;                // tier scorings on the host (random, nsga2: proposals)
  int population = 50;             // nsga2
  double crossover = 0.9;          // nsga2
  std::optional<double> mutation;  // nsga2; default 1 / genes
  std::string pick = "tf";         // tf | lexicographic
  double mu = 0.5;
  uint64_t seed = 1;
  int group = 0;  // --groups: weight group of the linears (0: per channel)
  double high_fraction = 0.5;
  std::string data_dir = HILQ_DATA_DIR;
  std::string cache_dir;  // packed candidates; default $HILQ_CACHE/candidates
  int score_threads = 2;
  int calibration_windows = 8, validation_windows = 64, test_windows = 256;
  int max_docs_per_split = 0;  // tests: a slice of the corpus
  int qat_top = 0;             // --qat-top: front members (and as many near misses) QAT'd
  int qat_steps = 300;         // --qat-steps
};

// A paired A/B run (--baseline-agent, --candidate-agent): the workload's configs measured on each
// board by both builds' agents in ABBA rounds, then judged (reports/verdict.h).
struct AbPlan {
  bool enabled = false;
  std::string baseline_agent, candidate_agent;  // hil-agent binaries for {agent}
  reports::VerdictParams params;
};

struct RunOptions {
  std::vector<std::string> boards = {"local"};
  bool boards_given = false;          // --boards on the command line (checked against --resume)
  std::optional<int64_t> resume_run;  // --resume RUN
  std::string db_path = "hil.db";
  std::string out_dir = "results/latest";
  std::string boards_dir = HILQ_SOURCE_DIR "/boards";
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string agent_binary;  // default: the hil-agent built with this hil-search
  // {agent_aarch64} of launch commands (pi5-qemu): the cross-built agent.
  std::string agent_aarch64_binary = HILQ_SOURCE_DIR "/build/aarch64-qemu/agent/hil-agent";
  int agents_per_board = 0;         // 0: each board file's "agents"
  double connect_timeout_s = 30.0;  // a board with work but no agent fails after this long
  double job_timeout_s = 600.0;     // run time of one job on an agent (queue time not counted)
  int heartbeat_ms = 1000;
  int liveness = 5;
  int max_attempts = 3;
  int quarantine_after = 3;
  bool health_check = true;
  // kernel-bench, model-bench (the artifact is the model) or noop (broker tests, benchmark)
  std::string workload = "kernel-bench";
  ModelBenchPlan model_bench;
  SearchPlan search;
  AbPlan ab;
  std::vector<std::pair<int, int>> kernel_shapes;  // kernel-bench m x k (empty: the default set)
  int noop_jobs = 100;
  int noop_sleep_ms = 0;
  std::string artifact;        // a file every job names by sha256 (agents FETCH it)
  double min_time_s = 0.2;     // each kernel-bench job repeats at least this long
  std::string curve_key_file;  // host key pair (hil-keys); enables CURVE + ZAP
  std::string allow_file;      // agents' public keys admitted
  // No CURVE on a loopback endpoint: any local process may join as an agent (see host/README).
  bool insecure_loopback = false;
  std::string command_line;  // recorded with the run
};

// Process exit code: 0 completed, 1 failed, 130 interrupted. On --resume the run's stored
// boards and workload replace the given ones.
int run_session(const RunOptions& given);

// Asks a running run_session() to stop (async-signal-safe).
void request_run_stop();

}  // namespace hilq::host
