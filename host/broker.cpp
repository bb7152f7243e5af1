// ROUTER-side broker (see broker.h).
#include "host/broker.h"

#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace hilq::host {
namespace {

namespace proto = hilq::protocol;

BrokerEvent make_event(BrokerEvent::Kind kind, const std::string& agent_id,
                       const std::string& board) {
  BrokerEvent ev;
  ev.kind = kind;
  ev.agent_id = agent_id;
  ev.board = board;
  return ev;
}

std::string printable(const std::string& id) {
  std::string out;
  for (unsigned char c : id) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return out;
}

}  // namespace

Broker::Broker(const std::string& bind_endpoint, std::map<std::string, proto::BoardSpec> boards)
    : context_(1), router_(context_, zmq::socket_type::router), boards_(std::move(boards)) {
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::linger, 0);
  router_.set(zmq::sockopt::maxmsgsize, proto::kMaxMessageBytes);
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
  queues_.at(board).push_back(std::move(job));
}

bool Broker::send(const std::string& identity, const proto::Message& message) {
  const proto::Frames frames = proto::encode(message);
  try {
    router_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames.size(); ++i)
      router_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    // ROUTER_MANDATORY turns a silent drop into this error: the peer is gone.
    std::fprintf(stderr, "hil-search: cannot reach agent %s: %s\n", printable(identity).c_str(),
                 e.what());
    return false;
  }
  return true;
}

void Broker::drop_agent(const std::string& identity) {
  auto it = agents_.find(identity);
  if (it == agents_.end()) return;
  if (it->second.job) queues_[it->second.board].push_front(std::move(*it->second.job));
  agents_.erase(it);
}

std::vector<BrokerEvent> Broker::poll(int timeout_ms) {
  std::vector<BrokerEvent> events;
  zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
  int wait_ms = timeout_ms;
  auto ready = [&] {
    try {
      return zmq::poll(&item, 1, std::chrono::milliseconds(wait_ms)) > 0;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return false;  // a signal: the caller checks its stop flag
      throw;
    }
  };
  while (ready()) {
    std::vector<std::string> frames;
    zmq::message_t part;
    do {
      if (!router_.recv(part, zmq::recv_flags::dontwait)) break;
      frames.emplace_back(part.to_string());
    } while (part.more());
    if (frames.empty()) break;
    const std::string identity = frames.front();
    proto::Message message;
    try {
      message = proto::decode(proto::Frames(frames.begin() + 1, frames.end()));
      handle(identity, message, events);
    } catch (const ProtocolError& e) {
      std::fprintf(stderr, "hil-search: rejected a message from %s: %s\n",
                   printable(identity).c_str(), e.what());
      std::string job_id;
      if (auto it = message.body.find("job_id"); it != message.body.end() && it->is_string())
        job_id = it->get<std::string>();
      send(identity,
           proto::make_message(proto::ErrorReply{job_id, proto::kErrorBadRequest, e.what()}));
    }
    wait_ms = 0;  // drain what is already there, then return
  }
  dispatch(events);
  return events;
}

