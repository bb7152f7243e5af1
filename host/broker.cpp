// ROUTER-side broker: heartbeats, leases, retries, quarantine, artifacts (see broker.h).
#include "host/broker.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <zmq_addon.hpp>

#include "base/log.h"
#include "host/artifact_store.h"
#include "host/zap_auth.h"
#include "protocol/jobs.h"

namespace hilq::host {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;

BrokerEvent make_event(BrokerEvent::Kind kind, const std::string& agent_id,
                       const std::string& board) {
  BrokerEvent ev;
  ev.kind = kind;
  ev.agent_id = agent_id;
  ev.board = board;
  return ev;
}

// A peer-supplied id or name in a log line: escaped and cut (base/log.h).
std::string printable(const std::string& id) { return log_safe(id, 64); }

}  // namespace

Broker::Broker(const std::string& bind_endpoint, std::map<std::string, proto::BoardSpec> boards,
               BrokerOptions options)
    : options_(std::move(options)),
      context_(1),
      boards_(std::move(boards)),
      log_(std::make_unique<LogLimiter>(stderr, "hil-search")) {
  if (!options_.curve_keys && !is_loopback_endpoint(bind_endpoint))
    throw ConfigError("refusing to bind " + bind_endpoint +
                      " without CURVE keys: only loopback runs may go without them (make keys "
                      "with hil-keys, then pass --curve-key HOST.key --allow ALLOW-LIST)");
  if (options_.curve_keys) zap_ = std::make_unique<ZapHandler>(context_, options_.allowed_keys);
  router_ = zmq::socket_t(context_, zmq::socket_type::router);
  router_.set(zmq::sockopt::router_mandatory, 1);
  // No handover: a second connection with a live connection's very routing id is refused by
  // libzmq (the first keeps it), not silently handed the agent's jobs. hil-agent's routing ids end
  // in a random suffix new for each connection, so a second connection claiming a live agent id
  // has another routing id and reaches handle_hello, which refuses and logs it. ZMTP heartbeats
  // reap a connection that died without a FIN within the liveness window.
  router_.set(zmq::sockopt::router_handover, 0);
  router_.set(zmq::sockopt::heartbeat_ivl, options_.heartbeat_ms);
  router_.set(zmq::sockopt::heartbeat_timeout, options_.heartbeat_ms * options_.liveness);
  router_.set(zmq::sockopt::linger, 0);
  router_.set(zmq::sockopt::maxmsgsize, kMaxAgentFrameBytes);
  router_.set(zmq::sockopt::sndhwm, 10000);
  if (options_.curve_keys) {
    router_.set(zmq::sockopt::curve_server, 1);
    router_.set(zmq::sockopt::curve_secretkey, options_.curve_keys->secret_z85);
    router_.set(zmq::sockopt::zap_domain, "hilq");
  }
  try {
    router_.bind(bind_endpoint);
  } catch (const zmq::error_t& e) {
    std::string hint;
    if (e.num() == EADDRINUSE) hint = " (another hil-search running? pick another --port)";
    throw std::runtime_error("cannot bind " + bind_endpoint + ": " + e.what() + hint);
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  for (const auto& [name, spec] : boards_) queues_[name];
}

Broker::~Broker() = default;

void Broker::submit(const std::string& board, proto::Job job) {
  queues_.at(board).push_back(QueuedJob{std::move(job), 0, {}, {}, {}});
}

bool Broker::send(const std::string& identity, const proto::Message& message) {
  const proto::Frames frames = proto::encode(message);
  try {
    std::vector<zmq::const_buffer> parts = {zmq::buffer(identity)};
    for (const auto& frame : frames) parts.push_back(zmq::buffer(frame));
    if (!zmq::send_multipart(router_, parts, zmq::send_flags::dontwait))
      throw zmq::error_t();  // EAGAIN: the agent's pipe is full, it is not reading
  } catch (const zmq::error_t& e) {
    // ROUTER_MANDATORY turns a silent drop into this error: the peer is gone.
    if (log_->allow(identity))
      std::fprintf(stderr, "hil-search: cannot reach agent %s: %s\n", printable(identity).c_str(),
                   e.what());
    return false;
  }
  if (auto it = agents_.find(identity); it != agents_.end()) it->second.last_sent = Clock::now();
  return true;
}

void Broker::drop_agent(const std::string& identity, bool count_failure,
                        const std::string& error_class, const std::string& message,
                        std::vector<BrokerEvent>& events) {
  auto it = agents_.find(identity);
  if (it == agents_.end()) return;
  Agent agent = std::move(it->second);
  agents_.erase(it);
  if (auto r = routes_.find(agent.id); r != routes_.end() && r->second == identity)
    routes_.erase(r);
  if (agent.job && !agent.job->health)
    retry_or_fail(std::move(agent.job->queued), agent, error_class, message, count_failure, events);
}

Broker::Agent* Broker::agent_named(const std::string& id) {
  auto r = routes_.find(id);
  if (r == routes_.end()) return nullptr;
  auto it = agents_.find(r->second);
  return it == agents_.end() ? nullptr : &it->second;
}

bool Broker::charges(const Agent& agent, const QueuedJob& job) const {
  if (!agent.user_id.empty()) return true;
  for (const auto& [route, other] : agents_)
    if (other.board == agent.board && other.id != agent.id && !quarantined_.contains(other.id) &&
        !job.tried.contains(other.id))
      return false;
  return true;
}

void Broker::retry_or_fail(QueuedJob job, const Agent& agent, const std::string& error_class,
                           const std::string& message, bool blame,
                           std::vector<BrokerEvent>& events) {
  if (finished_.contains(job.job.job_id)) return;
  if (blame) {
    if (charges(agent, job)) ++job.failures;
    job.tried.insert(agent.id);
    job.last_failed = agent.id;
  }
  BrokerEvent ev = make_event(BrokerEvent::Kind::kJobRequeued, agent.id, agent.board);
  ev.job_id = job.job.job_id;
  ev.attempt = job.failures;
  ev.error_class = error_class;
  ev.message = message;
  if (job.failures >= options_.max_attempts) {
    ev.kind = BrokerEvent::Kind::kJobError;
    ev.message = "failed on " + std::to_string(job.failures) + " tries; last on " + agent.id +
                 ": " + message;
    finished_.insert(job.job.job_id);
  } else {
    queues_[agent.board].push_front(std::move(job));
  }
  events.push_back(std::move(ev));
}

void Broker::quarantine(Agent& agent, const std::string& reason, std::vector<BrokerEvent>& events) {
  if (quarantined_.contains(agent.id)) return;
  quarantined_[agent.id] = reason;
  std::fprintf(stderr, "hil-search: agent %s QUARANTINED: %s\n", printable(agent.id).c_str(),
               log_safe(reason).c_str());
  BrokerEvent ev = make_event(BrokerEvent::Kind::kAgentQuarantined, agent.id, agent.board);
  ev.user_id = agent.user_id;
  ev.message = reason;
  events.push_back(std::move(ev));
  if (agent.job && !agent.job->health) {
    QueuedJob q = std::move(agent.job->queued);
    agent.job.reset();
    retry_or_fail(std::move(q), agent, proto::kErrorAgentLost, "agent quarantined", false, events);
  }
}

void Broker::note_failure(Agent& agent, std::vector<BrokerEvent>& events) {
  if (++agent.consecutive_failures >= options_.quarantine_after)
    quarantine(agent, std::to_string(agent.consecutive_failures) + " jobs failed in a row", events);
}

bool Broker::receive(Incoming& in) {
  zmq::message_t part;
  if (!router_.recv(part, zmq::recv_flags::dontwait)) return false;
  in = Incoming{};
  in.identity = part.to_string();
  // What this sender may send: a peer that has not said HELLO only a small message.
  const bool known = agents_.contains(in.identity);
  const int64_t budget = known ? proto::kMaxMessageBytes : kMaxBytesBeforeHello;
  int64_t total = 0;
  // A multipart message arrives whole in libzmq, so each further recv is immediate; a frame past
  // the sender's budget is never copied, and nor is anything after it.
  while (part.more()) {
    if (!router_.recv(part, zmq::recv_flags::dontwait)) break;
    if (!in.refused.empty()) continue;
    if (in.frames.empty() && options_.curve_keys) {
      try {
        in.user_id = part.gets("User-Id");
      } catch (const zmq::error_t&) {
      }
    }
    total += static_cast<int64_t>(part.size());
    if (in.frames.size() >= proto::kMaxFrames) {
      in.refused = "more than " + std::to_string(proto::kMaxFrames) + " frames";
    } else if (total > budget) {
      in.refused = "message larger than " + std::to_string(budget) + " bytes" +
                   (known ? "" : " before HELLO");
    } else {
      in.frames.push_back(part.to_string());
    }
    if (!in.refused.empty()) in.frames.clear();
  }
  return true;
}

std::vector<BrokerEvent> Broker::poll(int timeout_ms) {
  std::vector<BrokerEvent> events;
  zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
  int wait_ms = std::min(timeout_ms, std::max(options_.heartbeat_ms / 2, 1));
  // Draining stops after half a heartbeat, so a burst of large messages cannot hold off the
  // heartbeats and leases below (tick) long enough for healthy agents to give up on the host.
  const auto drain_until =
      Clock::now() + std::chrono::milliseconds(wait_ms + std::max(options_.heartbeat_ms / 2, 1));
  for (int handled = 0; handled < 4096 && Clock::now() < drain_until; ++handled) {
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(wait_ms)) <= 0) break;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) break;  // a signal: the caller checks its stop flag
      throw;
    }
    wait_ms = 0;  // drain what is already there, then return
    Incoming in;
    if (!receive(in)) break;
    const std::string& identity = in.identity;
    if (auto it = agents_.find(identity); it != agents_.end()) it->second.last_heard = Clock::now();
    proto::Message message;
    try {
      if (!in.refused.empty()) throw ProtocolError("refused: " + in.refused);
      message = proto::decode(in.frames);
      handle(identity, in.user_id, message, events);
    } catch (const ProtocolError& e) {
      // Logged, but rate-limited per peer: a peer spraying garbage must not flood the terminal.
      ++rejected_;
      if (log_->allow(identity))
        std::fprintf(stderr, "hil-search: rejected a message from %s (%d so far): %s\n",
                     printable(identity).c_str(), rejected_, log_safe(e.what()).c_str());
      std::string job_id;
      if (auto it = message.body.find("job_id"); it != message.body.end() && it->is_string())
        job_id = it->get<std::string>().substr(0, 256);
      send(identity, proto::make_message(proto::ErrorReply{job_id, proto::kErrorBadRequest,
                                                           std::string(e.what()).substr(0, 1024)}));
    }
  }
  tick(events);
  dispatch(events);
  return events;
}

