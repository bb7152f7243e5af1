// The host's side of the ZeroMQ link (a Majordomo-style broker inside hil-search): one ROUTER
// socket, a FIFO of jobs per board kind, any number of agents per kind. Agents earn credit with
// READY; the broker hands the least recently used idle agent of a kind the next job of its kind.
//
//   agent                 broker
//   HELLO  ───────────▶  version + board file check ──▶ WELCOME (heartbeat, board settings)
//   READY  ───────────▶  health check first: a known tiny job with a known answer
//   RESULT ───────────▶  answer right: the agent is fed work; wrong: quarantined
//   READY  ───────────▶  JOB ◀── next queued job of its kind (lease: run-time deadline)
//   RESULT/ERROR ─────▶  event; a late or duplicate RESULT is ignored (idempotent by job id)
//   FETCH  ───────────▶  ARTIFACT chunk
//   HEARTBEAT ◀───────▶  both ways; silent for `liveness` intervals = dead, its job re-queued
//
// A job whose agent dies, times out (run time only, never queue time) or fails is re-queued to
// another agent of the kind, at most max_attempts tries, then reported failed with its class.
// An agent failing `quarantine_after` jobs in a row, or its health check, is quarantined.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "protocol/board_spec.h"
#include "protocol/curve_keys.h"
#include "protocol/health_check.h"
#include "protocol/message.h"

namespace hilq {
class LogLimiter;
}

namespace hilq::host {

// A peer that has not said HELLO may send one message of at most this many bytes in all (a HELLO
// is well under 4 KiB); a larger one is refused frame by frame and nothing of it is kept.
inline constexpr int64_t kMaxBytesBeforeHello = 64 << 10;
// ZMQ_MAXMSGSIZE of the ROUTER: the largest frame an agent ever sends (a RESULT of 100,000
// samples is about 2 MiB). A larger frame makes libzmq drop the connection before buffering it.
inline constexpr int64_t kMaxAgentFrameBytes = 4ll << 20;

class ArtifactStore;
class ZapHandler;

struct BrokerOptions {
  int heartbeat_ms = 1000;
  int liveness = 5;            // missed heartbeats before an agent is dead
  int max_attempts = 3;        // failed tries before a job is recorded as failed
  double job_timeout_s = 600;  // run time on an agent; queue time never counts
  int quarantine_after = 3;    // consecutive failed jobs that quarantine an agent
  bool health_check = true;
  std::string run;  // run id, sent in WELCOME for the agents' logs
  // CURVE: when set, the ROUTER is a CURVE server and a ZAP handler admits only these keys.
  std::optional<protocol::KeyPair> curve_keys;
  std::vector<protocol::AllowedKey> allowed_keys;
  const ArtifactStore* artifacts = nullptr;
};

struct BrokerEvent {
  enum class Kind {
    kAgentJoined,       // hello, user_id
    kAgentRefused,      // hello, error_class, message
    kAgentLost,         // missed heartbeats; message
    kAgentLeft,         // said BYE
    kAgentQuarantined,  // message = reason
    kJobStarted,        // job_id, attempt
    kJobRequeued,       // job_id, error_class, message (why the try failed)
    kResult,            // job_id, measurement
    kJobError,          // job_id, error_class, message: final
  };
  Kind kind = Kind::kAgentJoined;
  std::string agent_id;
  std::string board;
  std::string user_id;  // CURVE allow-list name of the agent, when CURVE is on
  std::optional<protocol::Hello> hello;
  std::string job_id;
  int attempt = 0;
  nlohmann::json measurement;
  std::string error_class;
  std::string message;
};

class Broker {
 public:
  // Binds the ROUTER. Throws ConfigError when a non-loopback endpoint is bound without CURVE
  // keys, std::runtime_error with one clear line when the endpoint cannot be bound.
  // "tcp://127.0.0.1:*" picks a free port.
  Broker(const std::string& bind_endpoint, std::map<std::string, protocol::BoardSpec> boards,
         BrokerOptions options = {});
  ~Broker();

  const std::string& endpoint() const { return endpoint_; }
  void set_run(const std::string& run) { options_.run = run; }

  void submit(const std::string& board, protocol::Job job);
  // Handles what arrives within timeout_ms, checks heartbeats and leases, dispatches.
  std::vector<BrokerEvent> poll(int timeout_ms);