void Broker::handle(const std::string& identity, const proto::Message& message,
                    std::vector<BrokerEvent>& events) {
  using proto::MessageType;
  if (message.type == MessageType::kHello) {
    const proto::Hello hello = proto::parse_hello(message);
    BrokerEvent ev = make_event(BrokerEvent::Kind::kAgentRefused, hello.agent_id, hello.board);
    ev.hello = hello;
    auto refuse = [&](const char* error_class, const std::string& why) {
      ev.error_class = error_class;
      ev.message = why;
      send(identity, proto::make_message(proto::ErrorReply{"", error_class, why}));
      events.push_back(ev);
    };
    if (hello.protocol_version != proto::kProtocolVersion)
      return refuse(proto::kErrorVersion,
                    "protocol version mismatch: agent speaks " +
                        std::to_string(hello.protocol_version) + ", host speaks " +
                        std::to_string(proto::kProtocolVersion));
    auto board = boards_.find(hello.board);
    if (board == boards_.end())
      return refuse(proto::kErrorBadRequest,
                    "board '" + hello.board + "' is not part of this run");
    if (auto why = proto::check_agent_against_board(board->second, hello.arch, hello.features,
                                                    hello.cores, hello.memory_bytes))
      return refuse(proto::kErrorBadRequest, *why);
    // A reconnecting agent starts clean: whatever it had in flight is given back to the queue.
    if (auto old = agents_.find(identity); old != agents_.end() && old->second.job) {
      std::fprintf(stderr, "hil-search: agent %s reconnected with job %s in flight; re-queued\n",
                   printable(identity).c_str(), old->second.job->job_id.c_str());
      queues_[old->second.board].push_front(std::move(*old->second.job));
    }
    agents_[identity] = Agent{identity, hello.board, false, std::nullopt};
    send(identity, proto::make_message(proto::Welcome{"", 1000}));
    ev.kind = BrokerEvent::Kind::kAgentJoined;
    events.push_back(ev);
    return;
  }
  auto it = agents_.find(identity);
  if (it == agents_.end())
    throw ProtocolError(std::string(proto::to_string(message.type)) + " before HELLO");
  Agent& agent = it->second;
  switch (message.type) {
    case MessageType::kReady:
      agent.idle = true;
      break;
    case MessageType::kResult: {
      proto::Result result = proto::parse_result(message);
      if (!agent.job || agent.job->job_id != result.job_id) {
        std::fprintf(stderr, "hil-search: ignored a RESULT for job %s that %s was not running\n",
                     result.job_id.c_str(), printable(identity).c_str());
        break;
      }
      agent.job.reset();
      BrokerEvent ev = make_event(BrokerEvent::Kind::kResult, agent.id, agent.board);
      ev.job_id = result.job_id;
      ev.measurement = std::move(result.measurement);
      events.push_back(std::move(ev));
      break;
    }
    case MessageType::kError: {
      const proto::ErrorReply error = proto::parse_error(message);
      if (!agent.job || agent.job->job_id != error.job_id) {
        std::fprintf(stderr, "hil-search: agent %s reports: [%s] %s\n",
                     printable(identity).c_str(), error.error_class.c_str(),
                     error.message.c_str());
        break;
      }
      agent.job.reset();
      BrokerEvent ev = make_event(BrokerEvent::Kind::kJobError, agent.id, agent.board);
      ev.job_id = error.job_id;
      ev.error_class = error.error_class;
      ev.message = error.message;
      events.push_back(std::move(ev));
      break;
    }
    case MessageType::kHeartbeat:
      break;
    case MessageType::kBye:
      std::fprintf(stderr, "hil-search: agent %s left\n", printable(identity).c_str());
      drop_agent(identity);
      break;
    default:
      throw ProtocolError(std::string("unexpected ") + proto::to_string(message.type) +
                          " from an agent");
  }
}

void Broker::dispatch(std::vector<BrokerEvent>& events) {
  std::vector<std::string> unreachable;
  for (auto& [id, agent] : agents_) {
    if (!agent.idle || agent.job) continue;
    auto& queue = queues_[agent.board];
    if (queue.empty()) continue;
    proto::Job job = std::move(queue.front());
    queue.pop_front();
    agent.idle = false;
    const proto::Message message = proto::make_message(job);
    BrokerEvent ev = make_event(BrokerEvent::Kind::kJobStarted, id, agent.board);
    ev.job_id = job.job_id;
    agent.job = std::move(job);
    if (send(id, message))
      events.push_back(std::move(ev));
    else
      unreachable.push_back(id);
  }
  for (const auto& id : unreachable) drop_agent(id);
}

int Broker::agents_of(const std::string& board) const {
  int n = 0;
  for (const auto& [id, agent] : agents_) n += agent.board == board;
  return n;
}

size_t Broker::outstanding(const std::string& board) const {
  size_t n = 0;
  if (auto q = queues_.find(board); q != queues_.end()) n += q->second.size();
  for (const auto& [id, agent] : agents_) n += agent.board == board && agent.job.has_value();
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
