// Helpers of the host tests: a scratch folder, child processes (hil-search, hil-agent) with their
// output in files, and FakeAgent, a raw DEALER that speaks the protocol step by step.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "protocol/message.h"

extern char** environ;

namespace hilq::test {

namespace fs = std::filesystem;
namespace proto = hilq::protocol;
using Clock = std::chrono::steady_clock;

struct Sandbox {
  fs::path dir;
  Sandbox() {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("hilq_host_" + std::to_string(getpid()) + "_" + std::to_string(n++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Sandbox() { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  std::string read(const std::string& name) const {
    std::ifstream in(dir / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
  }
};

// A child process whose stdout/stderr go to files in the sandbox.
struct Child {
  pid_t pid = -1;
  std::string err_file;
  std::optional<int> status;

  Child(const Sandbox& box, const std::string& name, std::vector<std::string> argv_s) {
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = box.path(name + ".out");
    err_file = box.path(name + ".err");
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (!status && pid > 0) {
      kill(pid, SIGCONT);
      kill(pid, SIGKILL);
      wait();
    }
  }
  std::string read_out() const {
    std::ifstream in(err_file.substr(0, err_file.size() - 4) + ".out");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string err() const {
    std::ifstream in(err_file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  int wait() {
    if (!status) {
      int st = 0;
      waitpid(pid, &st, 0);
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return *status;
  }
  // Exit code, or nullopt when it is still running after timeout_s.
  std::optional<int> wait_for(double timeout_s) {
    const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (!status && Clock::now() < until) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status;
  }
};

// Polls `cond` every 20 ms until it holds or timeout_s passes.
template <typename F>
bool eventually(F cond, double timeout_s) {
  const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

// A free TCP port on 127.0.0.1 (bound and released: good enough for tests).
inline int free_port() {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::router);
  s.set(zmq::sockopt::linger, 0);
  s.bind("tcp://127.0.0.1:*");
  const std::string ep = s.get(zmq::sockopt::last_endpoint);
  return std::stoi(ep.substr(ep.rfind(':') + 1));
}

class FakeAgent {
 public:
  // With curve_secret/curve_public set, the socket is a CURVE client of server_public.
  FakeAgent(zmq::context_t& ctx, const std::string& endpoint, const std::string& id,
            const std::string& curve_public = "", const std::string& curve_secret = "",
            const std::string& server_public = "")
      : socket_(ctx, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::routing_id, id);
    socket_.set(zmq::sockopt::linger, 0);
    if (!curve_secret.empty()) {
      socket_.set(zmq::sockopt::curve_serverkey, server_public);
      socket_.set(zmq::sockopt::curve_publickey, curve_public);
      socket_.set(zmq::sockopt::curve_secretkey, curve_secret);
    }
    socket_.connect(endpoint);
  }
  zmq::socket_t& socket() { return socket_; }
  void send_frames(const proto::Frames& frames) {
    for (size_t i = 0; i < frames.size(); ++i)
      socket_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  void send(const proto::Message& m) { send_frames(proto::encode(m)); }
  // Next message that is not a HEARTBEAT, within timeout_ms.
  std::optional<proto::Message> recv(int timeout_ms, bool skip_heartbeats = true) {
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    do {  // at least one look, also with timeout 0
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms > 0 ? 10 : 0));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      proto::Frames frames;
      zmq::message_t part;
      do {
        (void)socket_.recv(part);
        frames.push_back(part.to_string());
      } while (part.more());
      proto::Message m = proto::decode(frames);
      if (skip_heartbeats && m.type == proto::MessageType::kHeartbeat) continue;
      return m;
    } while (Clock::now() < until);
    return std::nullopt;
  }

 private:
  zmq::socket_t socket_;
};

// hil-search, hil-agent and hil-keys next to this test binary's build.
inline std::string search_bin() { return HILQ_SEARCH_PATH; }

// hil-search running `jobs` noop jobs of `sleep_ms` each on `board` (its file in `boards_dir`)
// at `endpoint`, into the sandbox's hil.db and out/; `extra` flags follow.
inline std::vector<std::string> noop_search_args(const Sandbox& box, const std::string& board,
                                                 const std::string& boards_dir,
                                                 const std::string& endpoint, int jobs,
                                                 int sleep_ms,
                                                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {search_bin(),
                                   "--boards",
                                   board,
                                   "--boards-dir",
                                   boards_dir,
                                   "--endpoint",
                                   endpoint,
                                   "--db",
                                   box.path("hil.db"),
                                   "--out",
                                   box.path("out"),
                                   "--workload",
                                   "noop",
                                   "--jobs",
                                   std::to_string(jobs),
                                   "--job-sleep-ms",
                                   std::to_string(sleep_ms)};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}
inline std::string agent_bin() { return HILQ_AGENT_PATH; }
inline std::string keys_bin() { return HILQ_KEYS_PATH; }
// The other binaries, for the command-line tests (test_cli.cpp).
inline std::string report_bin() { return HILQ_REPORT_PATH; }
inline std::string run_bin() { return HILQ_RUN_PATH; }
inline std::string train_bin() { return HILQ_TRAIN_PATH; }
inline std::string broker_bench_bin() { return HILQ_BROKER_BENCH_PATH; }

inline const char* build_arch_name() {
#if defined(__aarch64__)
  return "aarch64";
#else
  return "x86_64";
#endif
}

// A board file without a launch command: the test starts the agents itself.
inline std::string write_farm_board(const Sandbox& box, const std::string& name = "farm") {
  std::filesystem::create_directories(box.dir / "boards");
  box.write("boards/" + name + ".json",
            std::string(R"({"name": ")") + name + R"(", "arch": ")" + build_arch_name() +
                R"(", "features": [], "cores": 1, "memory_mb": 1, "power": {"backend": "none"},
                "threads": 1})");
  return box.path("boards");
}

inline proto::Hello hello_for(const std::string& id, const std::string& board = "local") {
  proto::Hello h;
  h.agent_id = id;
  h.board = board;
#if defined(__aarch64__)
  h.arch = "aarch64";
#else
  h.arch = "x86_64";
#endif
  h.cores = 4;
  h.memory_bytes = int64_t{8} << 30;
  h.agent_version = "test";
  return h;
}

}  // namespace hilq::test
