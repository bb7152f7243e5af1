// hil-agent: the device agent. Connects to a host's ROUTER socket and runs measurement jobs.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "agent/worker.h"

namespace {

constexpr const char* kUsage = R"(usage: hil-agent [--connect ENDPOINT] [--board NAME] [--id ID]
                 [--host-timeout SECONDS]

Runs on a board: connects to the host (hil-search) over ZeroMQ, reports the CPU features it
detects, and runs the kernel-bench jobs it is sent, returning measured latency samples and
peak memory. Exits when the host says BYE.

  --connect ENDPOINT      host's ROUTER endpoint (default tcp://127.0.0.1:5555)
  --board NAME            board this agent serves, as named in boards/NAME.json (default local)
  --id ID                 agent identity (default <board>-<hostname>-<pid>)
  --host-timeout SECONDS  exit when the host is silent this long (default 60)
  --help                  this text
)";

void on_signal(int) { hilq::agent::request_agent_stop(); }

}  // namespace

int main(int argc, char** argv) {
  hilq::agent::AgentOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "hil-agent: %s needs a value\n%s", arg.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--connect") {
      options.endpoint = value();
    } else if (arg == "--board") {
      options.board = value();
    } else if (arg == "--id") {
      options.agent_id = value();
    } else if (arg == "--host-timeout") {
      try {
        options.host_timeout_s = std::stod(value());
      } catch (const std::exception&) {
        std::fprintf(stderr, "hil-agent: --host-timeout needs a number of seconds\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "hil-agent: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return hilq::agent::run_agent(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-agent: %s\n", e.what());
    return 1;
  }
}