void Broker::handle_hello(const std::string& identity, const std::string& user_id,
                          const proto::Message& message, std::vector<BrokerEvent>& events) {
  const proto::Hello hello = proto::parse_hello(message);
  BrokerEvent ev = make_event(BrokerEvent::Kind::kAgentRefused, hello.agent_id, hello.board);
  ev.hello = hello;
  ev.user_id = user_id;
  auto refuse = [&](const char* error_class, const std::string& why) {
    ev.error_class = error_class;
    ev.message = why;
    send(identity, proto::make_message(proto::ErrorReply{"", error_class, why}));
    events.push_back(ev);
  };
  // A connection speaks only for itself: its routing id is the agent id, or the agent id and a
  // per-connection suffix ("<id>/<nonce>", what hil-agent uses, so that a second connection
  // claiming a live id reaches the broker and is refused and logged here instead of being
  // turned away unseen by libzmq).
  if (hello.agent_id.empty() ||
      (identity != hello.agent_id && identity.rfind(hello.agent_id + "/", 0) != 0))
    return refuse(proto::kErrorBadRequest, "HELLO names agent '" + hello.agent_id.substr(0, 64) +
                                               "' but the connection's routing id is '" +
                                               identity.substr(0, 64) +
                                               "': an agent speaks only for itself");
  if (hello.protocol_version != proto::kProtocolVersion)
    return refuse(proto::kErrorVersion, "protocol version mismatch: agent speaks " +
                                            std::to_string(hello.protocol_version) +
                                            ", host speaks " +
                                            std::to_string(proto::kProtocolVersion));
  auto board = boards_.find(hello.board);
  if (board == boards_.end())
    return refuse(proto::kErrorBadRequest, "board '" + hello.board + "' is not part of this run");
  if (auto why = proto::check_agent_against_board(board->second, hello.arch, hello.features,
                                                  hello.cores, hello.memory_bytes))
    return refuse(proto::kErrorBadRequest, *why);
  if (auto q = quarantined_.find(hello.agent_id); q != quarantined_.end())
    return refuse(proto::kErrorBadRequest, "agent is quarantined for this run: " + q->second);
  // Another connection already speaks for this id. If it is still there (a message to it can be
  // queued), this is a second live connection: refused and logged, the first keeps the id and
  // its job. If it is gone, this is the agent coming back on a new connection.
  if (auto r = routes_.find(hello.agent_id); r != routes_.end() && r->second != identity) {
    const std::string old_route = r->second;
    if (send(old_route, proto::make_message(proto::MessageType::kHeartbeat))) {
      if (log_->allow("second connection for " + hello.agent_id))
        std::fprintf(stderr,
                     "hil-search: refused a second connection (routing id %s) claiming agent %s, "
                     "which is connected; the first connection keeps it\n",
                     printable(identity).c_str(), printable(hello.agent_id).c_str());
      return refuse(proto::kErrorIdInUse,
                    "agent '" + hello.agent_id.substr(0, 64) +
                        "' is connected on another connection; say HELLO again later");
    }
    drop_agent(old_route, false, proto::kErrorAgentLost, "agent reconnected while running the job",
               events);
  }
  // A reconnecting agent starts clean: whatever it had in flight goes back to the queue, not
  // charged as a failed try (the agent lost its link, the job did nothing wrong).
  if (agents_.contains(identity)) {
    if (log_->allow(identity))
      std::fprintf(stderr, "hil-search: agent %s said HELLO again; it starts clean\n",
                   printable(hello.agent_id).c_str());
    drop_agent(identity, false, proto::kErrorAgentLost, "agent reconnected while running the job",
               events);
  }
  Agent agent;
  agent.id = hello.agent_id;
  agent.route = identity;
  agent.board = hello.board;
  agent.user_id = user_id;
  agent.healthy = !options_.health_check;
  agent.last_heard = Clock::now();
  agents_[identity] = std::move(agent);
  routes_[hello.agent_id] = identity;
  proto::Welcome welcome{options_.run, options_.heartbeat_ms, options_.liveness,
                         proto::agent_settings(board->second)};
  send(identity, proto::make_message(welcome));
  ev.kind = BrokerEvent::Kind::kAgentJoined;
  // The boards row tells what the board file says, never a peer's figures (an agent may report
  // more cores or features than its file; what it reports is checked above, not recorded).
  ev.hello->arch = board->second.arch;
  ev.hello->features = board->second.features;
  ev.hello->cores = board->second.cores;
  ev.hello->memory_bytes = static_cast<int64_t>(board->second.memory_mb) << 20;
  ev.hello->agent_version = hello.agent_version.substr(0, 128);
  events.push_back(std::move(ev));
}

