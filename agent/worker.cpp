// Worker loop of hil-agent (see worker.h).
#include "agent/worker.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <random>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "agent/artifact_cache.h"
#include "agent/job_runner.h"
#include "agent/measure.h"
#include "agent/sysinfo.h"
#include "base/log.h"
#include "kernels/cpu_features.h"
#include "protocol/curve_keys.h"
#include "protocol/health_check.h"
#include "protocol/message.h"

namespace hilq::agent {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void send(zmq::socket_t& socket, const proto::Message& message) {
  const proto::Frames frames = proto::encode(message);
  std::vector<zmq::const_buffer> parts;
  for (const auto& frame : frames) parts.push_back(zmq::buffer(frame));
  (void)zmq::send_multipart(socket, parts, zmq::send_flags::dontwait);
}

// Reads one multipart message if one is waiting.
bool receive(zmq::socket_t& socket, proto::Frames& frames) {
  frames.clear();
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait))
    return false;
  for (const auto& part : parts) frames.emplace_back(part.to_string());
  return true;
}

// The routing id of one connection: the agent id and a fresh random suffix. The host keys a
// connection by it, so a second connection claiming this agent's id reaches the host (which refuses
// and logs it) instead of being turned away unseen by libzmq, and no other process can guess the
// routing id of this very connection.
std::string connection_routing_id(const std::string& id) {
  constexpr size_t kMaxRoutingId = 255;
  if (id.size() + 17 > kMaxRoutingId) return id;
  std::random_device device;
  const uint64_t nonce = (uint64_t{device()} << 32) ^ device();
  char suffix[18];
  std::snprintf(suffix, sizeof(suffix), "/%016llx", static_cast<unsigned long long>(nonce));
  return id + suffix;
}

std::string default_agent_id(const std::string& board) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return board + "-" + host + "-" + std::to_string(getpid());
}

}  // namespace

void request_agent_stop() { g_stop.store(true); }

namespace {

// One agent process: the socket of the current connection plus what outlives reconnects.
class Agent {
 public:
  explicit Agent(const AgentOptions& o)
      : opt_(o),
        id_(o.agent_id.empty() ? default_agent_id(o.board) : o.agent_id),
        runner_(FaultInjection{o.fault, o.test_slowdown_pct / 100.0}),
        cache_(o.cache_dir.empty() ? ArtifactCache::default_dir() : o.cache_dir,
               o.cache_limit_bytes) {
    if (!o.curve_key_file.empty()) {
      keys_ = proto::load_key_file(o.curve_key_file);
      server_key_ = proto::load_public_key(o.server_key);
    } else if (const char* env = std::getenv(proto::kSessionKeysEnv)) {
      // Keys for this run only, from the hil-search that started this agent (its environment is
      // readable by this user alone). Taken out of the environment so no child process sees them.
      const proto::SessionKeys k = proto::parse_session_keys(env);
      keys_ = k.agent;
      server_key_ = k.server_public_z85;
      unsetenv(proto::kSessionKeysEnv);
    }
    hello_.agent_id = id_;
    hello_.board = o.board;
    hello_.arch = kernels::build_arch();
    hello_.features = kernels::cpu_features().names();
    hello_.cores = online_cores();
    hello_.memory_bytes = total_memory_bytes();
    hello_.power_backends = {"rapl", "hwmon", "pi5-pmic", "android", "none"};
    hello_.agent_version = HILQ_VERSION "+" HILQ_GIT_SHA;
  }

