// hil-search: runs a hardware-in-the-loop measurement run against the named boards.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "agent/protocol/board_spec.h"
#include "db/database.h"
#include "host/search_run.h"

namespace {

constexpr const char* kUsage = R"(usage: hil-search [--boards NAME[,NAME...]] [--db FILE] [--out DIR]
                  [--port N | --endpoint ENDPOINT] [--boards-dir DIR] [--agent-bin PATH]
                  [--connect-timeout SECONDS] [--job-timeout SECONDS] [--min-time SECONDS]

Starts (or waits for) a hil-agent per board, sends it measurement jobs over ZeroMQ, records
every result in SQLite as it arrives and writes report.html + measurements.csv/json.
Ctrl-C stops the agents, keeps what was recorded and marks the run interrupted.

  --boards LIST             boards to run on, from boards/NAME.json (default local)
  --db FILE                 SQLite file (default hil.db)
  --out DIR                 report folder (default results/latest)
  --port N                  host port on 127.0.0.1 (default 5555; 0 picks a free one)
  --endpoint ENDPOINT       ZeroMQ endpoint to bind instead of --port
  --boards-dir DIR          where board files live (default the source tree's boards/)
  --agent-bin PATH          hil-agent binary for {agent} in launch commands
  --connect-timeout SECONDS wait this long for each board's agent (default 30)
  --job-timeout SECONDS     wait this long for the jobs to finish (default 600)
  --min-time SECONDS        time each benchmark job repeats for, at least (default 0.2)
  --help                    this text

Exit status: 0 completed, 1 error, 2 usage, 130 interrupted.
)";

void on_signal(int) { hilq::host::request_search_stop(); }

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "hil-search: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

double parse_seconds(const std::string& flag, const std::string& value) {
  try {
    size_t used = 0;
    const double s = std::stod(value, &used);
    if (used == value.size() && s > 0) return s;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs a positive number of seconds, not '" + value + "'");
}

}  // namespace

int main(int argc, char** argv) {
  hilq::host::SearchOptions options;
  options.agent_binary = HILQ_AGENT_PATH;
  for (int i = 0; i < argc; ++i) {
    if (i) options.command_line += ' ';
    options.command_line += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) usage_error(arg + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (arg == "--boards") {
      options.boards.clear();
      size_t start = 0;
      while (start <= value.size()) {
        const size_t comma = value.find(',', start);
        const std::string name = value.substr(start, comma - start);
        if (name.empty()) usage_error("--boards has an empty name in '" + value + "'");
        options.boards.push_back(name);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (arg == "--db") {
      options.db_path = value;
    } else if (arg == "--out") {
      options.out_dir = value;
    } else if (arg == "--port") {
      int port = -1;
      try {
        port = std::stoi(value);
      } catch (const std::exception&) {
      }
      if (port < 0 || port > 65535) usage_error("--port needs a port number, not '" + value + "'");
      options.endpoint = "tcp://127.0.0.1:" + (port == 0 ? std::string("*") : value);
    } else if (arg == "--endpoint") {
      options.endpoint = value;
    } else if (arg == "--boards-dir") {
      options.boards_dir = value;
    } else if (arg == "--agent-bin") {
      options.agent_binary = value;
    } else if (arg == "--connect-timeout") {
      options.connect_timeout_s = parse_seconds(arg, value);
    } else if (arg == "--min-time") {
      options.min_time_s = parse_seconds(arg, value);
    } else if (arg == "--job-timeout") {
      options.job_timeout_s = parse_seconds(arg, value);
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return hilq::host::run_search(options);
  } catch (const hilq::ConfigError& e) {
    std::fprintf(stderr, "hil-search: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-search: %s\n", e.what());
    return 1;
  }
}
