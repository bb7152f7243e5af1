// Fixed trial lists of a run and the trial <-> JOB mapping (see workload.h).
#include "host/workload.h"

#include "base/error.h"
#include "db/search_store.h"

namespace hilq::host {

std::vector<search::Trial> kernel_bench_trials(const std::string& board, double min_time_s,
                                               const std::vector<std::pair<int, int>>& given) {
  struct Shape {
    int m, k;
  };
  // The tiny model's projection shapes (d=256, SwiGLU 768) and a 4096x4096 matrix whose 16 MiB
  // of int8 weights stream from memory rather than cache.
  std::vector<Shape> shapes = {{256, 256}, {768, 256}, {256, 768}, {4096, 4096}};
  if (!given.empty()) {
    shapes.clear();
    for (const auto& [m, k] : given) shapes.push_back({m, k});
  }
  std::vector<search::Trial> out;
  int n = 0;
  for (const auto& s : shapes) {
    search::Trial t;
    t.board = board;
    t.kind = protocol::kKernelBenchKind;
    t.config = {{"op", "gemv"}, {"w_bits", 8}, {"a_bits", 8},
                {"m", s.m},     {"k", s.k},    {"seed", ++n}};
    t.repeat = {3, 20, 1000000, min_time_s};
    out.push_back(std::move(t));
  }
  return out;
}

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

std::vector<search::Trial> model_bench_trials(const std::string& board, const ModelBenchPlan& plan,
                                              double min_time_s) {
  std::vector<search::Trial> out;
  for (const auto& setting : parse_model_bench_settings(plan)) {
    search::Trial t;
    t.board = board;
    t.kind = protocol::kModelBenchKind;
    t.config = protocol::to_json(
        protocol::ModelBenchConfig{setting, plan.prompt_tokens, plan.decode_tokens, plan.threads});
    // Whole prefill + decode runs: one discarded warm-up, then at least 3 and min_time_s.
    t.repeat = {1, 3, 50, min_time_s};
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<search::Trial> search_trials(const search::TieredSearch& search, db::Database& db,
                                         int64_t run_id, const std::vector<std::string>& boards,
                                         const ModelBenchPlan& plan, double min_time_s,
                                         const std::string& agent_version, int* cache_hits) {
  db::SearchStore store(db);
  std::vector<search::Trial> out;
  for (const auto& board : boards) {
    auto add = [&](const search::SearchCandidate& c, const model::Setting& setting,
                   const std::string& config_hash) {
      search::Trial t;
      t.board = board;
      t.kind = protocol::kModelBenchKind;
      t.config = protocol::to_json(protocol::ModelBenchConfig{setting, plan.prompt_tokens,
                                                              plan.decode_tokens, plan.threads});
      if (const auto hit = store.cached_measurement(run_id, config_hash, board, agent_version,
                                                    t.config.dump())) {
        store.reuse_measurement(hit->measurement_id, run_id, c.id);
        if (cache_hits) ++*cache_hits;
        return;
      }
      t.repeat = {1, 3, 50, min_time_s};
      t.artifact = c.packed.path;
      t.candidate_id = c.id;
      out.push_back(std::move(t));
    };
    for (const auto& c : search.candidates())
      if (c.status == "reference") add(c, model::Setting::parse(c.label), "");
    for (const search::SearchCandidate* c : search.to_measure())
      add(*c, model::Setting::as_stored(), c->spec.hash());
  }
  return out;
}

std::vector<search::Trial> noop_trials(const std::string& board, int count, int sleep_ms) {
  std::vector<search::Trial> out;
  for (int n = 1; n <= count; ++n) {
    search::Trial t;
    t.board = board;
    t.kind = protocol::kNoopKind;
    t.config = {{"sleep_ms", sleep_ms}};
    t.repeat = {0, 1, 1, 0.0};
    out.push_back(std::move(t));
  }
  return out;
}

std::string job_id(int64_t run_id, const std::string& board, int n) {
  return "r" + std::to_string(run_id) + "-" + board + "-" + std::to_string(n);
}

protocol::Job make_job(const search::Trial& trial, const std::string& job_id,
                       const std::string& artifact_sha256) {
  protocol::Job job;
  job.job_id = job_id;
  job.kind = trial.kind;
  job.artifact_sha256 = artifact_sha256;
  job.config = trial.config;
  job.repeat = {trial.repeat.warmup, trial.repeat.min_repeats, trial.repeat.max_repeats,
                trial.repeat.min_time_s};
  return job;
}

search::Trial trial_of(const protocol::Job& job, const std::string& board) {
  return {
      board,
      job.kind,
      job.config,
      {job.repeat.warmup, job.repeat.min_repeats, job.repeat.max_repeats, job.repeat.min_time_s},
      {},
      std::nullopt,
      nullptr};
}

}  // namespace hilq::host
