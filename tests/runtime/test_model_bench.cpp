// The agent's model-bench job on a small model file: the result fields the measurements table
// needs, the baselines and quantize-on-load, and config / artifact errors as typed exceptions.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "agent/kernel_bench.h"
#include "agent/model_bench.h"
#include "tests/runtime/runtime_test_util.h"

namespace hilq::runtime {
namespace {

using nlohmann::json;

std::string write_model(const test::TestModel& m, const std::string& tag) {
  const std::string path =
      "/tmp/hilq_mb_" + std::to_string(::getpid()) + "_" + tag + ".safetensors";
  REQUIRE(model::write_model_file(path, test::make_model_file(m)).empty());
  return path;
}

protocol::RepeatPolicy quick() {
  protocol::RepeatPolicy r;
  r.warmup = 1;
  r.min_repeats = 2;
  r.max_repeats = 2;
  r.min_time_s = 0.0;
  return r;
}

TEST_CASE("model-bench reports prefill, decode ms/token, memory and the kernels",
          "[runtime][model_bench]") {
  test::TestModel tm;
  tm.max_seq = 16;
  tm.q = {4, 8, 0, false, 0.5, false, false};
  const std::string path = write_model(tm, "w4a8");
  const json r = agent::run_model_bench(
      {{"model", path}, {"prompt_tokens", 16}, {"decode_tokens", 8}}, quick());
  std::remove(path.c_str());
  CHECK(r["model_label"] == "W4A8");
  CHECK(r["runs"] == 2);
  CHECK(r["samples_ns"]["prefill"].size() == 2);
  CHECK(r["samples_ns"]["decode"].size() == 16);
  CHECK(r["prefill_ms"].get<double>() > 0);
  CHECK(r["decode_ms_per_token"]["median"].get<double>() > 0);
  CHECK(r["decode_ms_per_token"]["p90"].get<double>() >=
        r["decode_ms_per_token"]["median"].get<double>());
  CHECK(r["decode"]["count"] == 16);
  CHECK(r["context"] == 24);
  CHECK(r["greedy_tokens"].size() == 8);
  CHECK(r["memory"]["weights_bytes"].get<int64_t>() > 0);
  // int8 K and V of 2 layers for 24 tokens plus a scale per token, each block 64-byte aligned.
  const int64_t kv = r["memory"]["kv_cache_bytes"].get<int64_t>();
  CHECK(kv >= 2 * 2 * (24 * 64 + 24 * 4));
  CHECK(kv < 2 * 2 * (24 * 64 + 24 * 4) + 4 * 64);
  CHECK(r["memory"]["arena_bytes"].get<int64_t>() > 0);
  CHECK(r["peak_rss_bytes"].get<int64_t>() > 0);
  CHECK(r["kernel"].get<std::string>().find("w4a8") != std::string::npos);
  CHECK(r["power"]["available"] == false);
}

TEST_CASE("model-bench measures baselines and quantizes a float artifact on load",
          "[runtime][model_bench]") {
  test::TestModel tm;
  const std::string path = write_model(tm, "fp");
  const json fp16 = agent::run_model_bench(
      {{"model", path}, {"weights", "fp16"}, {"prompt_tokens", 8}, {"decode_tokens", 4}}, quick());
  CHECK(fp16["model_label"] == "FP16");
  CHECK(fp16["kernel"].get<std::string>().find("fp16") != std::string::npos);
  test::TestModel q = tm;
  q.q = {4, 4, 0, true, 0.5, false, false};
  const json cfg = json::parse(test::quant_json(q));
  const json ta = agent::run_model_bench(
      {{"model", path}, {"quant_config", cfg}, {"prompt_tokens", 8}, {"decode_tokens", 4}},
      quick());
  CHECK(ta["model_label"] == "W4A4-TA8/4");
  CHECK(ta["kernel"].get<std::string>().find("w4a4") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("model-bench refuses bad configs and corrupt artifacts with typed errors",
          "[runtime][model_bench]") {
  test::TestModel tm;
  const std::string path = write_model(tm, "bad");
  CHECK_THROWS_AS(agent::run_model_bench(json::object(), quick()), agent::BadJobConfig);
  CHECK_THROWS_AS(agent::run_model_bench({{"model", path}, {"weights", "int3"}}, quick()),
                  agent::BadJobConfig);
  CHECK_THROWS_AS(agent::run_model_bench({{"model", path}, {"prompt_tokns", 3}}, quick()),
                  agent::BadJobConfig);
  CHECK_THROWS_AS(agent::run_model_bench({{"model", path}, {"isa", "sse9"}}, quick()),
                  agent::BadJobConfig);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "not a model";
  }
  CHECK_THROWS_AS(agent::run_model_bench({{"model", path}}, quick()), agent::BadModelArtifact);
  std::remove(path.c_str());
  CHECK_THROWS_AS(agent::run_model_bench({{"model", path}}, quick()), agent::BadModelArtifact);
}

}  // namespace
}  // namespace hilq::runtime
