// Governor, frequency and temperature readers on a fixture sysfs tree; the throttling verdict;
// get_throttled parsing; CPU lists and pinning.
#include <catch2/catch.hpp>
#include <thread>

#include "agent/sysinfo.h"

using namespace hilq::agent;
using Catch::Matchers::Contains;

TEST_CASE("Thermal state is read from sysfs: governors, frequencies, zone temperatures",
          "[sysinfo]") {
  const ThermalState st = read_thermal_state(std::string(HILQ_FIXTURES_DIR) + "/sys");
  CHECK(st.governors == std::vector<std::string>{"schedutil"});
  CHECK(st.freq_khz == std::vector<int64_t>{2400000, 1500000});
  REQUIRE(st.zone_temps_c.size() == 2);
  CHECK(st.zone_temps_c[0] == Approx(48.15));
  CHECK(st.unreadable.empty());
  const ThermalState none = read_thermal_state("/nonexistent");
  CHECK(none.zone_temps_c.empty());
  CHECK(none.unreadable.size() == 2);  // says what it could not read
}

TEST_CASE("Throttling is flagged when temperature rose, frequency fell or the Pi says so",
          "[sysinfo]") {
  ThermalState before, after;
  before.zone_temps_c = {50.0};
  before.freq_khz = {2400000};
  after = before;
  CHECK_FALSE(judge_throttling(before, after).throttled);
  after.zone_temps_c = {58.0};
  auto v = judge_throttling(before, after);
  CHECK(v.throttled);
  CHECK_THAT(v.reasons.at(0), Contains("rose 8.0"));
  after = before;
  after.freq_khz = {1800000};
  CHECK_THAT(judge_throttling(before, after).reasons.at(0), Contains("fell 25%"));
  after = before;
  after.throttled = 0x50000;  // only "has occurred since boot" bits: not now
  CHECK_FALSE(judge_throttling(before, after).throttled);
  after.throttled = 0x50005;  // under-voltage and throttled right now
  CHECK(judge_throttling(before, after).throttled);
  CHECK(parse_get_throttled("throttled=0x50005\n") == 0x50005u);
  CHECK_FALSE(parse_get_throttled("error=1 error_msg=\"Command not registered\""));
}

TEST_CASE("CPU lists parse and the current thread can be pinned", "[sysinfo]") {
  CHECK(parse_cpu_list("0-2,5") == std::vector<int>{0, 1, 2, 5});
  CHECK_THROWS(parse_cpu_list("2-1"));
  CHECK_THROWS(parse_cpu_list("x"));
  const auto original = current_affinity();
  REQUIRE_FALSE(original.empty());
  std::thread t([&] {
    CHECK_FALSE(pin_current_thread({original.front()}));
    CHECK(current_affinity() == std::vector<int>{original.front()});
  });
  t.join();
}
