// Typed job configs and results (protocol/jobs.h): round trips through their JSON, defaults, and
// decode errors that name the field.
#include <catch2/catch.hpp>

#include "agent/kernel_bench.h"
#include "base/error.h"
#include "protocol/jobs.h"

namespace proto = hilq::protocol;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

proto::ModelBenchResult sample_model_result() {
  proto::ModelBenchResult r;
  r.setting = "W4A8";
  r.prefill_ms = 12.5;
  r.prefill = {12.5e6, 12e6, 13e6, 1e5, 12.6e6, 11e6, 14e6, 3};
  r.decode = proto::LatencySummary{2e5, 1.9e5, 2.4e5, 1e4, 2.1e5, 1.8e5, 3e5, 384};
  r.decode_ms_median = 0.2;
  r.decode_ms_p90 = 0.24;
  r.tokens_per_s = 5000;
  r.weight_bytes = 3000000;
  r.kv_cache_bytes = 65536;
  r.arena_bytes = 4096;
  r.peak_rss_bytes = 50 << 20;
  r.energy_unavailable_reason = "no sensor";
  r.kernel = "gemv_w4a8__avx2";
  r.kernel_path = "avx2";
  r.power = proto::PowerReading{false, "", "no sensor", "", 0, 0, 0, 0, std::nullopt};
  r.extra = {{"greedy_tokens", {1, 2, 3}}, {"memory", {{"file_bytes", 123}}}};
  return r;
}

}  // namespace

TEST_CASE("A model-bench result round trips through its JSON with every named field",
          "[protocol][jobs]") {
  const proto::ModelBenchResult r = sample_model_result();
  const json j = proto::to_json(r);
  CHECK(j["model_label"] == "W4A8");
  CHECK(j["decode_ms_per_token"]["p90"] == 0.24);
  CHECK(j["memory"]["file_bytes"] == 123);  // extras merge with the typed memory figures
  CHECK(j["memory"]["kv_cache_bytes"] == 65536);
  CHECK_FALSE(j.contains("latency"));  // decode statistics are "decode", never relabelled
  const proto::ModelBenchResult back = proto::decode_model_bench_result(j);
  CHECK(back.setting == r.setting);
  CHECK(back.prefill_ms == r.prefill_ms);
  CHECK(back.decode_ms_median == r.decode_ms_median);
  CHECK(back.decode_ms_p90 == r.decode_ms_p90);
  CHECK(back.tokens_per_s == r.tokens_per_s);
  CHECK(back.weight_bytes == r.weight_bytes);
  CHECK(back.kv_cache_bytes == r.kv_cache_bytes);
  CHECK(back.arena_bytes == r.arena_bytes);
  CHECK(back.peak_rss_bytes == r.peak_rss_bytes);
  CHECK(back.kernel == r.kernel);
  CHECK(back.kernel_path == r.kernel_path);
  CHECK(back.decode->count == 384);
  CHECK(back.per_inference().median_ns == 2e5);
  CHECK_FALSE(back.energy_per_token_j.has_value());
  CHECK(back.energy_unavailable_reason == "no sensor");
  CHECK(back.extra["greedy_tokens"] == json({1, 2, 3}));
  CHECK(back.extra["memory"] == json({{"file_bytes", 123}}));
  CHECK_FALSE(back.extra.contains("model_label"));
}

TEST_CASE("Decoding a model-bench result names the field that is missing or mistyped",
          "[protocol][jobs]") {
  const json good = proto::to_json(sample_model_result());
  json j = good;
  j["decode_ms_per_token"].erase("median");
  CHECK_THROWS_WITH(
      proto::decode_model_bench_result(j),
      Contains("model-bench") && Contains("'decode_ms_per_token.median'") && Contains("missing"));
  j = good;
  j["memory"]["kv_cache_bytes"] = "lots";
  CHECK_THROWS_WITH(proto::decode_model_bench_result(j),
                    Contains("'memory.kv_cache_bytes'") && Contains("integer"));
  j = good;
  j["decode"]["median_ns"] = nullptr;
  CHECK_THROWS_WITH(proto::decode_model_bench_result(j), Contains("'decode.median_ns'"));
  j = good;
  j["model_kind"] = "vision";
  CHECK_THROWS_AS(proto::decode_model_bench_result(j), hilq::ProtocolError);
  // A classifier has no decode: its per-inference statistics are the prefill's.
  j = good;
  j["model_kind"] = "classifier";
  j.erase("decode");
  j.erase("decode_ms_per_token");
  const auto c = proto::decode_model_bench_result(j);
  CHECK_FALSE(c.decode.has_value());
  CHECK(c.per_inference().median_ns == 12.5e6);
}

