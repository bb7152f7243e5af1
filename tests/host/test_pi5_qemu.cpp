// pi5-qemu end to end (label pi5-qemu): hil-search on this machine launches the aarch64 agent of
// the aarch64-qemu build under qemu-aarch64 -cpu cortex-a76; the real NEON dotprod path runs and
// every row is stored emulated, never as a board timing; a model-bench run on both boards decodes
// the same tokens.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "db/run_store.h"
#include "tests/host/host_test_util.h"
#include "tests/runtime/runtime_test_util.h"

using namespace hilq::test;
using Catch::Matchers::Contains;

TEST_CASE("The cross-built agent runs under qemu as pi5-qemu; its results are emulated",
          "[pi5-qemu]") {
  const char* env = std::getenv("HILQ_AARCH64_AGENT");
  const std::string agent = env ? env : HILQ_SOURCE_DIR "/build/aarch64-qemu/agent/hil-agent";
  INFO("cross-built agent: " << agent << " (build the aarch64-qemu preset first)");
  REQUIRE(fs::exists(agent));
  Sandbox box;
  Child search(
      box, "search",
      {search_bin(), "--boards", "pi5-qemu", "--port", "0", "--db", box.path("hil.db"), "--out",
       box.path("out"), "--min-time", "0.01", "--agent-aarch64", agent, "--connect-timeout", "60"});
  const auto code = search.wait_for(300);
  INFO(search.err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_THAT(search.err(), Contains("(aarch64,"));
  hilq::db::Database d(box.path("hil.db"));
  hilq::db::RunStore store(d);
  const auto rows = store.measurements(1);
  CHECK(rows.size() == 4);
  for (const auto& m : rows) {
    CAPTURE(m.job_id);
    CHECK(m.status == "ok");
    CHECK(m.emulated);
    CHECK_THAT(m.kernel.value_or(""), Contains("dotprod"));  // the NEON path, not the scalar one
  }
  CHECK(store.board("pi5-qemu")->emulated);
  CHECK(box.read("out/report.html").find("<svg") == std::string::npos);
}

TEST_CASE("The quantized model decodes the same tokens on the NEON paths under qemu as on x86",
          "[pi5-qemu]") {
  const char* env = std::getenv("HILQ_AARCH64_AGENT");
  const std::string agent = env ? env : HILQ_SOURCE_DIR "/build/aarch64-qemu/agent/hil-agent";
  REQUIRE(fs::exists(agent));
  Sandbox box;
  hilq::runtime::test::TestModel tm;  // a float micro model, quantized on load by each agent
  tm.max_seq = 32;
  REQUIRE(hilq::model::write_model_file(box.path("micro.safetensors"),
                                        hilq::runtime::test::make_model_file(tm))
              .empty());
  Child search(box, "search",
               {search_bin(),
                "--boards",
                "pi5-qemu,local",
                "--port",
                "0",
                "--db",
                box.path("hil.db"),
                "--out",
                box.path("out"),
                "--model",
                box.path("micro.safetensors"),
                "--settings",
                "FP16,W8A8,W4A8,W4A4-TA8/4,W2A8g64",
                "--prompt-tokens",
                "16",
                "--decode-tokens",
                "16",
                "--min-time",
                "0.01",
                "--agent-aarch64",
                agent,
                "--connect-timeout",
                "60"});
  const auto code = search.wait_for(300);
  INFO(search.err());
  REQUIRE(code);
  REQUIRE(*code == 0);
  hilq::db::Database d(box.path("hil.db"));
  const auto rows = hilq::db::RunStore(d).measurements(1);
  REQUIRE(rows.size() == 10);
  std::map<std::string, std::map<std::string, nlohmann::json>> tokens;  // label -> board -> ids
  for (const auto& m : rows) {
    CAPTURE(m.job_id, m.error.value_or(""));
    REQUIRE(m.status == "ok");
    const auto metrics = nlohmann::json::parse(m.metrics);
    tokens[m.setting.value()][m.board] = metrics["greedy_tokens"];
    if (m.board == "pi5-qemu") CHECK(m.emulated);
  }
  REQUIRE(tokens.size() == 5);
  for (const auto& [label, by_board] : tokens) {
    CAPTURE(label);
    REQUIRE(by_board.size() == 2);
    CHECK(by_board.at("local").size() == 16);
    CHECK(by_board.at("local") == by_board.at("pi5-qemu"));
  }
}
