// Starts agent processes from a board's `launch` command template and stops them again.
// Templates may use {agent} (this build's hil-agent), {agent_aarch64} (the cross-built one),
// {endpoint}, {port} (of the bound endpoint, for ssh -R / adb reverse tunnels), {board}, {id}
// and {source_dir}; they run through /bin/sh so ssh/adb/qemu command
// lines work as written.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hilq::host {

std::string expand_launch_template(const std::string& templ,
                                   const std::map<std::string, std::string>& values);

class AgentProcess {
 public:
  // Starts `command` in its own process group, so a Ctrl-C on the host's terminal reaches only
  // the host, which then shuts the agent down in order.
  // `environment` entries ("NAME=value") are added to this process's environment for the agent
  // only (e.g. its CURVE session keys: an environment is readable by this user alone).
  explicit AgentProcess(const std::string& command,
                        const std::vector<std::string>& environment = {});
  ~AgentProcess();  // stop(), never throws
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Exit status if the process has ended (non-blocking), e.g. to explain a missing HELLO.
  std::optional<int> exited();
  // Waits up to grace_ms for a clean exit, then SIGTERM, then SIGKILL.
  void stop(int grace_ms = 3000);
  const std::string& command() const { return command_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string command_;
};

}  // namespace hilq::host