TEST_CASE("A kernel-bench result needs only its latency; the rest are defaults or extras",
          "[protocol][jobs]") {
  const auto r = proto::decode_kernel_bench_result({{"latency", {{"median_ns", 5.0}}}});
  CHECK(r.latency.median_ns == 5.0);
  CHECK(r.latency.p90_ns == 5.0);
  CHECK(r.latency.count == 1);
  CHECK_FALSE(r.power.has_value());
  CHECK_THROWS_WITH(proto::decode_kernel_bench_result({{"kernel", "x"}}, "noop"),
                    Contains("RESULT noop") && Contains("'latency'"));
  const auto full =
      proto::decode_kernel_bench_result({{"kernel", "gemv_w8a8__ref"},
                                         {"isa", "ref"},
                                         {"latency", {{"median_ns", 7.0}, {"count", 3}}},
                                         {"samples_ns", {6.0, 7.0, 8.0}},
                                         {"gops", 1.5},
                                         {"power",
                                          {{"available", true},
                                           {"source", "rapl"},
                                           {"idle_w", 1.0},
                                           {"window_w", 3.0},
                                           {"energy_per_inference_j", 2e-9}}}});
  CHECK(full.kernel == "gemv_w8a8__ref");
  CHECK(full.samples_ns.size() == 3);
  CHECK(full.power->energy_per_inference_j == 2e-9);
  CHECK(full.extra == json({{"gops", 1.5}}));
  CHECK(proto::decode_kernel_bench_result(proto::to_json(full)).extra == full.extra);
}

TEST_CASE("A model-bench config says its setting the way the agent reads it, with defaults",
          "[protocol][jobs]") {
  proto::ModelBenchConfig c;
  CHECK(proto::to_json(c) ==
        json({{"prompt_tokens", 128}, {"decode_tokens", 128}, {"threads", 1}}));
  c.setting = hilq::model::Setting::fp16();
  CHECK(proto::to_json(c)["weights"] == "fp16");
  c.setting = hilq::model::Setting::parse("W4A4-TA8/4");
  CHECK(proto::to_json(c)["setting"] == "W4A4-TA8/4");
  CHECK_FALSE(proto::to_json(c).contains("weights"));
}

TEST_CASE("A kernel-bench shape larger than the board's available memory is a bad request",
          "[fault]") {
  using hilq::agent::BadJobConfig;
  using hilq::agent::check_kernel_bench_memory;
  using hilq::agent::kernel_bench_bytes;
  // 4 * (m*k + n*k + n*m) float bytes plus m*k*w/8 codes and m*k scales at most.
  CHECK(kernel_bench_bytes(64, 32, 1, 8) == 4 * (64 * 32 + 32 + 64) + 64 * 32 + 64 * 32);
  CHECK_NOTHROW(check_kernel_bench_memory(4096, 4096, 1, 4, int64_t{1} << 30));
  CHECK_NOTHROW(check_kernel_bench_memory(65536, 65536, 4096, 8, -1));  // unknown: let through
  try {
    check_kernel_bench_memory(65536, 65536, 4096, 8, int64_t{1} << 30);
    FAIL("no error");
  } catch (const BadJobConfig& e) {
    CHECK_THAT(e.what(), Contains("m=65536 k=65536 n=4096") && Contains("26624 MiB") &&
                             Contains("1024 MiB this board has available"));
  }
}
