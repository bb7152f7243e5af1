// The agent's worker loop: connect a DEALER to the host's ROUTER, say HELLO with the CPU it
// really detected, then run jobs one at a time (READY -> JOB -> RESULT/ERROR) until BYE.
#pragma once

#include <string>

namespace hilq::agent {

struct AgentOptions {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string board = "local";
  std::string agent_id;          // default: <board>-<hostname>-<pid>
  double host_timeout_s = 60.0;  // give up when the host stays silent this long
};

// Returns the process exit code: 0 after BYE, 1 when the host refused or vanished.
int run_agent(const AgentOptions& options);

// Asks a running run_agent() to stop (async-signal-safe).
void request_agent_stop();

}  // namespace hilq::agent
