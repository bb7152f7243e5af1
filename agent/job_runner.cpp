// Job thread and job-kind dispatch of the agent (see job_runner.h).
#include "agent/job_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "agent/kernel_bench.h"
#include "agent/measure.h"
#include "agent/model_bench.h"
#include "agent/power.h"
#include "agent/sysinfo.h"
#include "protocol/health_check.h"

namespace hilq::agent {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

json run_noop(const proto::Job& job) {
  int64_t sleep_ms = 0;
  if (auto it = job.config.find("sleep_ms"); it != job.config.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 3600000)
      throw BadJobConfig("config field 'sleep_ms' must be an integer in [0, 3600000]");
    sleep_ms = it->get<int64_t>();
  }
  const auto t0 = Clock::now();
  if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  return {{"kernel", "noop"}, {"latency", to_json(latency_stats({ns}))}, {"samples_ns", {ns}}};
}

}  // namespace

struct JobRunner::Shared {
  FaultInjection fault;
  MeasureSettings settings;
  std::shared_ptr<PowerSensor> sensor;
  std::string power_reason = "no board settings received yet";
  int pipe_fds[2] = {-1, -1};
  mutable std::mutex mu;
  std::condition_variable cv;
  bool busy = false, quit = false;
  std::optional<proto::Job> pending;
  std::string artifact_path;
  uint64_t epoch = 0;
  std::optional<FinishedJob> finished;
  std::thread thread;

  ~Shared() {
    for (int fd : pipe_fds)
      if (fd >= 0) close(fd);
  }

  proto::Message execute(const proto::Job& job, const std::string& artifact,
                         const MeasureSettings& st, const std::shared_ptr<PowerSensor>& power,
                         const std::string& reason) {
    try {
      if (job.kind == proto::kHealthCheckKind) {
        proto::HealthAnswer answer = proto::compute_health_answer(job.config);
        if (fault.mode == "wrong-health") answer.dot += 1;
        return proto::make_message(proto::Result{job.job_id, proto::to_json(answer)});
      }
      if (fault.mode == "fail-jobs")
        return proto::make_message(
            proto::ErrorReply{job.job_id, proto::kErrorRuntime, "injected fault (fail-jobs)"});
      if (fault.mode == "hang-jobs")
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      json m;
      if (job.kind == "noop") {
        m = run_noop(job);
      } else if (job.kind == "kernel-bench") {
        m = measured(st, [&] {
          return measure_with_power(power.get(), reason, st.idle_s, [&] {
            return run_kernel_bench(job.config, job.repeat, fault.test_slowdown);
          });
        });
      } else if (job.kind == "model-bench") {
        json config = job.config;
        if (!artifact.empty()) config["model"] = artifact;  // the verified, cached file
        m = measured(st, [&] {
          return run_model_bench_measured(config, job.repeat, power.get(), reason, st.idle_s,
                                          /*artifact_verified=*/!artifact.empty(),
                                          fault.test_slowdown);
        });
      } else {
        return proto::make_message(proto::ErrorReply{
            job.job_id, proto::kErrorBadRequest,
            "job kind '" + job.kind +
                "' is not supported by this agent (supported: kernel-bench, model-bench, noop, "
                "health-check)"});
      }
      // The cache hashed the file once, when it arrived, and names it by that hash: trusted.
      if (!artifact.empty())
        m["artifact"] = {{"sha256", job.artifact_sha256},
                         {"path", artifact},
                         {"verified_sha256", job.artifact_sha256},
                         {"verified", "on arrival in the artifact cache"}};
      return proto::make_message(proto::Result{job.job_id, std::move(m)});
    } catch (const BadModelArtifact& e) {
      return proto::make_message(proto::ErrorReply{job.job_id, proto::kErrorArtifact, e.what()});
    } catch (const BadJobConfig& e) {
      return proto::make_message(proto::ErrorReply{job.job_id, proto::kErrorBadRequest, e.what()});
    } catch (const std::invalid_argument& e) {
      return proto::make_message(proto::ErrorReply{job.job_id, proto::kErrorBadRequest, e.what()});
    } catch (const std::exception& e) {
      return proto::make_message(proto::ErrorReply{job.job_id, proto::kErrorRuntime, e.what()});
    }
  }

