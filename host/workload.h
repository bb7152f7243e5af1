// The trials a run measures when no search drives it, as fixed lists (search/fixed_list.h):
// kernel-bench over the tiny model's shapes, model-bench per setting, or noop jobs; and the
// mapping between a trial and the JOB the broker sends (its id, its artifact).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "db/database.h"
#include "model/setting.h"
#include "protocol/jobs.h"
#include "protocol/message.h"
#include "search/strategy.h"
#include "search/tiered.h"

namespace hilq::host {

// kernel-bench gemv w8a8 trials, one per m x k shape (empty: the tiny model's projection shapes
// and a 4096 x 4096 matrix).
std::vector<search::Trial> kernel_bench_trials(const std::string& board, double min_time_s,
                                               const std::vector<std::pair<int, int>>& given = {});
// What a model-bench run measures of its model artifact.
struct ModelBenchPlan {
  // Settings as named (model/setting.h; stored with the run for --resume): FP32 and FP16 (the
  // float baselines of the artifact), as-stored (a packed artifact as it is), or a uniform
  // setting (W8A8, W4A8, W4A4-TA8/4, ...) quantized on load from a float one.
  std::vector<std::string> settings = {"FP32", "FP16", "W8A8", "W4A8", "W4A4-TA8/4", "W4A4"};
  int prompt_tokens = protocol::ModelBenchConfig::kDefaultPromptTokens;
  int decode_tokens = protocol::ModelBenchConfig::kDefaultDecodeTokens;
  int threads = protocol::ModelBenchConfig::kDefaultThreads;
};
// The plan's settings parsed; throws ConfigError naming --settings and the setting that does not
// parse.
std::vector<model::Setting> parse_model_bench_settings(const ModelBenchPlan& plan);
// The same, for its error only.
void validate_model_bench_plan(const ModelBenchPlan& plan);
// One trial per setting; the artifact is attached when the trial becomes a job.
std::vector<search::Trial> model_bench_trials(const std::string& board, const ModelBenchPlan& plan,
                                              double min_time_s);

// The trials of a search (search/tiered.h): per board the float baselines (FP16, FP32 of the
// float model) and every quality-feasible candidate as stored in its packed file, except what an
// agent of build agent_version measured on that board in another run (a cache hit, counted in
// cache_hits).
std::vector<search::Trial> search_trials(const search::TieredSearch& search, db::Database& db,
                                         int64_t run_id, const std::vector<std::string>& boards,
                                         const ModelBenchPlan& plan, double min_time_s,
                                         const std::string& agent_version, int* cache_hits);

// `count` trivial trials (kind noop, optionally sleeping sleep_ms on the agent): broker fault
// tests and the throughput benchmark.
std::vector<search::Trial> noop_trials(const std::string& board, int count, int sleep_ms);

// Job ids are unique across runs ("r<run>-<board>-<n>", n counting a board's jobs from 1): the
// measurements table keys on them.
std::string job_id(int64_t run_id, const std::string& board, int n);
// The JOB of a trial, and back (a resumed run's jobs).
protocol::Job make_job(const search::Trial& trial, const std::string& job_id,
                       const std::string& artifact_sha256);
search::Trial trial_of(const protocol::Job& job, const std::string& board);

}  // namespace hilq::host
