// The agent's worker loop, the Paranoid Pirate pattern (doc/protocol.md): connect a DEALER to the
// host's ROUTER, say HELLO with the CPU it really detected, then take jobs one at a time
// (READY -> JOB -> RESULT/ERROR) while heartbeating both ways. When the host stays silent for
// `liveness` heartbeats the agent drops the socket, waits (exponential back-off) and reconnects
// with a fresh HELLO: it starts clean, and a result of a job from the old connection is dropped
// (the host has re-queued that job). Artifacts the job needs are fetched chunk by chunk into the
// on-disk cache and verified first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hilq::agent {

struct AgentOptions {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string board = "local";
  std::string agent_id;           // default: <board>-<hostname>-<pid>
  double host_timeout_s = 60.0;   // give up when the host stays silent this long in total
  double fetch_timeout_s = 60.0;  // an artifact download with no chunk this long fails (artifact)
  int heartbeat_ms = 1000;        // until the host's WELCOME says otherwise
  int liveness = 5;
  int reconnect_initial_ms = 1000;  // back-off 1 s -> 32 s, as in Paranoid Pirate
  int reconnect_max_ms = 32000;
  // CURVE: this agent's key file (hil-keys) and the host's public key (Z85 or a .pub/.key file).
  std::string curve_key_file;
  std::string server_key;
  std::string cache_dir;  // default ArtifactCache::default_dir()
  int64_t cache_limit_bytes = int64_t{1} << 30;
  std::string power_override;  // --power BACKEND instead of the board file's
  // --power-command: the pi5-pmic sensor's argv (empty: vcgencmd pmic_read_adc). Set on the board
  // only; a host cannot choose what runs here.
  std::vector<std::string> power_command;
  std::string pin;               // --pin CPUS instead of the board file's
  std::string fault;             // test-only misbehaviour, see job_runner.h
  int max_jobs = 0;  // exit (after BYE) once this many jobs other than health checks ran; 0: never
  double test_slowdown_pct = 0;  // test-only: stretch every timed step by this many percent
};

// Returns the process exit code: 0 after BYE or a stop request, 1 when the host refused or
// stayed silent past host_timeout_s.
int run_agent(const AgentOptions& options);

// Asks a running run_agent() to stop (async-signal-safe).
void request_agent_stop();

}  // namespace hilq::agent