void Broker::handle(const std::string& identity, const std::string& user_id,
                    const proto::Message& message, std::vector<BrokerEvent>& events) {
  using proto::MessageType;
  if (message.type == MessageType::kHello) return handle_hello(identity, user_id, message, events);
  auto it = agents_.find(identity);
  if (it == agents_.end()) {
    // A peer we do not know (the host restarted, or it was declared dead): it must HELLO again.
    if (message.type != MessageType::kBye && message.type != MessageType::kError)
      send(identity, proto::make_message(proto::ErrorReply{
                         "", proto::kErrorNotRegistered,
                         std::string(proto::to_string(message.type)) +
                             " from an agent that has not said HELLO; say HELLO again"}));
    return;
  }
  Agent& agent = it->second;
  switch (message.type) {
    case MessageType::kReady:
      if (agent.job) {
        // The agent dropped the job it was given (e.g. it restarted its session): try again.
        QueuedJob q = std::move(agent.job->queued);
        const bool health = agent.job->health;
        agent.job.reset();
        if (!health)
          retry_or_fail(std::move(q), agent, proto::kErrorAgentLost,
                        "agent said READY without finishing the job", true, events);
      }
      agent.abandoned_job.clear();
      agent.ready = true;
      break;
    case MessageType::kResult: {
      proto::Result result = proto::parse_result(message);
      finish_job(agent, result.job_id, true, result.measurement, nullptr, events);
      break;
    }
    case MessageType::kError: {
      const proto::ErrorReply error = proto::parse_error(message);
      if (error.job_id.empty()) {
        if (log_->allow(identity))
          std::fprintf(stderr, "hil-search: agent %s reports: [%s] %s\n",
                       printable(identity).c_str(), log_safe(error.error_class, 32).c_str(),
                       log_safe(error.message).c_str());
        break;
      }
      finish_job(agent, error.job_id, false, {}, &error, events);
      break;
    }
    case MessageType::kFetch: {
      const proto::Fetch fetch = proto::parse_fetch(message);
      std::optional<proto::ArtifactChunk> chunk;
      std::string why = "unknown artifact " + fetch.sha256 + " or offset " +
                        std::to_string(fetch.offset) + " beyond its end";
      bool host_fault = false;  // the file vanished or changed: not the peer's doing
      try {
        if (options_.artifacts)
          chunk = options_.artifacts->chunk(fetch.sha256, fetch.offset, fetch.max_bytes);
      } catch (const std::exception& e) {
        why = e.what();
        host_fault = true;
      }
      const std::string job_id = agent.job ? agent.job->queued.job.job_id : "";
      if (!chunk) {
        send(identity, proto::make_message(proto::ErrorReply{job_id, proto::kErrorArtifact, why}));
        // The host cannot serve its own job's artifact: no agent would do better, so the job
        // fails now (class artifact) rather than waiting for an agent that will never be ready.
        // A FETCH the host could serve but the peer asked wrongly (an offset past the end) is
        // the peer's failure: the job goes back to the queue like any failed try of that agent.
        if (agent.job && !agent.job->health && !host_fault) {
          InFlight flight = std::move(*agent.job);
          agent.job.reset();
          retry_or_fail(std::move(flight.queued), agent, proto::kErrorArtifact, why, true, events);
          note_failure(agent, events);
          break;
        }
        if (agent.job && !agent.job->health &&
            agent.job->queued.job.artifact_sha256 == fetch.sha256) {
          InFlight flight = std::move(*agent.job);
          agent.job.reset();  // the agent ends its download on the ERROR and says READY
          if (finished_.insert(job_id).second) {
            BrokerEvent ev = make_event(BrokerEvent::Kind::kJobError, agent.id, agent.board);
            ev.job_id = job_id;
            ev.attempt = flight.queued.failures + 1;
            ev.error_class = proto::kErrorArtifact;
            ev.message =
                "the host cannot serve artifact " + fetch.sha256.substr(0, 64) + ": " + why;
            events.push_back(std::move(ev));
          }
        }
        break;
      }
      // Transfer time is not run time: a chunk that advances the download renews the job's
      // lease; asking for the same bytes again does not (a FETCH loop cannot hold a job forever).
      if (agent.job &&
          fetch.offset + static_cast<int64_t>(chunk->data.size()) > agent.job->fetched_bytes) {
        agent.job->fetched_bytes = fetch.offset + static_cast<int64_t>(chunk->data.size());
        agent.job->deadline =
            Clock::now() +
            std::chrono::milliseconds(static_cast<int64_t>(options_.job_timeout_s * 1e3));
      }
      send(identity, proto::make_message(*chunk));
      break;
    }
    case MessageType::kHeartbeat:
      break;
    case MessageType::kBye: {
      if (log_->allow(identity))
        std::fprintf(stderr, "hil-search: agent %s left\n", printable(agent.id).c_str());
      events.push_back(make_event(BrokerEvent::Kind::kAgentLeft, agent.id, agent.board));
      drop_agent(identity, false, proto::kErrorAgentLost, "agent left", events);
      break;
    }
    default:
      throw ProtocolError(std::string("unexpected ") + proto::to_string(message.type) +
                          " from an agent");
  }
}

