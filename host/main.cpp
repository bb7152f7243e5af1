// hil-search: runs a hardware-in-the-loop measurement run against the named boards.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "protocol/board_spec.h"
#include "db/database.h"
#include "host/search_run.h"

namespace {

constexpr const char* kUsage =
    R"(usage: hil-search [--boards NAME[,NAME...]] [--resume RUN] [--db FILE] [--out DIR] [options]

Starts (or waits for) the agents of every board, sends them measurement jobs over ZeroMQ,
records every result in SQLite as it arrives and writes report.html + measurements.csv/json.
Jobs live in SQLite: after a crash, --resume RUN runs what did not finish. Ctrl-C stops the
agents, keeps what was recorded and marks the run interrupted.

  --boards LIST             boards to run on, from boards/NAME.json (default local)
  --resume RUN              continue run RUN of --db: finished results stay, the rest runs
  --db FILE                 SQLite file (default hil.db)
  --out DIR                 report folder (default results/latest)
  --port N                  host port on 127.0.0.1 (default 5555; 0 picks a free one)
  --endpoint ENDPOINT       ZeroMQ endpoint to bind instead of --port (not loopback: needs keys)
  --curve-key FILE          the host's CURVE key pair (from hil-keys): encrypt and authenticate
  --allow FILE              allow-list of agent public keys (lines '<Z85 key> name')
  --boards-dir DIR          where board files live (default the source tree's boards/)
  --agent-bin PATH          hil-agent binary for {agent} in launch commands
  --agent-aarch64 PATH      cross-built hil-agent for {agent_aarch64} (pi5-qemu; default
                            build/aarch64-qemu/agent/hil-agent of the source tree)
  --agents N                agents to launch per board (default: the board file's "agents")
  --connect-timeout SECONDS wait this long for a board's agents (default 30)
  --job-timeout SECONDS     run time one job may take on an agent (default 600)
  --heartbeat-ms MS         heartbeat interval both ways (default 1000)
  --liveness N              missed heartbeats before an agent is dead (default 5)
  --max-attempts N          tries of a job before it is recorded failed (default 3)
  --quarantine-after N      failed jobs in a row that quarantine an agent (default 3)
  --no-health-check         skip the known-answer check each agent gets first
  --workload NAME           kernel-bench (default; model-bench with --model) or noop (trivial
                            jobs: broker tests, benchmark)
  --model FILE              model-bench: measure this model file (float checkpoint or packed
                            export) on every board: prefill, decode ms/token, memory, energy
  --settings LIST           model-bench settings (default FP32,FP16,W8A8,W4A8,W4A4-TA8/4,W4A4):
                            FP32/FP16 float baselines, W<w>A<a>[g<group>][-TA<hi>/<lo>] quantized
                            on load from a float model, as-stored for a packed model as exported
  --threads N               model-bench kernel threads on the agent (default 1)
  --prompt-tokens N         model-bench prompt length (default 128)
  --decode-tokens N         model-bench decoded tokens per run (default 128)
  --jobs N                  noop jobs per board (default 100)
  --job-sleep-ms MS         how long each noop job sleeps on the agent (default 0)
  --artifact FILE           a file every job names by sha256; agents fetch and cache it
  --min-time SECONDS        time each benchmark job repeats for, at least (default 0.2)
  --help                    this text

Exit status: 0 completed, 1 error, 2 usage, 130 interrupted.
)";

void on_signal(int) { hilq::host::request_search_stop(); }

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "hil-search: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

double parse_number(const std::string& flag, const std::string& value, double lo, double hi) {
  try {
    size_t used = 0;
    const double s = std::stod(value, &used);
    if (used == value.size() && s >= lo && s <= hi) return s;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "], not '" + value + "'");
}

double parse_seconds(const std::string& flag, const std::string& value) {
  const double s = parse_number(flag, value, 0, 1e9);
  if (s <= 0) usage_error(flag + " needs a positive number of seconds, not '" + value + "'");
  return s;
}

int parse_int(const std::string& flag, const std::string& value, int lo, int hi) {
  const double v = parse_number(flag, value, lo, hi);
  if (v != static_cast<int>(v)) usage_error(flag + " needs an integer, not '" + value + "'");
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  hilq::host::SearchOptions options;
  options.agent_binary = HILQ_AGENT_PATH;
  for (int i = 0; i < argc; ++i) {
    if (i) options.command_line += ' ';
    options.command_line += argv[i];
  }
  bool workload_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--no-health-check") {
      options.health_check = false;
      continue;
    }
    if (i + 1 >= argc) usage_error(arg + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (arg == "--boards") {
      options.boards.clear();
      options.boards_given = true;
      size_t start = 0;
      while (start <= value.size()) {
        const size_t comma = value.find(',', start);
        const std::string name = value.substr(start, comma - start);
        if (name.empty()) usage_error("--boards has an empty name in '" + value + "'");
        options.boards.push_back(name);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (arg == "--resume") {
      options.resume_run = parse_int(arg, value, 1, 2147483647);
    } else if (arg == "--db") {
      options.db_path = value;
    } else if (arg == "--out") {
      options.out_dir = value;
    } else if (arg == "--port") {
      const int port = parse_int(arg, value, 0, 65535);
      options.endpoint = "tcp://127.0.0.1:" + (port == 0 ? std::string("*") : value);
    } else if (arg == "--endpoint") {
      options.endpoint = value;
    } else if (arg == "--curve-key") {
      options.curve_key_file = value;
    } else if (arg == "--allow") {
      options.allow_file = value;
    } else if (arg == "--boards-dir") {
      options.boards_dir = value;
    } else if (arg == "--agent-bin") {
      options.agent_binary = value;
    } else if (arg == "--agent-aarch64") {
      options.agent_aarch64_binary = value;
    } else if (arg == "--agents") {
      options.agents_per_board = parse_int(arg, value, 1, 256);
    } else if (arg == "--connect-timeout") {
      options.connect_timeout_s = parse_seconds(arg, value);
    } else if (arg == "--job-timeout") {
      options.job_timeout_s = parse_seconds(arg, value);
    } else if (arg == "--heartbeat-ms") {
      options.heartbeat_ms = parse_int(arg, value, 10, 600000);
    } else if (arg == "--liveness") {
      options.liveness = parse_int(arg, value, 1, 1000);
    } else if (arg == "--max-attempts") {
      options.max_attempts = parse_int(arg, value, 1, 100);
    } else if (arg == "--quarantine-after") {
      options.quarantine_after = parse_int(arg, value, 1, 1000);
    } else if (arg == "--workload") {
      if (value != "kernel-bench" && value != "model-bench" && value != "noop")
        usage_error("--workload is kernel-bench, model-bench or noop, not '" + value + "'");
      options.workload = value;
      workload_given = true;
    } else if (arg == "--model") {
      options.artifact = value;
      if (!workload_given) options.workload = "model-bench";
    } else if (arg == "--settings") {
      options.model_bench.settings.clear();
      size_t start = 0;
      while (start <= value.size()) {
        const size_t comma = value.find(',', start);
        const std::string name = value.substr(start, comma - start);
        if (name.empty()) usage_error("--settings has an empty name in '" + value + "'");
        options.model_bench.settings.push_back(name);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (arg == "--threads") {
      options.model_bench.threads = parse_int(arg, value, 1, 256);
    } else if (arg == "--prompt-tokens") {
      options.model_bench.prompt_tokens = parse_int(arg, value, 1, 65536);
    } else if (arg == "--decode-tokens") {
      options.model_bench.decode_tokens = parse_int(arg, value, 0, 65536);
    } else if (arg == "--jobs") {
      options.noop_jobs = parse_int(arg, value, 1, 10000000);
    } else if (arg == "--job-sleep-ms") {
      options.noop_sleep_ms = parse_int(arg, value, 0, 3600000);
    } else if (arg == "--artifact") {
      options.artifact = value;
    } else if (arg == "--min-time") {
      options.min_time_s = parse_seconds(arg, value);
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return hilq::host::run_search(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-search: %s\n", e.what());
    return 1;
  }
}