  int run() {
    int backoff_ms = opt_.reconnect_initial_ms;
    last_heard_any_ = Clock::now();
    while (!g_stop.load()) {
      const Outcome outcome = session();
      if (outcome == Outcome::kBye || outcome == Outcome::kStopped) return 0;
      if (outcome == Outcome::kRefused || outcome == Outcome::kGaveUp) return 1;
      // kHostSilent: back off, then reconnect with a fresh socket and HELLO.
      if (welcomed_once_) backoff_ms = opt_.reconnect_initial_ms;
      welcomed_once_ = false;
      std::fprintf(stderr, "hil-agent %s: reconnecting in %d ms\n", id_.c_str(), backoff_ms);
      const auto until = Clock::now() + std::chrono::milliseconds(backoff_ms);
      while (Clock::now() < until && !g_stop.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      backoff_ms = std::min(backoff_ms * 2, opt_.reconnect_max_ms);
    }
    return 0;
  }

 private:
  enum class Outcome { kBye, kStopped, kRefused, kGaveUp, kHostSilent };

  zmq::socket_t connect() {
    zmq::socket_t s(context_, zmq::socket_type::dealer);
    s.set(zmq::sockopt::routing_id, connection_routing_id(id_));
    s.set(zmq::sockopt::linger, 200);
    s.set(zmq::sockopt::maxmsgsize, proto::kMaxMessageBytes);
    if (keys_) {
      s.set(zmq::sockopt::curve_serverkey, server_key_);
      s.set(zmq::sockopt::curve_publickey, keys_->public_z85);
      s.set(zmq::sockopt::curve_secretkey, keys_->secret_z85);
    }
    s.connect(opt_.endpoint);
    return s;
  }

  void new_epoch() {
    ++epoch_;
    fetching_.reset();
    cache_.abort();
    welcomed_ = false;
  }

  void say_hello(zmq::socket_t& s) {
    send(s, proto::make_message(hello_));
    hello_sent_ = Clock::now();
  }

  void maybe_ready(zmq::socket_t& s) {
    if (welcomed_ && !runner_.busy() && !fetching_)
      send(s, proto::make_message(proto::MessageType::kReady));
  }

  void start_job(zmq::socket_t& s, proto::Job job) {
    if (job.kind != proto::kHealthCheckKind) ++measured_jobs_;
    if (job.artifact_sha256.empty()) return runner_.start(std::move(job), "", epoch_);
    if (auto path = cache_.lookup(job.artifact_sha256))
      return runner_.start(std::move(job), *path, epoch_);
    cache_.begin(job.artifact_sha256);
    send(s, proto::make_message(proto::Fetch{job.artifact_sha256, 0, proto::kArtifactChunkBytes}));
    fetching_ = std::move(job);
    fetch_progress_ = Clock::now();
  }

  // Ends the download in progress with an ERROR of class artifact and takes work again.
  void abandon_fetch(zmq::socket_t& s, const std::string& why) {
    const std::string job_id = fetching_->job_id;
    fetching_.reset();
    cache_.abort();
    send(s, proto::make_message(proto::ErrorReply{job_id, proto::kErrorArtifact, why}));
    maybe_ready(s);
  }

  void on_artifact(zmq::socket_t& s, const proto::Message& m) {
    const proto::ArtifactChunk chunk = proto::parse_artifact(m);
    if (!fetching_) throw ProtocolError("ARTIFACT while no artifact was asked for");
    fetch_progress_ = Clock::now();
    try {
      if (!cache_.append(chunk)) {
        send(s, proto::make_message(proto::Fetch{chunk.sha256, cache_.received_bytes(),
                                                 proto::kArtifactChunkBytes}));
        return;
      }
      const std::string path = cache_.finish();
      proto::Job job = std::move(*fetching_);
      fetching_.reset();
      runner_.start(std::move(job), path, epoch_);
    } catch (const ArtifactError& e) {
      abandon_fetch(s, e.what());
    }
  }

  void on_welcome(zmq::socket_t& s, const proto::Message& m) {
    const proto::Welcome w = proto::parse_welcome(m);
    heartbeat_ms_ = w.heartbeat_ms;
    liveness_ = w.liveness;
    MeasureSettings st;
    if (auto p = w.board.find("power"); p != w.board.end() && p->is_object()) {
      st.power_backend = p->value("backend", "none");
      st.power_options = *p;
      // The host names a sensor; the command that reads it is the board's own (--power-command),
      // never text from the network.
      if (st.power_options.erase("command") > 0 && !warned_power_command_) {
        warned_power_command_ = true;
        std::fprintf(stderr,
                     "hil-agent %s: ignoring the host's power.command: sensor commands are set "
                     "on the board (--power-command)\n",
                     id_.c_str());
      }
    }
    if (auto it = w.board.find("idle_s"); it != w.board.end() && it->is_number())
      st.idle_s = std::clamp(it->get<double>(), 0.0, 10.0);
    std::string pin = opt_.pin;
    if (pin.empty())
      if (auto it = w.board.find("pin"); it != w.board.end() && it->is_string()) pin = *it;
    if (!pin.empty()) {
      try {
        st.pin_cpus = parse_cpu_list(pin);
      } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "hil-agent %s: not pinning: %s\n", id_.c_str(),
                     log_safe(e.what()).c_str());
      }
    }
    if (!opt_.power_command.empty()) st.pmic_command = opt_.power_command;
    if (st.power_backend == "pi5-pmic") st.throttled_command = {"vcgencmd", "get_throttled"};
    st.power_override = opt_.power_override;
    const std::string power_note = runner_.configure(st);
    if (!welcomed_)
      std::fprintf(stderr, "hil-agent %s: welcomed (heartbeat %d ms, liveness %d)%s%s\n",
                   id_.c_str(), heartbeat_ms_, liveness_, power_note.empty() ? "" : "; ",
                   power_note.c_str());
    welcomed_ = welcomed_once_ = true;
    maybe_ready(s);
  }

