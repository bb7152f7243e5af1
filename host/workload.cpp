// Job lists of a run (see workload.h).
#include "host/workload.h"

#include "base/error.h"
#include "protocol/board_spec.h"

namespace hilq::host {

const protocol::Job* Workload::find(const std::string& job_id) const {
  for (const auto& job : jobs)
    if (job.job_id == job_id) return &job;
  return nullptr;
}

Workload kernel_bench_workload(int64_t run_id, const std::string& board, double min_time_s) {
  struct Shape {
    int m, k;
  };
  // The tiny model's projection shapes (d=256, SwiGLU 768) and a 4096x4096 matrix whose 16 MiB
  // of int8 weights stream from memory rather than cache.
  const Shape shapes[] = {{256, 256}, {768, 256}, {256, 768}, {4096, 4096}};
  Workload w;
  int n = 0;
  for (const auto& s : shapes) {
    protocol::Job job;
    job.job_id = "r" + std::to_string(run_id) + "-" + board + "-" + std::to_string(++n);
    job.kind = "kernel-bench";
    job.config = {{"op", "gemv"}, {"w_bits", 8}, {"a_bits", 8},
                  {"m", s.m},     {"k", s.k},    {"seed", n}};
    job.repeat = {3, 20, 1000000, min_time_s};
    w.jobs.push_back(std::move(job));
  }
  return w;
}

namespace {

nlohmann::json model_bench_config(const model::Setting& setting, const ModelBenchPlan& plan) {
  nlohmann::json c = {{"prompt_tokens", plan.prompt_tokens},
                      {"decode_tokens", plan.decode_tokens},
                      {"threads", plan.threads}};
  switch (setting.kind()) {
    case model::SettingKind::kFp32:
      c["weights"] = "fp32";
      break;
    case model::SettingKind::kFp16:
      c["weights"] = "fp16";
      break;
    case model::SettingKind::kAsStored:
      break;
    case model::SettingKind::kQuantized:
      c["setting"] = setting.label();
      break;
  }
  return c;
}

}  // namespace

std::vector<model::Setting> parse_model_bench_settings(const ModelBenchPlan& plan) {
  if (plan.settings.empty()) throw ConfigError("--settings: no setting given");
  std::vector<model::Setting> out;
  for (const auto& s : plan.settings) {
    try {
      out.push_back(model::Setting::parse(s));
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("--settings: ") + e.what());
    }
  }
  return out;
}

void validate_model_bench_plan(const ModelBenchPlan& plan) { parse_model_bench_settings(plan); }

Workload model_bench_workload(int64_t run_id, const std::string& board, const ModelBenchPlan& plan,
                              double min_time_s) {
  Workload w;
  int n = 0;
  for (const auto& setting : parse_model_bench_settings(plan)) {
    protocol::Job job;
    job.job_id = "r" + std::to_string(run_id) + "-" + board + "-" + std::to_string(++n);
    job.kind = "model-bench";
    job.config = model_bench_config(setting, plan);
    // Whole prefill + decode runs: one discarded warm-up, then at least 3 and min_time_s.
    job.repeat = {1, 3, 50, min_time_s};
    w.jobs.push_back(std::move(job));
  }
  return w;
}

Workload noop_workload(int64_t run_id, const std::string& board, int count, int sleep_ms) {
  Workload w;
  for (int n = 1; n <= count; ++n) {
    protocol::Job job;
    job.job_id = "r" + std::to_string(run_id) + "-" + board + "-" + std::to_string(n);
    job.kind = "noop";
    job.config = {{"sleep_ms", sleep_ms}};
    job.repeat = {0, 1, 1, 0.0};
    w.jobs.push_back(std::move(job));
  }
  return w;
}

}  // namespace hilq::host