void Broker::finish_job(Agent& agent, const std::string& job_id, bool ok, const json& measurement,
                        const proto::ErrorReply* error, std::vector<BrokerEvent>& events) {
  if (!agent.job || agent.job->queued.job.job_id != job_id) {
    // Late (its lease expired and it was re-queued) or duplicate: never recorded twice.
    if (log_->allow(agent.id))
      std::fprintf(stderr, "hil-search: ignored a late or duplicate %s for job %s from %s\n",
                   ok ? "RESULT" : "ERROR", printable(job_id).c_str(), printable(agent.id).c_str());
    if (agent.abandoned_job == job_id) agent.abandoned_job.clear();
    return;
  }
  InFlight flight = std::move(*agent.job);
  agent.job.reset();
  if (flight.health) {
    if (ok && proto::health_answer_matches(measurement, flight.expected)) {
      agent.healthy = true;
    } else {
      quarantine(agent,
                 ok ? "health check answered " + measurement.dump().substr(0, 200) + ", expected " +
                          proto::to_json(flight.expected).dump()
                    : "health check failed: [" + error->error_class + "] " + error->message,
                 events);
    }
    return;
  }
  if (ok) {
    // A RESULT that does not decode or is implausible is refused, not stored: a failed try of
    // this agent (class bad-result, the message names the field), so another agent gets the job.
    try {
      proto::check_result(flight.queued.job.kind, measurement);
    } catch (const ProtocolError& e) {
      retry_or_fail(std::move(flight.queued), agent, proto::kErrorBadResult, e.what(), true,
                    events);
      note_failure(agent, events);
      return;
    }
    agent.consecutive_failures = 0;
    ++agent.results;
    for (const auto& id : flight.queued.bad_request_by)
      if (Agent* other = agent_named(id))
        quarantine(*other,
                   "answered bad-request to job " + job_id + ", which " + agent.id + " ran fine",
                   events);
    if (!finished_.insert(job_id).second) return;
    BrokerEvent ev = make_event(BrokerEvent::Kind::kResult, agent.id, agent.board);
    ev.user_id = agent.user_id;
    ev.job_id = job_id;
    ev.attempt = flight.queued.failures + 1;
    ev.measurement = measurement;
    events.push_back(std::move(ev));
    return;
  }
  if (error->error_class == proto::kErrorBadRequest) {
    // Usually the job itself is wrong and no other agent would do better. But a rogue agent could
    // answer bad-request to everything: while the board has a connected agent that has not tried
    // the job, that agent gets a second opinion; if it runs the job fine, every agent that
    // answered bad-request is quarantined. Only the last opinion fails the job.
    const bool second_opinion = [&] {
      for (const auto& [route, other] : agents_)
        if (other.board == agent.board && other.id != agent.id &&
            !quarantined_.contains(other.id) && !flight.queued.tried.contains(other.id))
          return true;
      return false;
    }();
    if (second_opinion) {
      flight.queued.bad_request_by.insert(agent.id);
      retry_or_fail(std::move(flight.queued), agent, error->error_class, error->message, true,
                    events);
      return;
    }
    finished_.insert(job_id);
    BrokerEvent ev = make_event(BrokerEvent::Kind::kJobError, agent.id, agent.board);
    ev.job_id = job_id;
    ev.attempt = flight.queued.failures + 1;
    ev.error_class = error->error_class;
    ev.message = error->message;
    events.push_back(std::move(ev));
    return;
  }
  retry_or_fail(std::move(flight.queued), agent, error->error_class, error->message, true, events);
  note_failure(agent, events);
}

