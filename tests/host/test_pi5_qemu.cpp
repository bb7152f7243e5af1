// pi5-qemu end to end (label pi5-qemu): hil-search on this machine launches the aarch64 agent of
// the aarch64-qemu build under qemu-aarch64 -cpu cortex-a76; the real NEON dotprod path runs and
// every row is stored emulated, never as a board timing.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "db/run_store.h"
#include "tests/host/host_test_util.h"

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
