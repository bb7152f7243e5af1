// A run with known rows, recorded through db::RunStore, that the report tests and the golden files
// share: kernel benches (ok, failed), model benches on a real and an emulated board (FP16
// baseline, quantized settings, energy measured and not), agents (one quarantined) and boards.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "db/run_store.h"

namespace hilq::test {

inline db::MeasurementRow measurement(int64_t run, const std::string& board,
                                      const std::string& job_id, const std::string& kind,
                                      const std::string& config) {
  db::MeasurementRow m;
  m.run_id = run;
  m.board = board;
  m.agent = board + "-agent";
  m.job_id = job_id;
  m.kind = kind;
  m.config = config;
  return m;
}

// The metrics a model-bench RESULT carries, trimmed to what reports read plus some passthrough.
inline nlohmann::json model_metrics(const std::optional<std::string>& label, double decode_ms,
                                    double decode_p90_ms, int64_t weights_bytes) {
  nlohmann::json m = {{"model_kind", "causal_lm"},
                      {"prefill_ms", 13.0},
                      {"prefill", {{"median_ns", 13e6}, {"p90_ns", 14.5e6}}},
                      {"decode_ms_per_token", {{"median", decode_ms}, {"p90", decode_p90_ms}}},
                      {"tokens_per_s", 1e3 / decode_ms},
                      {"memory", {{"weights_bytes", weights_bytes}, {"kv_cache_bytes", 1048576}}},
                      {"throttled", false},
                      {"throttle_reasons", nlohmann::json::array()},
                      {"attempt", 1}};
  if (label) m["model_label"] = *label;
  return m;
}

// Records the known run in `d` and returns its id.
inline int64_t record_known_run(db::Database& d) {
  db::RunStore store(d);
  store.upsert_board({"local", "x86_64", R"(["avx2","fma"])", 2, 8LL << 30, "0.3.0", false});
  store.upsert_board({"pi5-qemu", "aarch64", R"(["neon","dotprod"])", 4, 8LL << 30, "0.3.0", true});
  const int64_t run = store.create_run(
      "hil-search --boards local,pi5-qemu --model \"tiny\".safetensors", std::string("0123abc"));

  auto ok = measurement(run, "local", "k-1", "kernel-bench",
                        R"({"op":"gemv","w_bits":8,"a_bits":8,"m":256,"k":256})");
  ok.kernel = "gemv_w8a8_1x16__avx2";
  ok.latency_median_ns = 12345.0;
  ok.latency_p10_ns = 12000.0;
  ok.latency_p90_ns = 13000.0;
  ok.latency_mad_ns = 150.5;
  ok.latency_mean_ns = 12400.123456789;
  ok.repeats = 30;
  ok.samples_ns = "[12000,12345,13000]";
  ok.peak_rss_bytes = 8 * 1048576;
  ok.model_bytes = 65536;
  ok.power_unavailable = "no sensor, here";
  ok.temperature_c = 51.5;
  ok.metrics = R"({"gops":10.6181,"throttled":true,"throttle_reasons":["zone0 hot"]})";
  store.record_measurement(ok);

  auto bad = measurement(run, "local", "k-2", "kernel-bench", "{}");
  bad.status = "failed";
  bad.error_class = "runtime";
  bad.error = "<boom> \"quoted\", twice";
  store.record_measurement(bad);

  const struct {
    const char *board, *id, *config;
    std::optional<std::string> label;
    double decode_ms;
    int64_t weights_bytes;
    std::optional<double> energy_j;
  } models[] = {
      {"local", "m-1", R"({"weights":"fp16"})", "FP16", 0.40, 11900000, 0.0012},
      {"local", "m-2", R"({"setting":"W4A8"})", "W4A8", 0.16, 5950000, std::nullopt},
      {"local", "m-3", R"({"setting":"W8A8"})", std::nullopt, 0.24, 7100000, std::nullopt},
      {"pi5-qemu", "q-1", R"({"weights":"fp16"})", "FP16", 8.0, 11900000, std::nullopt},
      {"pi5-qemu", "q-2", R"({"setting":"W4A8"})", "W4A8", 2.0, 5950000, std::nullopt},
  };
  for (const auto& s : models) {
    auto m = measurement(run, s.board, s.id, "model-bench", s.config);
    m.kernel = "gemv_w4a8_g32_1x16__avx2";
    m.latency_median_ns = s.decode_ms * 1e6;
    m.latency_p10_ns = s.decode_ms * 0.9e6;
    m.latency_p90_ns = s.decode_ms * 1.25e6;
    m.repeats = 256;
    m.peak_rss_bytes = 24 * 1048576;
    m.model_bytes = s.weights_bytes;
    m.energy_j = s.energy_j;
    if (s.energy_j)
      m.power_source = "rapl";
    else
      m.power_unavailable = "no power sensor on this board";
    m.emulated = std::string(s.board) == "pi5-qemu";
    m.metrics = model_metrics(s.label, s.decode_ms, s.decode_ms * 1.25, s.weights_bytes).dump();
    store.record_measurement(m);
  }

  store.upsert_agent(
      {run, "local-agent", "local", std::string("local"), "connected", std::nullopt});
  store.upsert_agent({run, "pi5-qemu-agent", "pi5-qemu", std::nullopt, "quarantined",
                      std::string("health check answered <wrong>")});
  store.finish_run(run, "completed", std::string("5 of 7 jobs & 2 more"));
  return run;
}

}  // namespace hilq::test
