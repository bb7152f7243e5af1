// Typed access to the measurements table: one row per finished job (ok or failed), unique by job
// id, with model-bench figures in named columns. The job config lives once, in jobs.config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::db {

struct MeasurementRow {
  int64_t id = 0;
  int64_t run_id = 0;
  std::optional<int64_t> candidate_id;
  std::string board;
  std::optional<std::string> agent;
  std::optional<std::string> agent_version;  // the agent's build (HELLO): a cache key
  std::string job_id;
  std::string kind;
  std::optional<std::string> kernel;  // the kernel(s) that ran
  // JSON of the job config: read from the job's row. Written only when the job has no row yet
  // (a measurement recorded without a queue), which then gets one.
  std::string config = "{}";
  std::string status = "ok";  // ok | failed
  std::optional<std::string> error_class;
  std::optional<std::string> error;
  // Per inference: a kernel call, a decoded token (model-bench), a classifier forward.
  std::optional<double> latency_median_ns, latency_p10_ns, latency_p90_ns, latency_mad_ns,
      latency_mean_ns;
  std::optional<int64_t> repeats;
  std::optional<std::string> samples_ns;  // JSON array: every sample is kept
  std::optional<int64_t> peak_rss_bytes;
  std::optional<int64_t> model_bytes;  // weights as held for compute
  std::optional<double> energy_j;      // per inference (per token for model-bench)
  std::optional<std::string> power_source;
  std::optional<std::string> power_unavailable;  // why energy is missing, when it is
  std::optional<double> temperature_c;
  bool emulated = false;
  // model-bench (and kernel_path for every kernel-running kind).
  std::optional<std::string> setting;      // the loaded model's label: FP32, FP16, W4A8, ...
  std::optional<std::string> kernel_path;  // ISA path the kernels dispatched to
  std::optional<double> prefill_ms, decode_ms_median, decode_ms_p90, tokens_per_s;
  std::optional<int64_t> kv_bytes, arena_bytes;
  std::optional<double> energy_per_token_j;
  std::string metrics = "{}";  // JSON of what has no column (GOP/s, thermal, greedy tokens, ...)
  std::string created_at;
};

class MeasurementStore {
 public:
  explicit MeasurementStore(Database& db) : db_(db) {}

  // Returns false (and changes nothing) when a measurement for this job id already exists.
  // Marks the job done/failed in the same transaction.
  bool record(const MeasurementRow& m);
  std::vector<MeasurementRow> of_run(int64_t run_id);

 private:
  Database& db_;
};

}  // namespace hilq::db
