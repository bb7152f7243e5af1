// Worker loop of hil-agent (see worker.h).
#include "agent/worker.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <zmq.hpp>

#include "agent/kernel_bench.h"
#include "agent/measure.h"
#include "agent/protocol/message.h"
#include "kernels/cpu_features.h"

namespace hilq::agent {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;

std::atomic<bool> g_stop{false};

void send(zmq::socket_t& socket, const proto::Message& message) {
  const proto::Frames frames = proto::encode(message);
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    socket.send(zmq::buffer(frames[i]), flags);
  }
}

// Receives one multipart message if one arrives within timeout_ms.
bool receive(zmq::socket_t& socket, int timeout_ms, proto::Frames& frames) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return false;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;  // a signal: the loop checks its stop flag
    throw;
  }
  frames.clear();
  zmq::message_t part;
  do {
    if (!socket.recv(part, zmq::recv_flags::none)) return false;
    frames.emplace_back(part.to_string());
  } while (part.more());
  return true;
}

std::string default_agent_id(const std::string& board) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return board + "-" + host + "-" + std::to_string(getpid());
}

proto::Message run_job(const proto::Job& job) {
  try {
    if (job.kind != "kernel-bench")
      return proto::make_message(proto::ErrorReply{
          job.job_id, proto::kErrorBadRequest,
          "job kind '" + job.kind + "' is not supported by this agent (supported: kernel-bench)"});
    json measurement = run_kernel_bench(job.config, job.repeat);
    measurement["power"] = {
        {"available", false},
        {"reason", "this agent version has no power sensor backend; energy is not measured"}};
    return proto::make_message(proto::Result{job.job_id, std::move(measurement)});
  } catch (const BadJobConfig& e) {
    return proto::make_message(proto::ErrorReply{job.job_id, proto::kErrorBadRequest, e.what()});
  } catch (const std::exception& e) {
    return proto::make_message(proto::ErrorReply{job.job_id, proto::kErrorRuntime, e.what()});
  }
}

}  // namespace

void request_agent_stop() { g_stop.store(true); }

int run_agent(const AgentOptions& options) {
  const std::string agent_id =
      options.agent_id.empty() ? default_agent_id(options.board) : options.agent_id;
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::routing_id, agent_id);
  socket.set(zmq::sockopt::linger, 1000);
  socket.set(zmq::sockopt::maxmsgsize, proto::kMaxMessageBytes);
  socket.connect(options.endpoint);

  proto::Hello hello;
  hello.agent_id = agent_id;
  hello.board = options.board;
  hello.arch = kernels::build_arch();
  hello.features = kernels::cpu_features().names();
  hello.cores = online_cores();
  hello.memory_bytes = total_memory_bytes();
  hello.agent_version = HILQ_VERSION;
  send(socket, proto::make_message(hello));
  std::fprintf(stderr, "hil-agent %s: connected to %s as board '%s'\n", agent_id.c_str(),
               options.endpoint.c_str(), options.board.c_str());

  bool welcomed = false;
  auto last_heard = std::chrono::steady_clock::now();
  proto::Frames frames;
  while (!g_stop.load()) {
    if (!receive(socket, 100, frames)) {
      const double silent =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - last_heard).count();
      if (silent > options.host_timeout_s) {
        std::fprintf(stderr, "hil-agent %s: host silent for %.0f s, giving up\n", agent_id.c_str(),
                     silent);
        return 1;
      }
      continue;
    }
    last_heard = std::chrono::steady_clock::now();
    proto::Message message;
    try {
      message = proto::decode(frames);
    } catch (const ProtocolError& e) {
      std::fprintf(stderr, "hil-agent %s: dropped a malformed message: %s\n", agent_id.c_str(),
                   e.what());
      send(socket, proto::make_message(proto::ErrorReply{"", proto::kErrorBadRequest, e.what()}));
      continue;
    }
    try {
      switch (message.type) {
        case proto::MessageType::kWelcome:
          proto::parse_welcome(message);
          welcomed = true;
          send(socket, proto::make_message(proto::MessageType::kReady));
          break;
        case proto::MessageType::kJob: {
          if (!welcomed) throw ProtocolError("JOB before WELCOME");
          const proto::Job job = proto::parse_job(message);
          send(socket, run_job(job));
          send(socket, proto::make_message(proto::MessageType::kReady));
          break;
        }
        case proto::MessageType::kError: {
          const proto::ErrorReply e = proto::parse_error(message);
          std::fprintf(stderr, "hil-agent %s: host refused: [%s] %s\n", agent_id.c_str(),
                       e.error_class.c_str(), e.message.c_str());
          if (!welcomed) return 1;
          break;
        }
        case proto::MessageType::kHeartbeat:
          send(socket, proto::make_message(proto::MessageType::kHeartbeat));
          break;
        case proto::MessageType::kBye:
          std::fprintf(stderr, "hil-agent %s: host said BYE, exiting\n", agent_id.c_str());
          return 0;
        default:
          throw ProtocolError(std::string("unexpected ") + proto::to_string(message.type) +
                              " from the host");
      }
    } catch (const ProtocolError& e) {
      std::fprintf(stderr, "hil-agent %s: rejected a message: %s\n", agent_id.c_str(), e.what());
      std::string job_id;
      if (auto it = message.body.find("job_id"); it != message.body.end() && it->is_string())
        job_id = it->get<std::string>();
      send(socket,
           proto::make_message(proto::ErrorReply{job_id, proto::kErrorBadRequest, e.what()}));
      if (message.type == proto::MessageType::kJob && welcomed)
        send(socket, proto::make_message(proto::MessageType::kReady));
    }
  }
  send(socket, proto::make_message(proto::MessageType::kBye));
  std::fprintf(stderr, "hil-agent %s: stopped by signal\n", agent_id.c_str());
  return 0;
}

}  // namespace hilq::agent
