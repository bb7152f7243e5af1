// The host's side of the ZeroMQ link: one ROUTER socket, a FIFO of jobs per board kind, and the
// agents that serve each kind. Agents earn credit with READY; the broker hands each idle agent
// the next job of its board and reports what comes back as events.
//
//   agent                 broker
//   HELLO  ───────────▶  check version + board file ──▶ WELCOME (or ERROR, agent refused)
//   READY  ───────────▶  idle; JOB ◀── next queued job of its board
//   RESULT/ERROR ─────▶  event for the run;  READY again ...
//                        BYE ──▶ every agent at the end
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "agent/protocol/board_spec.h"
#include "agent/protocol/message.h"

namespace hilq::host {

struct BrokerEvent {
  enum class Kind { kAgentJoined, kAgentRefused, kJobStarted, kResult, kJobError };
  Kind kind = Kind::kAgentJoined;
  std::string agent_id;
  std::string board;
  std::optional<protocol::Hello> hello;  // kAgentJoined / kAgentRefused
  std::string job_id;                    // kJobStarted / kResult / kJobError
  nlohmann::json measurement;            // kResult
  std::string error_class;               // kJobError / kAgentRefused
  std::string message;                   // kJobError / kAgentRefused
};

class Broker {
 public:
  // Binds the ROUTER. Throws std::runtime_error with one clear line when the endpoint cannot be
  // bound (port in use, bad address). "tcp://127.0.0.1:*" picks a free port.
  Broker(const std::string& bind_endpoint, std::map<std::string, protocol::BoardSpec> boards);
  ~Broker();

  // The endpoint agents should connect to (the real port when bound with '*').
  const std::string& endpoint() const { return endpoint_; }

  void submit(const std::string& board, protocol::Job job);
  // Handles whatever arrives within timeout_ms and dispatches queued jobs to idle agents.
  std::vector<BrokerEvent> poll(int timeout_ms);

  int agents_of(const std::string& board) const;
  // Jobs of a board still queued or on an agent.
  size_t outstanding(const std::string& board) const;
  size_t outstanding() const;
  void send_bye_to_all();

 private:
  struct Agent {
    std::string id;
    std::string board;
    bool idle = false;
    std::optional<protocol::Job> job;  // in flight
  };

  void handle(const std::string& identity, const protocol::Message& message,
              std::vector<BrokerEvent>& events);
  void dispatch(std::vector<BrokerEvent>& events);
  // False when the peer is unreachable (ROUTER_MANDATORY); the caller drops it with drop_agent().
  bool send(const std::string& identity, const protocol::Message& message);
  void drop_agent(const std::string& identity);

  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::map<std::string, protocol::BoardSpec> boards_;
  std::map<std::string, std::deque<protocol::Job>> queues_;
  std::map<std::string, Agent> agents_;  // by routing id
};

}  // namespace hilq::host
