// hil-agent: the device agent. Connects to a host's ROUTER socket and runs measurement jobs.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "agent/command.h"
#include "protocol/board_spec.h"
#include "agent/worker.h"

namespace {

constexpr const char* kUsage =
    R"(usage: hil-agent [--connect ENDPOINT] [--board NAME] [--id ID] [options]

Runs on a board: connects to the host (hil-search) over ZeroMQ, reports the CPU features it
detects, and runs the jobs it is sent (kernel-bench, health-check, noop), returning measured
latency samples, peak memory, temperatures and energy where a sensor is readable. Heartbeats
both ways; when the host goes silent it reconnects with back-off. Exits on BYE.

  --connect ENDPOINT       host's ROUTER endpoint (default tcp://127.0.0.1:5555)
  --board NAME             board this agent serves, as named in boards/NAME.json (default local)
  --id ID                  agent identity (default <board>-<hostname>-<pid>)
  --host-timeout SECONDS   exit when the host is silent this long in total (default 60)
  --heartbeat-ms MS        heartbeat interval until the host says otherwise (default 1000)
  --liveness N             missed heartbeats before the host counts as gone (default 5)
  --reconnect-ms MIN,MAX   reconnect back-off, doubling from MIN to MAX (default 1000,32000)
  --curve-key FILE         this agent's CURVE key file (from hil-keys); needs --server-key
  --server-key KEY|FILE    the host's CURVE public key (Z85, or its .pub/.key file)
  --cache-dir DIR          artifact cache (default $HILQ_CACHE_DIR or ~/.cache/hilq/artifacts)
  --cache-limit-mb MB      artifact cache size limit (default 1024)
  --power BACKEND          power sensor instead of the board file's (rapl, hwmon, pi5-pmic,
                           android, none)
  --power-command CMD      the pi5-pmic sensor's command, words split on blanks and run without
                           a shell (default "vcgencmd pmic_read_adc"); the host cannot set it
  --pin CPUS               pin measured jobs to these CPUs ("2-3") instead of the board file's
  --fault MODE             testing only: wrong-health, fail-jobs or hang-jobs
  --help                   this text
)";

void on_signal(int) { hilq::agent::request_agent_stop(); }

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "hil-agent: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

double number(const std::string& flag, const std::string& value, double lo, double hi) {
  try {
    size_t used = 0;
    const double v = std::stod(value, &used);
    if (used == value.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "], not '" + value + "'");
}

}  // namespace

int main(int argc, char** argv) {
  hilq::agent::AgentOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) usage_error(arg + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (arg == "--connect") {
      options.endpoint = value;
    } else if (arg == "--board") {
      options.board = value;
    } else if (arg == "--id") {
      options.agent_id = value;
    } else if (arg == "--host-timeout") {
      options.host_timeout_s = number(arg, value, 0.1, 1e9);
    } else if (arg == "--heartbeat-ms") {
      options.heartbeat_ms = static_cast<int>(number(arg, value, 10, 600000));
    } else if (arg == "--liveness") {
      options.liveness = static_cast<int>(number(arg, value, 1, 1000));
    } else if (arg == "--reconnect-ms") {
      const auto comma = value.find(',');
      if (comma == std::string::npos) usage_error("--reconnect-ms needs MIN,MAX");
      options.reconnect_initial_ms =
          static_cast<int>(number(arg, value.substr(0, comma), 1, 3.6e6));
      options.reconnect_max_ms = static_cast<int>(number(arg, value.substr(comma + 1), 1, 3.6e6));
      if (options.reconnect_max_ms < options.reconnect_initial_ms)
        usage_error("--reconnect-ms MAX must not be below MIN");
    } else if (arg == "--curve-key") {
      options.curve_key_file = value;
    } else if (arg == "--server-key") {
      options.server_key = value;
    } else if (arg == "--cache-dir") {
      options.cache_dir = value;
    } else if (arg == "--cache-limit-mb") {
      options.cache_limit_bytes = static_cast<int64_t>(number(arg, value, 1, 1 << 24)) << 20;
    } else if (arg == "--power") {
      options.power_override = value;
    } else if (arg == "--power-command") {
      try {
        options.power_command = hilq::agent::split_command_words(value);
      } catch (const std::invalid_argument& e) {
        usage_error(std::string("--power-command: ") + e.what());
      }
    } else if (arg == "--pin") {
      options.pin = value;
    } else if (arg == "--fault") {
      if (value != "wrong-health" && value != "fail-jobs" && value != "hang-jobs")
        usage_error("--fault is one of wrong-health, fail-jobs, hang-jobs");
      options.fault = value;
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  if (options.curve_key_file.empty() != options.server_key.empty())
    usage_error("--curve-key and --server-key go together");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return hilq::agent::run_agent(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-agent: %s\n", e.what());
    return 1;
  }
}
