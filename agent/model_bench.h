// model-bench jobs: load a model artifact with the on-device runtime (runtime/), then
// measure prefill latency of a prompt (128 tokens, as the Squat paper), decode ms/token (median
// and p90 over every decoded token of every run), memory (weights, KV cache, arena, process peak
// RSS) and the kernels that ran.
//
// Job config (all optional but the model):
//   {"model": PATH            the artifact file (the worker sets it from the job's artifact;
//                             "model_path" is accepted too)
//    "weights": "as-stored" | "fp32" | "fp16"   the file as packed, or its FP32 / FP16-storage
//                             baseline (packed weights dequantized, activations float)
//    "quant_config": {...} or its JSON text     quantize a float artifact on load (absmax
//                             weight scales, dynamic activation scales), so any candidate's
//                             latency is measurable from one FP artifact; for a packed artifact
//                             it must equal the file's config
//    "setting": "W4A8" | "W4A4-TA8/4" | ...  the same as a setting name (model/setting.h,
//                             resolved against the model's layer count)
//    "float_storage": "fp32" | "fp16"   the float parts of a quantized model (embedding, LM
//                             head) as they were trained, or in fp16 storage
//    "prompt_tokens": 128, "decode_tokens": 128, "context": prompt + decode (KV capacity),
//    "threads": 1, "isa": "avx2" | "neon" | ..., "int4": "dot" | "cat", "seed": 1}
// Repeat policy: warmup whole runs (prefill + decode) are discarded, then runs until both
// min_repeats and min_time_s are reached (max_repeats caps them).
//
// Result: protocol::ModelBenchResult (protocol/jobs.h): setting label, prefill ms, decode
// ms/token (median, p90), tokens/s, weight / KV-cache / arena bytes, peak RSS, the kernels and
// kernel path that ran, prefill and decode statistics, and energy per token or why there is
// none; its extras carry every sample, thread CPU time, the greedy tokens (the first run's, to
// compare boards), file bytes and the model's data SHA-256.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "agent/power.h"
#include "protocol/jobs.h"
#include "protocol/message.h"

namespace hilq::agent {

// The artifact is not a loadable model file (corrupt, truncated, wrong version, inconsistent):
// the worker answers with error class "artifact". Config problems throw BadJobConfig
// (agent/kernel_bench.h, class "bad-request").
class BadModelArtifact : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// test_slowdown (hil-agent --test-slowdown, a fraction) stretches every timed step
// (runtime::BenchOptions::test_slowdown); the result's extras say so.
// `artifact_verified`: the file came from the artifact cache, which checked its SHA-256 when it
// arrived, so the load does not hash it again.
protocol::ModelBenchResult measure_model(const nlohmann::json& config,
                                         const protocol::RepeatPolicy& repeat,
                                         bool artifact_verified = false, double test_slowdown = 0);
// measure_model as the RESULT's measurement JSON.
nlohmann::json run_model_bench(const nlohmann::json& config, const protocol::RepeatPolicy& repeat,
                               bool artifact_verified = false);

// measure_model inside measure_with_power: adds the power reading and energy_per_token_j when the
// sensor reads; else energy_unavailable_reason says why.
nlohmann::json run_model_bench_measured(const nlohmann::json& config,
                                        const protocol::RepeatPolicy& repeat, PowerSensor* sensor,
                                        const std::string& unavailable_reason, double idle_s,
                                        bool artifact_verified = false, double test_slowdown = 0);

}  // namespace hilq::agent
