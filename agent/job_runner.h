// Runs one job at a time on a thread of its own, so the worker loop keeps heartbeating while a
// job runs (a stuck job is then the host's job timeout to catch, a stuck process its heartbeat
// check). Dispatches by job kind:
//
//   kernel-bench   agent/kernel_bench.h, wrapped in power, thermal, pinning and RSS readings
//   model-bench    agent/model_bench.h on the job's artifact (fetched, verified, cached), same
//                  readings around it; an unloadable artifact is an ERROR of class artifact
//   health-check   the known-answer check of protocol/health_check.h
//   noop           returns at once (or after config.sleep_ms): broker tests and benchmarks
//
// Completion is signalled on a pipe the worker polls next to its socket.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/message.h"

namespace hilq::agent {

struct MeasureSettings {
  std::string power_backend = "none";
  nlohmann::json power_options = nlohmann::json::object();
  std::string power_override;  // --power on the command line wins over the board file
  double idle_s = 0.2;         // idle baseline window before each measured job
  std::vector<int> pin_cpus;   // empty: no pinning
  // Sensor commands: argv chosen on the board (defaults, or hil-agent flags), run without a shell.
  std::vector<std::string> pmic_command = {"vcgencmd", "pmic_read_adc"};
  std::vector<std::string> throttled_command;  // {"vcgencmd", "get_throttled"} on a Pi
  std::string sysfs_root = "/sys";
};

// Test-only misbehaviour (hil-agent --fault): wrong-health, fail-jobs, hang-jobs.
struct FaultInjection {
  std::string mode;
  // hil-agent --test-slowdown PCT / 100: every timed step of kernel-bench and model-bench jobs
  // is stretched by a busy wait to (1 + this) times its own duration (an injected regression).
  double test_slowdown = 0;
};

struct FinishedJob {
  uint64_t epoch = 0;  // connection epoch the job was received on
  protocol::Message reply;
};

class JobRunner {
 public:
  explicit JobRunner(FaultInjection fault);
  ~JobRunner();  // joins an idle thread; a hung job's thread is left to die with the process
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Applies board settings (power sensor, pinning); returns a note when power is unavailable.
  std::string configure(const MeasureSettings& settings);
  bool busy() const;
  void start(protocol::Job job, std::string artifact_path, uint64_t epoch);
  int notify_fd() const;  // readable when a job finished
  std::optional<FinishedJob> take();

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace hilq::agent