void Broker::tick(std::vector<BrokerEvent>& events) {
  const auto now = Clock::now();
  const auto dead_after =
      std::chrono::milliseconds(int64_t{options_.heartbeat_ms} * options_.liveness);
  const auto interval = std::chrono::milliseconds(options_.heartbeat_ms);
  std::vector<std::string> dead;
  for (auto& [route, agent] : agents_) {
    if (now - agent.last_heard > dead_after) {
      dead.push_back(route);
      continue;
    }
    // An agent whose lease expired owes a READY; one that stays not ready for another lease
    // is stuck (e.g. a hung job thread) and would hold its board forever.
    if (!agent.abandoned_job.empty() && !agent.ready &&
        now - agent.abandoned_at >
            std::chrono::milliseconds(static_cast<int64_t>(options_.job_timeout_s * 1e3))) {
      quarantine(agent,
                 "stayed not ready for " + std::to_string(options_.job_timeout_s) +
                     " s after the lease of job " + agent.abandoned_job + " expired",
                 events);
      agent.abandoned_job.clear();
    }
    if (agent.job && now > agent.job->deadline) {
      InFlight flight = std::move(*agent.job);
      agent.job.reset();
      const std::string why = "ran longer than " + std::to_string(options_.job_timeout_s) +
                              " s on agent " + printable(agent.id);
      if (flight.health) {
        quarantine(agent, "health check timed out", events);
        continue;
      }
      agent.abandoned_job = flight.queued.job.job_id;
      agent.abandoned_at = now;
      agent.ready = false;
      retry_or_fail(std::move(flight.queued), agent, proto::kErrorTimeout, why, true, events);
      note_failure(agent, events);
    }
    if (now - agent.last_sent >= interval)
      send(route, proto::make_message(proto::MessageType::kHeartbeat));
  }
  for (const auto& route : dead) {
    const Agent& agent = agents_.at(route);
    const std::string id = agent.id;
    std::fprintf(stderr, "hil-search: agent %s missed %d heartbeats: dead%s\n",
                 printable(id).c_str(), options_.liveness,
                 agent.job ? ", its job goes back to the queue" : "");
    BrokerEvent ev = make_event(BrokerEvent::Kind::kAgentLost, id, agent.board);
    ev.message = "missed " + std::to_string(options_.liveness) + " heartbeats";
    events.push_back(std::move(ev));
    drop_agent(route, true, proto::kErrorAgentLost,
               "agent " + printable(id) + " stopped heartbeating mid-job", events);
  }
}

