// The jobs a run sends to each board. For now: kernel-bench jobs over the shapes of the tiny
// model and one out-of-cache shape; the search (search/) will generate candidates here later.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/setting.h"
#include "protocol/message.h"

namespace hilq::host {

struct Workload {
  std::vector<protocol::Job> jobs;
  const protocol::Job* find(const std::string& job_id) const;
};

// Job ids are unique across runs ("r<run>-<board>-<n>"): the measurements table keys on them.
Workload kernel_bench_workload(int64_t run_id, const std::string& board, double min_time_s);
// What a model-bench run measures of its model artifact.
struct ModelBenchPlan {
  // Settings as named (model/setting.h; stored with the run for --resume): FP32 and FP16 (the
  // float baselines of the artifact), as-stored (a packed artifact as it is), or a uniform
  // setting (W8A8, W4A8, W4A4-TA8/4, ...) quantized on load from a float one.
  std::vector<std::string> settings = {"FP32", "FP16", "W8A8", "W4A8", "W4A4-TA8/4", "W4A4"};
  int prompt_tokens = 128;  // as the Squat paper measures prefill
  int decode_tokens = 128;
  int threads = 1;
};
// The plan's settings parsed; throws ConfigError naming --settings and the setting that does not
// parse.
std::vector<model::Setting> parse_model_bench_settings(const ModelBenchPlan& plan);
// The same, for its error only.
void validate_model_bench_plan(const ModelBenchPlan& plan);
// One job per setting; the artifact is attached by the caller (job.artifact_sha256).
Workload model_bench_workload(int64_t run_id, const std::string& board, const ModelBenchPlan& plan,
                              double min_time_s);

// `count` trivial jobs (kind noop, optionally sleeping sleep_ms on the agent): broker fault tests
// and the throughput benchmark.
Workload noop_workload(int64_t run_id, const std::string& board, int count, int sleep_ms);

}  // namespace hilq::host
