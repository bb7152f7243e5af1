// Agent process management (see agent_launcher.h).
#include "host/agent_launcher.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace hilq::host {

std::string expand_launch_template(const std::string& templ,
                                   const std::map<std::string, std::string>& values) {
  std::string out;
  for (size_t i = 0; i < templ.size();) {
    if (templ[i] == '{') {
      const size_t close = templ.find('}', i);
      if (close != std::string::npos) {
        const std::string key = templ.substr(i + 1, close - i - 1);
        auto it = values.find(key);
        if (it == values.end())
          throw std::runtime_error(
              "launch command uses {" + key +
              "}, which is not one of "
              "{agent} {agent_aarch64} {endpoint} {port} {board} {id} {source_dir}");
        out += it->second;
        i = close + 1;
        continue;
      }
    }
    out += templ[i++];
  }
  return out;
}

AgentProcess::AgentProcess(const std::string& command, const std::vector<std::string>& environment)
    : command_(command) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const std::string script = "exec " + command;
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& entry : environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const int rc =
      posix_spawn(&pid_, "/bin/sh", nullptr, &attr, const_cast<char**>(argv), envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    throw std::runtime_error("cannot start agent '" + command + "': " + std::strerror(rc));
}

AgentProcess::~AgentProcess() { stop(); }

std::optional<int> AgentProcess::exited() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_)
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return status_;
}

void AgentProcess::stop(int grace_ms) {
  if (pid_ <= 0 || exited()) return;
  auto wait_for = [&](int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (exited()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exited().has_value();
  };
  if (wait_for(grace_ms)) return;
  kill(-pid_, SIGTERM);  // the whole process group: sh may have spawned ssh/qemu
  if (wait_for(1000)) return;
  kill(-pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  status_ = 128 + SIGKILL;
}

}  // namespace hilq::host
