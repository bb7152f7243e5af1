// hil-agent: the device agent. Connects to a host's ROUTER socket and runs measurement jobs.
// Parses the command line (CLI11) into AgentOptions and calls run_agent().
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "agent/command.h"
#include "agent/worker.h"
#include "base/cli.h"

namespace {

void on_signal(int) { hilq::agent::request_agent_stop(); }

// --reconnect-ms MIN,MAX: both in [1, 3600000] ms, MAX not below MIN.
bool parse_backoff(const std::string& value, int* min_ms, int* max_ms) {
  const auto comma = value.find(',');
  if (comma == std::string::npos) return false;
  double lo = 0, hi = 0;
  if (!CLI::detail::lexical_cast(value.substr(0, comma), lo) ||
      !CLI::detail::lexical_cast(value.substr(comma + 1), hi) || !(lo >= 1 && lo <= 3.6e6) ||
      !(hi >= 1 && hi <= 3.6e6))
    return false;
  *min_ms = static_cast<int>(lo);
  *max_ms = static_cast<int>(hi);
  return true;
}

const CLI::Validator kBackoff(
    [](std::string& value) -> std::string {
      int lo = 0, hi = 0;
      if (!parse_backoff(value, &lo, &hi))
        return "needs MIN,MAX in [1, 3600000] ms, not '" + value + "'";
      if (hi < lo) return "MAX must not be below MIN";
      return {};
    },
    "");

const CLI::Validator kCommandWords(
    [](std::string& value) -> std::string {
      try {
        hilq::agent::split_command_words(value);
      } catch (const std::invalid_argument& e) {
        return e.what();
      }
      return {};
    },
    "");

}  // namespace

namespace {

int run(int argc, char** argv) {
  hilq::agent::AgentOptions options;
  CLI::App app{
      R"(Runs on a board: connects to the host (hil-search) over ZeroMQ, reports the CPU features it
detects, and runs the jobs it is sent (kernel-bench, health-check, noop), returning measured
latency samples, peak memory, temperatures and energy where a sensor is readable. Heartbeats
both ways; when the host goes silent it reconnects with back-off. Exits on BYE.)",
      "hil-agent"};
  hilq::cli::configure(app);
  app.footer("Exit status: 0 after BYE or Ctrl-C, 1 error (host refused or silent), 2 usage.");

  std::string reconnect, power_command;
  int64_t cache_limit_mb = 0;
  app.add_option("--connect", options.endpoint,
                 "host's ROUTER endpoint (default tcp://127.0.0.1:5555)")
      ->type_name("ENDPOINT");
  app.add_option("--board", options.board,
                 "board this agent serves, as named in boards/NAME.json (default local)")
      ->type_name("NAME");
  app.add_option("--id", options.agent_id, "agent identity (default <board>-<hostname>-<pid>)")
      ->type_name("ID");
  app.add_option("--host-timeout", options.host_timeout_s,
                 "exit when the host is silent this long in total (default 60)")
      ->type_name("SECONDS")
      ->check(hilq::cli::number_in(0.1, 1e9));
  app.add_option("--fetch-timeout", options.fetch_timeout_s,
                 "fail a job (class artifact) whose download gets no chunk this long (default 60)")
      ->type_name("SECONDS")
      ->check(hilq::cli::number_in(0.1, 1e9));
  app.add_option("--heartbeat-ms", options.heartbeat_ms,
                 "heartbeat interval until the host says otherwise (default 1000)")
      ->type_name("MS")
      ->check(CLI::Range(10, 600000));
  app.add_option("--liveness", options.liveness,
                 "missed heartbeats before the host counts as gone (default 5)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  app.add_option("--reconnect-ms", reconnect,
                 "reconnect back-off, doubling from MIN to MAX (default 1000,32000)")
      ->type_name("MIN,MAX")
      ->check(kBackoff);
  CLI::Option* curve_key =
      app.add_option("--curve-key", options.curve_key_file,
                     "this agent's CURVE key file (from hil-keys); needs --server-key")
          ->type_name("FILE");
  CLI::Option* server_key =
      app.add_option("--server-key", options.server_key,
                     "the host's CURVE public key (Z85, or its .pub/.key file)")
          ->type_name("KEY|FILE");
  curve_key->needs(server_key);
  server_key->needs(curve_key);
  app.add_option("--cache-dir", options.cache_dir,
                 "artifact cache (default $HILQ_CACHE_DIR or ~/.cache/hilq/artifacts)")
      ->type_name("DIR");
  app.add_option("--cache-limit-mb", cache_limit_mb, "artifact cache size limit (default 1024)")
      ->type_name("MB")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  app.add_option("--power", options.power_override,
                 "power sensor instead of the board file's (rapl, hwmon, pi5-pmic,\n"
                 "android, none)")
      ->type_name("BACKEND")
      ->check(CLI::IsMember({"rapl", "hwmon", "pi5-pmic", "android", "none"}));
  app.add_option("--power-command", power_command,
                 "the pi5-pmic sensor's command, words split on blanks and run without\n"
                 "a shell (default \"vcgencmd pmic_read_adc\"); the host cannot set it")
      ->type_name("CMD")
      ->check(kCommandWords);
  app.add_option("--pin", options.pin,
                 "pin measured jobs to these CPUs (\"2-3\") instead of the board file's")
      ->type_name("CPUS");
  app.add_option("--fault", options.fault, "testing only: wrong-health, fail-jobs or hang-jobs")
      ->type_name("MODE")
      ->check(CLI::IsMember({"wrong-health", "fail-jobs", "hang-jobs"}));

  app.add_option("--max-jobs", options.max_jobs,
                 "say BYE and exit 0 after N jobs (health checks not counted): A/B runs\n"
                 "relaunch each arm's agent every round, so no process's memory layout or\n"
                 "CPU placement sticks to one arm (default 0: never)")
      ->type_name("N")
      ->check(CLI::Range(0, 1000000000));
  app.add_option("--test-slowdown", options.test_slowdown_pct,
                 "testing only: stretch every timed step of kernel-bench and model-bench\n"
                 "jobs by a busy wait to (1 + PCT/100) times its own duration, an injected\n"
                 "regression for the A/B verdict's tests (results carry test_slowdown_pct)")
      ->type_name("PCT")
      ->check(hilq::cli::number_in(0, 1000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  if (!reconnect.empty())
    parse_backoff(reconnect, &options.reconnect_initial_ms, &options.reconnect_max_ms);
  if (app.count("--cache-limit-mb")) options.cache_limit_bytes = cache_limit_mb << 20;
  if (app.count("--power-command"))
    options.power_command = hilq::agent::split_command_words(power_command);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return hilq::agent::run_agent(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-agent: %s\n", e.what());
    return hilq::cli::exit_code(e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-agent", [&] { return run(argc, argv); });
}