  // Watches the handshake of socket `s`: libzmq reports a CURVE refusal (the host's ZAP handler
  // denied this key) or a mechanism mismatch only as a socket event, never as a message.
  zmq::socket_t watch_handshake(zmq::socket_t& s) {
    const std::string address = "inproc://hil-agent-monitor-" + std::to_string(++monitors_);
    if (zmq_socket_monitor(s.handle(), address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
      throw zmq::error_t();
    zmq::socket_t monitor(context_, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(address);
    return monitor;
  }

  // Says once per failure kind why the host never answers: the handshake itself failed.
  void on_monitor_event(zmq::socket_t& monitor) {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(monitor, std::back_inserter(parts), zmq::recv_flags::dontwait) ||
        parts.empty() || parts[0].size() < 6)
      return;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, parts[0].data(), sizeof(event));
    std::memcpy(&value, static_cast<const char*>(parts[0].data()) + 2, sizeof(value));
    std::string why;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
      why = "the host refused this agent's CURVE key (ZAP status " + std::to_string(value) +
            "): authentication is the likely cause; is this agent's public key in the host's "
            "--allow list, and --server-key the host's public key?";
    else
      why = std::string("the handshake with the host failed (") +
            (keys_ ? "this agent uses CURVE" : "this agent does not use CURVE") +
            "): authentication is the likely cause; the host and the agent must both use "
            "CURVE (--curve-key and --server-key here) or both not";
    if (why == handshake_failure_) return;
    handshake_failure_ = why;
    std::fprintf(stderr, "hil-agent %s: %s\n", id_.c_str(), why.c_str());
  }

  Outcome session() {
    zmq::socket_t s = connect();
    zmq::socket_t monitor = watch_handshake(s);
    new_epoch();
    heartbeat_ms_ = opt_.heartbeat_ms;
    liveness_ = opt_.liveness;
    say_hello(s);
    std::fprintf(stderr, "hil-agent %s: connected to %s as board '%s'\n", id_.c_str(),
                 opt_.endpoint.c_str(), opt_.board.c_str());
    auto last_heard = Clock::now();
    auto next_heartbeat = Clock::now() + std::chrono::milliseconds(heartbeat_ms_);
    proto::Frames frames;
    while (!g_stop.load()) {
      zmq::pollitem_t items[] = {{s.handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, runner_.notify_fd(), ZMQ_POLLIN, 0},
                                 {monitor.handle(), 0, ZMQ_POLLIN, 0}};
      const auto wait = std::clamp<int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(next_heartbeat - Clock::now())
              .count(),
          0, 100);
      try {
        zmq::poll(items, 3, std::chrono::milliseconds(wait));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
      if (items[2].revents & ZMQ_POLLIN) on_monitor_event(monitor);
      if (items[1].revents & ZMQ_POLLIN) {
        if (auto done = runner_.take()) {
          if (done->epoch == epoch_ && welcomed_) {
            send(s, done->reply);
            // --max-jobs: a fresh process (memory layout, placement) for the next jobs.
            if (opt_.max_jobs > 0 && measured_jobs_ >= opt_.max_jobs && !runner_.busy()) {
              send(s, proto::make_message(proto::MessageType::kBye));
              std::fprintf(stderr, "hil-agent %s: ran %d jobs (--max-jobs), exiting\n", id_.c_str(),
                           measured_jobs_);
              return Outcome::kBye;
            }
          } else {
            std::fprintf(stderr,
                         "hil-agent %s: dropped the result of a job from an earlier "
                         "connection\n",
                         id_.c_str());
          }
          maybe_ready(s);
        }
      }
      for (int drained = 0; drained < 256 && receive(s, frames); ++drained) {
        last_heard = last_heard_any_ = Clock::now();
        if (auto outcome = handle(s, frames)) return *outcome;
      }
      if (fetching_ && seconds_since(fetch_progress_) > opt_.fetch_timeout_s) {
        std::fprintf(stderr, "hil-agent %s: no artifact chunk for %.0f s, giving up job %s\n",
                     id_.c_str(), opt_.fetch_timeout_s, log_safe(fetching_->job_id, 64).c_str());
        abandon_fetch(s, "no artifact chunk for " + std::to_string(opt_.fetch_timeout_s) + " s");
      }
      if (Clock::now() >= next_heartbeat) {
        send(s, proto::make_message(proto::MessageType::kHeartbeat));
        next_heartbeat = Clock::now() + std::chrono::milliseconds(heartbeat_ms_);
      }
      if (seconds_since(last_heard_any_) > opt_.host_timeout_s) {
        std::fprintf(stderr, "hil-agent %s: host silent for %.0f s, giving up%s%s\n", id_.c_str(),
                     seconds_since(last_heard_any_), handshake_failure_.empty() ? "" : ": ",
                     handshake_failure_.c_str());
        return Outcome::kGaveUp;
      }
      if (seconds_since(last_heard) * 1000.0 > static_cast<double>(heartbeat_ms_) * liveness_) {
        std::fprintf(stderr, "hil-agent %s: host missed %d heartbeats\n", id_.c_str(), liveness_);
        return Outcome::kHostSilent;
      }
    }
    if (welcomed_) send(s, proto::make_message(proto::MessageType::kBye));
    std::fprintf(stderr, "hil-agent %s: stopped by signal\n", id_.c_str());
    return Outcome::kStopped;
  }

  // Handles one message; returns an outcome when the session ends.
  std::optional<Outcome> handle(zmq::socket_t& s, const proto::Frames& frames) {
    proto::Message message;
    try {
      message = proto::decode(frames);
    } catch (const ProtocolError& e) {
      ++rejected_;
      if (log_.allow("host"))
        std::fprintf(stderr, "hil-agent %s: dropped a malformed message (%d so far): %s\n",
                     id_.c_str(), rejected_, log_safe(e.what()).c_str());
      send(s, proto::make_message(proto::ErrorReply{"", proto::kErrorBadRequest, e.what()}));
      return std::nullopt;
    }
    try {
      switch (message.type) {
        case proto::MessageType::kWelcome:
          on_welcome(s, message);
          break;
        case proto::MessageType::kJob: {
          if (!welcomed_) throw ProtocolError("JOB before WELCOME");
          proto::Job job = proto::parse_job(message);
          if (runner_.busy() || fetching_) {
            send(s, proto::make_message(
                        proto::ErrorReply{job.job_id, proto::kErrorBadRequest,
                                          "agent is busy with another job (JOB without READY)"}));
            break;
          }
          start_job(s, std::move(job));
          break;
        }
        case proto::MessageType::kArtifact:
          on_artifact(s, message);
          break;
        case proto::MessageType::kError: {
          const proto::ErrorReply e = proto::parse_error(message);
          if (e.error_class == proto::kErrorNotRegistered) {
            // The host does not know us (it restarted): start clean with a new HELLO.
            if (seconds_since(hello_sent_) > 0.2) {
              std::fprintf(stderr, "hil-agent %s: host does not know this agent; HELLO again\n",
                           id_.c_str());
              new_epoch();
              say_hello(s);
            }
            break;
          }
          if (log_.allow("host"))
            std::fprintf(stderr, "hil-agent %s: host says: [%s] %s\n", id_.c_str(),
                         log_safe(e.error_class, 32).c_str(), log_safe(e.message).c_str());
          // The host could not serve the artifact of the job being fetched: that job is over.
          if (fetching_ && e.job_id == fetching_->job_id) {
            fetching_.reset();
            cache_.abort();
            maybe_ready(s);
          }
          // Another live connection speaks for this id (maybe our own previous one, not yet
          // reaped by the host): back off and say HELLO again on a new connection.
          if (!welcomed_ && e.error_class == proto::kErrorIdInUse) return Outcome::kHostSilent;
          if (!welcomed_ && (e.error_class == proto::kErrorVersion || e.job_id.empty()))
            return Outcome::kRefused;
          break;
        }
        case proto::MessageType::kHeartbeat:
          break;
        case proto::MessageType::kBye:
          std::fprintf(stderr, "hil-agent %s: host said BYE, exiting\n", id_.c_str());
          return Outcome::kBye;
        default:
          throw ProtocolError(std::string("unexpected ") + proto::to_string(message.type) +
                              " from the host");
      }
    } catch (const ProtocolError& e) {
      ++rejected_;
      if (log_.allow("host"))
        std::fprintf(stderr, "hil-agent %s: rejected a message (%d so far): %s\n", id_.c_str(),
                     rejected_, log_safe(e.what()).c_str());
      std::string job_id;
      if (auto it = message.body.find("job_id"); it != message.body.end() && it->is_string())
        job_id = it->get<std::string>().substr(0, 256);
      send(s, proto::make_message(proto::ErrorReply{job_id, proto::kErrorBadRequest, e.what()}));
      if (message.type == proto::MessageType::kJob) maybe_ready(s);
    } catch (const ArtifactError& e) {
      send(s, proto::make_message(proto::ErrorReply{"", proto::kErrorArtifact, e.what()}));
    }
    return std::nullopt;
  }

  AgentOptions opt_;
  std::string id_;
  zmq::context_t context_{1};
  JobRunner runner_;
  ArtifactCache cache_;
  std::optional<proto::KeyPair> keys_;
  std::string server_key_;
  proto::Hello hello_;
  uint64_t epoch_ = 0;
  int monitors_ = 0;
  std::string handshake_failure_;  // the last one reported, said once
  int rejected_ = 0;
  int measured_jobs_ = 0;  // jobs started other than health checks (--max-jobs)
  bool welcomed_ = false, welcomed_once_ = false;
  bool warned_power_command_ = false;
  int heartbeat_ms_ = 1000, liveness_ = 5;
  std::optional<proto::Job> fetching_;
  Clock::time_point last_heard_any_, hello_sent_, fetch_progress_;
  LogLimiter log_{stderr, "hil-agent"};  // per-message lines about what the host sent
};

}  // namespace

int run_agent(const AgentOptions& options) {
  Agent agent(options);
  return agent.run();
}

}  // namespace hilq::agent
