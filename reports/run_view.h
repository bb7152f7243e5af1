// A run as plain typed structs, loaded from the DB once (load_run_view) and then only read by the
// reporters. Every JSON blob of the DB is parsed in run_view.cpp's loader and nowhere else.
//
//   RunView       the run's metadata, its boards and agents, and one Measurement per job result
//   Measurement   one row of `measurements`: typed latency, memory, energy, model-bench figures
//   setting       a model-bench row's label ("FP32", "FP16", "W4A8", ...), what the agent ran
//   Baseline      the setting's kind, derived once: a row with Baseline::kFp16 is the FP16-storage
//                 baseline the decode speed-up of every other setting on its board is taken over
//   SearchView    a quantization search's candidates (host-scored quality, memory, status), their
//                 model-bench rows per board, each board's Pareto fronts and pick; only for a run
//                 with candidates
//   front         the candidates of a board no other beats on both objectives of a pair
//                 ("metric-latency", "metric-memory", "metric-energy"), as the search stored them
//   UnitBits      one quantizable unit of a candidate's config: weight and activation bits
//   SearchTrace   a search run's validation scorings in the order it made them (candidate id
//                 order): this run's and those of every run of the DB with the same model and
//                 limits, whatever its strategy, for the progress plot
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::reports {

struct RunInfo {
  int64_t id = 0;
  std::string status;  // running | completed | interrupted | failed
  std::optional<std::string> message;
  std::string command_line;
  std::optional<std::string> git_sha;
  std::optional<std::string> model_hash;
  std::string started_at;
  std::optional<std::string> finished_at;
};

// A board some measurement or agent of the run names, as the boards table last saw it (the table
// is not per run); known is false when the table has no row for it.
struct BoardInfo {
  std::string name;
  bool known = false;
  std::string arch;
  std::vector<std::string> features;
  int cores = 0;
  int64_t memory_bytes = 0;
  std::string agent_version;
  bool emulated = false;
};

struct AgentInfo {
  std::string id;
  std::string board;
  std::optional<std::string> user_id;  // CURVE allow-list name
  std::string status;                  // connected | lost | left | quarantined
  std::optional<std::string> reason;
};

enum class JobKind { kKernelBench, kModelBench, kOther };
enum class Baseline { kNone, kFp32, kFp16 };

struct LatencyNs {
  std::optional<double> median, p10, p90, mad, mean;
  std::optional<int64_t> repeats;
};

// Energy of one inference (one decoded token for a causal LM: the model table's energy/token),
// or why there is none.
struct Energy {
  std::optional<double> joules;
  std::optional<std::string> source;
  std::optional<std::string> unavailable;  // the reason, when joules is missing
};

// What a kernel-bench job's config names (for its label), each field when present and typed.
struct KernelJob {
  std::optional<std::string> op;
  std::optional<int64_t> w_bits, a_bits, m, k;
};

// Figures of a model-bench result (absent ones stay empty: a classifier has no decode).
struct ModelBench {
  std::string setting;  // the label the agent's runtime gave the model, else from the config
  Baseline baseline = Baseline::kNone;
  std::optional<double> prefill_ms, prefill_p90_ms;       // the whole prompt
  std::optional<double> decode_median_ms, decode_p90_ms;  // per token
  std::optional<double> tokens_per_s;
  std::optional<int64_t> weights_bytes, kv_cache_bytes;
  std::optional<double> energy_per_token_j;  // energy_j (per token here), else its column
};

struct Measurement {
  int64_t run_id = 0;
  std::optional<int64_t> candidate_id;  // the search candidate a model-bench row measured
  std::string job_id;
  std::string board;
  std::optional<std::string> agent;
  std::string kind;  // as stored ("kernel-bench", "model-bench", ...)
  JobKind job_kind = JobKind::kOther;
  std::optional<std::string> kernel;  // the kernel path that ran
  bool ok = false;
  std::string status;  // ok | failed
  std::optional<std::string> error_class, error;
  LatencyNs latency;
  std::optional<int64_t> peak_rss_bytes, model_bytes;
  Energy energy;
  std::optional<double> temperature_c;
  std::optional<bool> throttled;
  std::vector<std::string> throttle_reasons;
  std::optional<double> gops;  // kernel-bench throughput
  bool emulated = false;       // qemu timings: never shown as board timings
  KernelJob kernel_job;        // kind kernel-bench (or any config naming these fields)
  ModelBench model;            // kind model-bench
  std::string label;           // "decode/token W4A8", "gemv w8a8 256×256", ...

  // What the DB holds, passed through unchanged to the CSV (text) and JSON (parsed) files.
  struct Stored {
    std::string config_text, metrics_text;
    nlohmann::json config, metrics, samples_ns;  // null when absent or not valid JSON
  } stored;
};

// runs.constraints of a search run; each field when present and typed.
struct SearchConstraints {
  std::string task;    // "lm" | "cls" (or "" when not stored)
  std::string metric;  // "perplexity" | "accuracy": the metric every plot and table shows
  std::optional<double> max_ppl_increase, max_acc_drop;
  std::optional<int64_t> mem_budget_bytes, float_bytes;
  std::optional<double> float_metric;  // the float model's validation metric
  std::optional<double> metric_limit;  // the validation metric a feasible candidate stays within
  std::string strategy;                // "" when not stored
  std::optional<int64_t> seed;
  bool higher_is_better() const { return metric == "accuracy"; }
  nlohmann::json stored;  // the whole JSON, for the JSON report
};

// A unit of a quant config ("embed", "layers.0.attn.q", ...) as the runtime packs it.
struct UnitBits {
  std::string name;
  int w_bits = 0, a_bits = 0;
  int group = 0;                // 0: per output channel
  bool token_adaptive = false;  // a_bits is the low width of the config's token-adaptive policy
  int high_bits = 0;            // ... and this its high width
};

// One row of `candidates` with its task metric on the validation and test splits.
struct Candidate {
  int64_t id = 0;
  std::string label;   // short text; "#<id>" when the row has none
  std::string tier;    // float | global | block | module
  std::string status;  // feasible | over-quality | over-budget | pruned | reference
  std::optional<std::string> reason;
  std::optional<int64_t> parent_id, memory_bytes;
  std::string config_hash;
  std::optional<std::string> artifact_sha256;
  std::string config_text;
  nlohmann::json config;        // null when not valid JSON
  std::vector<UnitBits> units;  // in model order (embed, then layer by layer); empty for float
  std::optional<double> validation, test;
  bool baseline() const { return status == "reference"; }  // the float model: FP32, FP16
};

// A search run's validation scorings in candidate id order (float references and pruned moves
// left out, as bench_search counts evaluations).
struct SearchTrace {
  int64_t run_id = 0;
  std::string strategy;  // "tiered" | "nsga2" | "random" | ... ("tiered" for a run before them)
  std::optional<int64_t> seed;
  struct Scoring {
    int64_t candidate_id = 0;
    double validation = 0;
    std::optional<int64_t> memory_bytes;
    bool feasible = false;  // within the quality limit and the memory budget
  };
  std::vector<Scoring> scorings;
};

struct BoardSearch {
  std::string board;
  bool emulated = false;  // its timings come from qemu (a measurement or the boards row says so)
  // objective pair -> candidate ids of its front, in id order
  std::vector<std::pair<std::string, std::vector<int64_t>>> fronts;
  struct Pick {
    std::string rule;  // "tradeoff mu=0.5", "lexicographic", ...
    int64_t candidate_id = 0;
    std::optional<double> score;
  };
  std::optional<Pick> pick;

  const std::vector<int64_t>* front(const std::string& objective_pair) const;
  bool on_front(const std::string& objective_pair, int64_t candidate_id) const;
};

struct SearchView {
  SearchConstraints constraints;
  std::vector<Candidate> candidates;  // by id
  std::vector<BoardSearch> boards;    // boards with a candidate measurement, front or pick
  // Counts over the candidates, derived once.
  int scored = 0;                                           // with a validation metric
  std::vector<std::pair<std::string, int>> status_counts;   // by status, most first
  std::vector<std::pair<std::string, int>> pruned_reasons;  // most common first
  // This run's trace first, then every other comparable run of the DB by id.
  std::vector<SearchTrace> traces;

  const Candidate* candidate(int64_t id) const;
  int count(const std::string& status) const;
};

struct RunView {
  RunInfo run;
  std::vector<BoardInfo> boards;          // in order of first appearance
  std::vector<AgentInfo> agents;          // by board, then id
  std::vector<Measurement> measurements;  // in the order they were recorded
  std::optional<SearchView> search;       // only when the run has candidates

  // The model-bench rows of a candidate (on one board, or on any when board is empty).
  std::vector<const Measurement*> candidate_measurements(int64_t candidate_id,
                                                         const std::string& board = "") const;
  // A candidate's last successful model-bench row on a board, or nullptr: what its dot shows.
  const Measurement* candidate_measurement(int64_t candidate_id, const std::string& board) const;

  // The FP16-storage baseline of a board: its last successful model-bench row with
  // Baseline::kFp16, or nullptr.
  const Measurement* fp16_baseline(const std::string& board) const;
};

// Throws DbError naming the run and the file when the run is not in the DB.
RunView load_run_view(db::Database& db, int64_t run_id);

// Decode speed-up of a model-bench row over its board's FP16-storage baseline (baseline decode
// time over this one's); empty without a baseline, for emulated rows, or a missing figure.
std::optional<double> decode_speedup_over_fp16(const RunView& view, const Measurement& m);

}  // namespace hilq::reports