  // kernel-bench with everything around it: RSS baseline, thermal state before/after, power.
  // A measured job with everything around it: pinning, RSS baseline, thermal state before and
  // after with the throttling verdict. `run` does the job inside measure_with_power.
  static json measured(const MeasureSettings& st, const std::function<json()>& run) {
    if (!st.pin_cpus.empty()) pin_current_thread(st.pin_cpus);
    const int64_t rss_baseline = current_rss_bytes();
    const ThermalState before = read_thermal_state(st.sysfs_root, st.throttled_command);
    json m = run();
    const ThermalState after = read_thermal_state(st.sysfs_root, st.throttled_command);
    const ThrottleVerdict verdict = judge_throttling(before, after);
    m["rss_baseline_bytes"] = rss_baseline;
    m["peak_rss_note"] =
        "VmHWM after a clear_refs reset, including the agent's baseline RSS; the job's own "
        "peak is peak_rss_bytes - rss_baseline_bytes";
    m["thermal"] = {{"before", to_json(before)}, {"after", to_json(after)}};
    m["throttled"] = verdict.throttled;
    m["throttle_reasons"] = verdict.reasons;
    if (!after.zone_temps_c.empty())
      m["temperature_c"] = *std::max_element(after.zone_temps_c.begin(), after.zone_temps_c.end());
    m["affinity"] = current_affinity();
    if (auto p = m.find("power"); p != m.end() && p->contains("energy_per_inference_j"))
      m["energy_per_inference_j"] = (*p)["energy_per_inference_j"];
    return m;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return quit || pending.has_value(); });
      if (quit) return;
      proto::Job job = std::move(*pending);
      pending.reset();
      const std::string artifact = artifact_path;
      const uint64_t job_epoch = epoch;
      const MeasureSettings st = settings;
      const std::shared_ptr<PowerSensor> power = sensor;
      const std::string reason = power_reason;
      lock.unlock();
      proto::Message reply = execute(job, artifact, st, power, reason);
      lock.lock();
      finished = FinishedJob{job_epoch, std::move(reply)};
      busy = false;
      const char byte = 1;
      if (write(pipe_fds[1], &byte, 1) < 0) {
        // The worker also polls with a timeout; a lost wake-up only delays the result.
      }
    }
  }
};

JobRunner::JobRunner(FaultInjection fault) : shared_(std::make_shared<Shared>()) {
  shared_->fault = std::move(fault);
  if (pipe(shared_->pipe_fds) != 0) throw std::runtime_error("cannot create the job pipe");
  fcntl(shared_->pipe_fds[0], F_SETFL, O_NONBLOCK);
}

JobRunner::~JobRunner() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->quit = true;
  }
  shared_->cv.notify_all();
  if (!shared_->thread.joinable()) return;
  bool busy;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    busy = shared_->busy;
  }
  if (busy)
    shared_->thread.detach();  // the shared state outlives us; the process is about to end
  else
    shared_->thread.join();
}

std::string JobRunner::configure(const MeasureSettings& settings) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  Shared& s = *shared_;
  s.settings = settings;
  const std::string backend =
      settings.power_override.empty() ? settings.power_backend : settings.power_override;
  s.sensor.reset();
  try {
    s.sensor = make_power_sensor(backend, settings.power_options, settings.sysfs_root,
                                 settings.pmic_command);
    s.power_reason.clear();
  } catch (const SensorError& e) {
    s.power_reason = "power backend " + backend + " unavailable: " + e.what();
  }
  if (!s.thread.joinable()) s.thread = std::thread([sp = shared_] { sp->loop(); });
  return s.power_reason;
}

bool JobRunner::busy() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->busy || shared_->finished.has_value();
}

void JobRunner::start(protocol::Job job, std::string artifact_path, uint64_t epoch) {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (!shared_->thread.joinable()) shared_->thread = std::thread([sp = shared_] { sp->loop(); });
    shared_->pending = std::move(job);
    shared_->artifact_path = std::move(artifact_path);
    shared_->epoch = epoch;
    shared_->busy = true;
  }
  shared_->cv.notify_all();
}

int JobRunner::notify_fd() const { return shared_->pipe_fds[0]; }

std::optional<FinishedJob> JobRunner::take() {
  char buf[64];
  while (read(shared_->pipe_fds[0], buf, sizeof(buf)) > 0) {
  }
  std::lock_guard<std::mutex> lock(shared_->mu);
  std::optional<FinishedJob> out = std::move(shared_->finished);
  shared_->finished.reset();
  return out;
}

}  // namespace hilq::agent