void Broker::dispatch(std::vector<BrokerEvent>& events) {
  const auto lease =
      std::chrono::milliseconds(static_cast<int64_t>(options_.job_timeout_s * 1000.0));
  std::vector<std::string> unreachable;
  // Idle agents per board, least recently used first (spreads jobs across a kind's agents).
  std::map<std::string, std::vector<Agent*>> idle;
  for (auto& [route, agent] : agents_) {
    if (!agent.ready || agent.job || !agent.abandoned_job.empty() ||
        quarantined_.contains(agent.id))
      continue;
    if (!agent.healthy) {
      // The health check goes first: a known tiny job with a known answer.
      InFlight flight;
      flight.health = true;
      flight.queued.job.job_id = "health-" + agent.id + "-" + std::to_string(++agent.health_checks);
      flight.queued.job.kind = proto::kHealthCheckKind;
      flight.queued.job.config = proto::health_check_config(health_seed_++);
      flight.expected = proto::compute_health_answer(flight.queued.job.config);
      flight.deadline = Clock::now() + lease;
      const proto::Message m = proto::make_message(flight.queued.job);
      agent.job = std::move(flight);
      agent.ready = false;
      if (!send(route, m)) unreachable.push_back(route);
      continue;
    }
    idle[agent.board].push_back(&agent);
  }
  for (auto& [board, agents] : idle) {
    auto& queue = queues_[board];
    std::sort(agents.begin(), agents.end(),
              [](const Agent* a, const Agent* b) { return a->last_dispatch < b->last_dispatch; });
    while (!queue.empty() && !agents.empty()) {
      // The first job some idle agent may take. An agent that has not failed it is preferred;
      // a job that failed before waits for an untried agent that has delivered results, when
      // the board has one (so fresh peers cannot bounce it between themselves), and goes back to
      // an agent that failed it only when every connected agent has tried it, never to the one
      // that failed it last while the board has another agent.
      const bool alone = agents_of(board) <= 1;
      auto job_it = queue.begin();
      auto pick = agents.end();
      for (; job_it != queue.end(); ++job_it) {
        const QueuedJob& next = *job_it;
        bool untried_exists = false, proven_exists = false;
        for (const auto& [route, a] : agents_)
          if (a.board == board && !quarantined_.contains(a.id) && !next.tried.contains(a.id)) {
            untried_exists = true;
            proven_exists |= a.results > 0 && !next.tried.empty();
          }
        for (auto it = agents.begin(); it != agents.end(); ++it)
          if (!next.tried.contains((*it)->id) && (!proven_exists || (*it)->results > 0) &&
              (pick == agents.end() || (*it)->results > (*pick)->results))
            pick = it;
        if (pick == agents.end() && !untried_exists)
          pick = std::find_if(agents.begin(), agents.end(),
                              [&](const Agent* a) { return alone || a->id != next.last_failed; });
        if (pick != agents.end()) break;
      }
      if (job_it == queue.end()) break;  // the idle agents just failed every queued job
      Agent& agent = **pick;
      agents.erase(pick);
      InFlight flight;
      flight.queued = std::move(*job_it);
      queue.erase(job_it);
      flight.deadline = Clock::now() + lease;
      BrokerEvent ev = make_event(BrokerEvent::Kind::kJobStarted, agent.id, board);
      ev.user_id = agent.user_id;
      ev.job_id = flight.queued.job.job_id;
      ev.attempt = flight.queued.failures + 1;
      const proto::Message m = proto::make_message(flight.queued.job);
      agent.job = std::move(flight);
      agent.ready = false;
      agent.last_dispatch = Clock::now();
      if (send(agent.route, m))
        events.push_back(std::move(ev));
      else
        unreachable.push_back(agent.route);
    }
  }
  for (const auto& id : unreachable)
    drop_agent(id, false, proto::kErrorAgentLost, "agent unreachable", events);
}

int Broker::agents_of(const std::string& board) const {
  int n = 0;
  for (const auto& [route, agent] : agents_)
    n += agent.board == board && !quarantined_.contains(agent.id);
  return n;
}

size_t Broker::outstanding(const std::string& board) const {
  size_t n = 0;
  if (auto q = queues_.find(board); q != queues_.end()) n += q->second.size();
  for (const auto& [id, agent] : agents_)
    n += agent.board == board && agent.job.has_value() && !agent.job->health;
  return n;
}

size_t Broker::outstanding() const {
  size_t n = 0;
  for (const auto& [name, spec] : boards_) n += outstanding(name);
  return n;
}

void Broker::send_bye_to_all() {
  std::vector<std::string> ids;
  for (const auto& [id, agent] : agents_) ids.push_back(id);
  for (const auto& id : ids) send(id, proto::make_message(proto::MessageType::kBye));
}

}  // namespace hilq::host