  // Connected agents of a board that may be fed work (not quarantined).
  int agents_of(const std::string& board) const;
  int quarantined_agents() const { return static_cast<int>(quarantined_.size()); }
  size_t outstanding(const std::string& board) const;  // queued or in flight
  size_t outstanding() const;
  void send_bye_to_all();

 private:
  using Clock = std::chrono::steady_clock;
  struct QueuedJob {
    protocol::Job job;
    int failures = 0;
    std::set<std::string> tried;           // agents that failed it: another one is preferred
    std::string last_failed;               // never retried there while the board has another agent
    std::set<std::string> bad_request_by;  // quarantined if another agent runs the job fine
  };
  struct InFlight {
    QueuedJob queued;
    Clock::time_point deadline;
    int64_t fetched_bytes = 0;  // furthest artifact byte served: only progress renews the lease
    bool health = false;
    protocol::HealthAnswer expected;
  };
  struct Agent {
    std::string id;     // the agent id its HELLO names (events, rows, quarantine)
    std::string route;  // the routing id of its connection: "<id>" or "<id>/<connection nonce>"
    std::string board, user_id;
    bool ready = false;
    bool healthy = false;
    std::optional<InFlight> job;
    std::string abandoned_job;       // timed out on this agent; it is busy until it reports
    Clock::time_point abandoned_at;  // when: not ready a lease later = quarantined
    Clock::time_point last_heard, last_sent, last_dispatch;
    int consecutive_failures = 0;
    int health_checks = 0;
    int results = 0;  // accepted results this session: a job failed elsewhere goes here first
  };

  struct Incoming {
    std::string identity, user_id;
    std::vector<std::string> frames;
    std::string refused;  // why the message was refused while it was being received
  };
  // Reads one message frame by frame, checking each frame against what its sender may send.
  bool receive(Incoming& in);
  void handle(const std::string& identity, const std::string& user_id,
              const protocol::Message& message, std::vector<BrokerEvent>& events);
  void handle_hello(const std::string& identity, const std::string& user_id,
                    const protocol::Message& message, std::vector<BrokerEvent>& events);
  void finish_job(Agent& agent, const std::string& job_id, bool ok,
                  const nlohmann::json& measurement, const protocol::ErrorReply* error,
                  std::vector<BrokerEvent>& events);
  // A try of a job failed: re-queue it (front) or, after max_attempts, report it failed. With
  // `blame` the agent failed it (it joins the job's tried set), and the try counts against the
  // job only when charges() says so; without, the try was cut short by something else (a
  // reconnect, a quarantine) and never counts.
  void retry_or_fail(QueuedJob job, const Agent& agent, const std::string& error_class,
                     const std::string& message, bool blame, std::vector<BrokerEvent>& events);
  // Whether a failed try of `job` on `agent` counts against the job: yes for a CURVE-authenticated
  // agent (its key is on the farm's allow-list); for any other peer only when no other agent of
  // the board that has not tried the job is connected, so a hostile peer, with however many
  // fresh ids, cannot use up a job's tries while a real agent can still give a second opinion.
  bool charges(const Agent& agent, const QueuedJob& job) const;
  void quarantine(Agent& agent, const std::string& reason, std::vector<BrokerEvent>& events);
  void note_failure(Agent& agent, std::vector<BrokerEvent>& events);
  void tick(std::vector<BrokerEvent>& events);
  void dispatch(std::vector<BrokerEvent>& events);
  bool send(const std::string& identity, const protocol::Message& message);
  // Forgets an agent; its job in flight goes back to the queue (counted as a failed try when
  // `count_failure`, with the given class and message).
  void drop_agent(const std::string& identity, bool count_failure, const std::string& error_class,
                  const std::string& message, std::vector<BrokerEvent>& events);
  Agent* agent_named(const std::string& id);

  BrokerOptions options_;
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::map<std::string, protocol::BoardSpec> boards_;
  std::map<std::string, std::deque<QueuedJob>> queues_;
  std::map<std::string, Agent> agents_;             // by routing id
  std::map<std::string, std::string> routes_;       // agent id -> routing id of its connection
  std::map<std::string, std::string> quarantined_;  // agent id -> reason, for the whole run
  std::set<std::string> finished_;                  // job ids already reported: idempotence
  uint32_t health_seed_ = 0x5eed;
  int rejected_ = 0;                 // malformed messages so far
  std::unique_ptr<LogLimiter> log_;  // per-peer limit of per-message log lines
};

}  // namespace hilq::host
