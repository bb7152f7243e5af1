// Typed job configs and results of the measurement kinds, with their JSON form and the defaults in
// one place. The agent builds a result struct and sends to_json() as a RESULT's "measurement"; the
// host decodes it once with decode_*_result(), which names the field a bad value sits in.
//
//   kind           config                       result
//   kernel-bench   op, bits, m, k (agent)       KernelBenchResult: the kernel, its latency
//   noop           sleep_ms                     KernelBenchResult with kernel "noop"
//   model-bench    ModelBenchConfig             ModelBenchResult: prefill, decode ms/token,
//                                               memory, energy per token, kernel path
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/setting.h"

namespace hilq::protocol {

inline constexpr const char* kKernelBenchKind = "kernel-bench";
inline constexpr const char* kModelBenchKind = "model-bench";
inline constexpr const char* kNoopKind = "noop";

// ---- configs -----------------------------------------------------------------------------------

// What a model-bench job measures of its artifact; these defaults are the agent's and the host's.
// The setting (model/setting.h) is FP32 or FP16 (the artifact's float baselines), as-stored (the
// file as it is), or a quantized setting (W8A8, W4A4-TA8/4, ...) applied on load.
struct ModelBenchConfig {
  static constexpr int kDefaultPromptTokens = 128;  // as the Squat paper measures prefill
  static constexpr int kDefaultDecodeTokens = 128;
  static constexpr int kDefaultThreads = 1;
  model::Setting setting = model::Setting::as_stored();
  int prompt_tokens = kDefaultPromptTokens;
  int decode_tokens = kDefaultDecodeTokens;
  int threads = kDefaultThreads;
};
// The job config the agent reads: {"weights": "fp32"|"fp16"} or {"setting": ...} plus the counts.
nlohmann::json to_json(const ModelBenchConfig& config);

// ---- results -----------------------------------------------------------------------------------

// Statistics over the kept samples of one measured quantity (nanoseconds).
struct LatencySummary {
  double median_ns = 0, p10_ns = 0, p90_ns = 0, mad_ns = 0, mean_ns = 0, min_ns = 0, max_ns = 0;
  int64_t count = 0;
};
nlohmann::json to_json(const LatencySummary& stats);

// The power sensor's reading around a job, or why there is none.
struct PowerReading {
  bool available = false;
  std::string source;  // sensor backend, also when it failed mid-job
  std::string reason;  // when unavailable
  std::string method;  // "counter delta" | "sampled, trapezoid"
  double idle_w = 0, window_w = 0, window_s = 0;
  double energy_j = 0;  // window energy minus the idle baseline
  // (window power - idle power) x median latency of one inference, when the kind has one.
  std::optional<double> energy_per_inference_j;
};
nlohmann::json to_json(const PowerReading& power);

// A kernel-bench (or noop) result: the kernel that ran and its latency over every sample.
struct KernelBenchResult {
  std::string kernel;  // e.g. gemv_w8a8_1x16__avx2, or "noop"
  std::string isa;     // the kernel path that ran (ref, avx2, neon, ...); empty for noop
  LatencySummary latency;
  std::vector<double> samples_ns;
  std::optional<int64_t> weight_bytes;
  std::optional<int64_t> peak_rss_bytes;
  std::optional<double> temperature_c;  // hottest thermal zone after the job
  std::optional<PowerReading> power;
  nlohmann::json extra = nlohmann::json::object();  // GOP/s, shape, thermal, ... as sent
};

// A model-bench result with named fields (ms are milliseconds of wall time).
struct ModelBenchResult {
  std::string setting;                   // the loaded model's label: FP32, FP16, W4A8, ...
  std::string model_kind = "causal_lm";  // or "classifier" (no decode)
  double prefill_ms = 0;                 // median over runs of the whole prompt
  std::optional<double> decode_ms_median, decode_ms_p90;  // per decoded token
  std::optional<double> tokens_per_s;                     // 1000 / decode_ms_median
  int64_t weight_bytes = 0, kv_cache_bytes = 0, arena_bytes = 0;
  std::optional<int64_t> peak_rss_bytes;
  std::optional<double> energy_per_token_j;  // per inference for a classifier
  std::string energy_unavailable_reason;     // set whenever energy_per_token_j is not
  std::string kernel;                        // '+'-joined kernels that ran
  std::string kernel_path;                   // the ISA path the kernels dispatched to
  LatencySummary prefill;                    // per run of the prompt
  std::optional<LatencySummary> decode;      // per token
  std::optional<double> temperature_c;
  std::optional<PowerReading> power;
  nlohmann::json extra = nlohmann::json::object();  // greedy tokens, thread CPU, thermal, ...
  // The statistics an inference is timed by: decode per token, or prefill for a classifier.
  const LatencySummary& per_inference() const { return decode ? *decode : prefill; }
};

// The RESULT measurement JSON of each kind; the extras are merged in, typed fields win.
nlohmann::json to_json(const KernelBenchResult& result);
nlohmann::json to_json(const ModelBenchResult& result);

// Per-result limits, so one agent cannot grow the database by hundreds of MB: the kept latency
// samples (100,000 doubles are ~2 MB of JSON; the repeat policy keeps thousands at most) and the
// untyped fields stored as the metrics JSON.
inline constexpr size_t kMaxResultSamples = 100000;
inline constexpr size_t kMaxResultExtraBytes = 64 * 1024;

// Decode a RESULT's measurement. Throw ProtocolError("RESULT <kind>: field '<name>' <rule>") on a
// missing, mistyped or implausible field: a latency (median, p10, p90, mean, min, max, samples,
// prefill, ms per token) that is not > 0, p90 below p10, a count below 1, a byte figure below 0
// or beyond int64 (checked as a JSON integer, never cast), a temperature outside [-100, 200] C,
// negative power or energy, more than kMaxResultSamples samples, untyped fields above
// kMaxResultExtraBytes. Fields not typed above land in `extra`.
// `kind` and `field` name the place in error messages ("RESULT model-bench: field 'decode.count'").
LatencySummary decode_latency(const nlohmann::json& stats, const std::string& kind,
                              const std::string& field);
PowerReading decode_power(const nlohmann::json& power, const std::string& kind);
KernelBenchResult decode_kernel_bench_result(const nlohmann::json& measurement,
                                             const std::string& kind = kKernelBenchKind);
ModelBenchResult decode_model_bench_result(const nlohmann::json& measurement);
// Decodes a RESULT of a job of `kind` by the decoder above for its kind (model-bench, else the
// kernel-bench form) and keeps nothing: the broker's check before it accepts a result.
void check_result(const std::string& kind, const nlohmann::json& measurement);

}  // namespace hilq::protocol
