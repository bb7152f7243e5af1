// Power sensor parsers and backends against fixture files in the real formats (fixtures/), and
// the energy arithmetic: counter wrap, trapezoid integration, idle baseline, unavailable reasons.
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent/power.h"

using namespace hilq::agent;
using Catch::Matchers::Contains;

namespace {

const std::string kFixtures = HILQ_FIXTURES_DIR;

std::string slurp(const std::string& rel) {
  std::ifstream in(kFixtures + "/" + rel);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A sensor with a scripted power level, for the measurement arithmetic.
class FakeSensor : public PowerSensor {
 public:
  FakeSensor(bool counter, double idle_w, double busy_w)
      : counter_(counter), idle_w_(idle_w), busy_w_(busy_w) {}
  std::string source() const override { return "fake"; }
  bool is_counter() const override { return counter_; }
  double sample_interval_s() const override { return 0.005; }
  double read() override {
    std::lock_guard<std::mutex> lock(mu_);  // the sampler thread reads too
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    joules_ += dt * (busy ? busy_w_ : idle_w_);
    last_ = now;
    return counter_ ? joules_ : (busy ? busy_w_ : idle_w_);
  }
  void set_busy(bool b) {
    read();  // account the time so far at the old level
    std::lock_guard<std::mutex> lock(mu_);
    busy = b;
  }

 private:
  std::mutex mu_;
  bool busy = false;
  bool counter_;
  double idle_w_, busy_w_, joules_ = 0;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

TEST_CASE("RAPL counter deltas wrap at max_energy_range_uj", "[power]") {
  CHECK(rapl_delta_uj(1000, 5000, 262143328850ull) == 4000);
  // e0 near the top of the range, e1 after the wrap.
  CHECK(rapl_delta_uj(262143000000ull, 1234567, 262143328850ull) == 328850 + 1234567);
  auto sensor = make_power_sensor("rapl", {{"zone", kFixtures + "/rapl/intel-rapl:0"}});
  CHECK(sensor->is_counter());
  CHECK(sensor->read() == Approx(0.0));
  CHECK_THAT(sensor->source(), Contains("intel-rapl:0"));
}

TEST_CASE("An unreadable RAPL zone says why instead of inventing a figure", "[power]") {
  CHECK_THROWS_WITH(make_power_sensor("rapl", {{"zone", "/nonexistent/intel-rapl:0"}}),
                    Contains("no RAPL powercap zone"));
  CHECK_THROWS_WITH(make_power_sensor("none", nlohmann::json::object()),
                    Contains("selects no power sensor"));
  const auto r = measure_with_power(nullptr, "backend rapl unavailable: no zone", 0.0, [] {
    return nlohmann::json{{"latency", {{"median_ns", 10.0}}}};
  });
  CHECK(r["power"]["available"] == false);
  CHECK(r["power"]["reason"] == "backend rapl unavailable: no zone");
}

TEST_CASE("hwmon INA219: the device is found by name and power1_input is microwatts", "[power]") {
  auto sensor = make_power_sensor(
      "hwmon", {{"hwmon_root", kFixtures + "/hwmon-ina219"}, {"device", "ina219"}});
  CHECK_FALSE(sensor->is_counter());
  CHECK(sensor->read() == Approx(3.104064));
  CHECK_THAT(sensor->source(), Contains("hwmon3"));  // not the coretemp in hwmon0
  CHECK_THROWS_WITH(make_power_sensor("hwmon", {{"hwmon_root", kFixtures + "/hwmon-ina219"},
                                                {"device", "ina226"}}),
                    Contains("no hwmon device named ina226") && Contains("coretemp"));
}

TEST_CASE("hwmon INA3221 computes no power: bus mV x mA per enabled channel", "[power]") {
  auto sensor = make_power_sensor("hwmon", {{"hwmon_root", kFixtures + "/hwmon-ina3221"}});
  // 5.024 V x 0.420 A + 3.312 V x 0.150 A + 1.808 V x 0.090 A; shunt µV (in4-6) are not used.
  CHECK(sensor->read() == Approx(5.024 * 0.420 + 3.312 * 0.150 + 1.808 * 0.090));
}

TEST_CASE("vcgencmd pmic_read_adc captures parse, including the 0V8_SYS variant and errors",
          "[power]") {
  const auto full = parse_pmic_read_adc(slurp("pmic/full.txt"));
  CHECK(full.size() == 26);
  const auto core = std::find_if(full.begin(), full.end(), [](const PmicChannel& c) {
    return c.rail == "VDD_CORE" && c.unit == 'A';
  });
  REQUIRE(core != full.end());
  CHECK(core->index == 7);
  CHECK(core->value == Approx(0.92871990));
  const double watts = pmic_rails_watts(full);
  CHECK(watts > 1.0);
  CHECK(watts < 3.0);
  // EXT5V_V and BATT_V have no current: they add nothing.
  const auto variant = parse_pmic_read_adc(slurp("pmic/0v8_sys.txt"));
  CHECK(pmic_rails_watts(variant) == Approx(watts));
  CHECK_THROWS_WITH(parse_pmic_read_adc(slurp("pmic/error.txt")),
                    Contains("Command not registered"));
  auto sensor = make_power_sensor("pi5-pmic", nlohmann::json::object(), "/sys",
                                  {"cat", kFixtures + "/pmic/full.txt"});
  CHECK(sensor->read() == Approx(watts));
  CHECK_THROWS_WITH(make_power_sensor("pi5-pmic", nlohmann::json::object(), "/sys",
                                      {"hilq-no-such-program", "pmic_read_adc"}),
                    Contains("could not be run"));
}

TEST_CASE("Android battery files: microamps or vendor milliamps, either sign", "[power]") {
  const BatteryConvention autodetect;
  auto read = [&](const std::string& dir) {
    return parse_battery(slurp("power_supply/" + dir + "/current_now"),
                         slurp("power_supply/" + dir + "/voltage_now"),
                         std::ifstream(kFixtures + "/power_supply/" + dir + "/status")
                             ? slurp("power_supply/" + dir + "/status")
                             : "",
                         autodetect);
  };
  const auto kernel_abi = read("discharging-uA");  // -512000 µA: negative means discharging
  CHECK_FALSE(kernel_abi.charging);
  CHECK(kernel_abi.watts == Approx(0.512 * 3.871));
  const auto vendor = read("vendor-mA-positive");  // 487 mA, positive while discharging
  CHECK_FALSE(vendor.charging);
  CHECK(vendor.watts == Approx(0.487 * 3.850));
  CHECK_THAT(vendor.note, Contains("mA"));
  CHECK(read("charging").charging);
  // Without a status file the configured sign convention decides.
  BatteryConvention negative;
  negative.discharge_sign = "negative";
  const auto no_status = parse_battery("-650000", "3900000", "", negative);
  CHECK_FALSE(no_status.charging);
  BatteryConvention positive;
  positive.discharge_sign = "positive";
  CHECK(parse_battery("-650000", "3900000", "", positive).charging);
  // A charging battery is not the device's consumption: the backend refuses it.
  CHECK_THROWS_WITH(
      make_power_sensor("android", {{"supply", kFixtures + "/power_supply/charging"}}),
      Contains("charging"));
  auto sensor =
      make_power_sensor("android", {{"supply", kFixtures + "/power_supply/discharging-uA"}});
  CHECK(sensor->read() == Approx(0.512 * 3.871));
}

TEST_CASE("ODPM energy_value, dumpsys powerstats and PTDaemon logs parse", "[power]") {
  const auto snap = parse_odpm_energy_value(slurp("odpm/energy_value"));
  CHECK(snap.t_ms == 349894);
  CHECK(snap.rail_energy_uj.size() == 8);
  CHECK(snap.rail_energy_uj.at("S2M_VDD_CPUCL2") == 93681229u);
  const auto channels = parse_powerstats_channels(slurp("odpm/dumpsys_powerstats.txt"));
  REQUIRE(channels.size() == 6);
  CHECK(channels[0] == "S10M_VDD_TPU");
  std::istringstream log(slurp("ptd/ptd.log"));
  std::string line;
  std::vector<PtdSample> samples;
  while (std::getline(log, line))
    if (auto s = parse_ptd_line(line)) samples.push_back(*s);
  REQUIRE(samples.size() == 3);
  CHECK(samples[0].watts == Approx(61.52));
  CHECK(samples[2].mark == "power_end");
  CHECK_FALSE(parse_ptd_line("Watts,1"));
}

TEST_CASE("Energy is the window's energy minus the idle baseline, per inference by median",
          "[power]") {
  for (bool counter : {true, false}) {
    CAPTURE(counter);
    FakeSensor sensor(counter, 2.0, 5.0);
    const auto r = measure_with_power(&sensor, "", 0.1, [&] {
      sensor.set_busy(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      sensor.set_busy(false);
      return nlohmann::json{{"latency", {{"median_ns", 1e6}}}};  // 1 ms per inference
    });
    const auto& p = r["power"];
    REQUIRE(p["available"] == true);
    // Timing slack of the sleeps: 25 % on the power levels.
    CHECK(p["idle_w"].get<double>() == Approx(2.0).epsilon(0.25));
    CHECK(p["window_w"].get<double>() == Approx(5.0).epsilon(0.25));
    CHECK(p["energy_j"].get<double>() == Approx(3.0 * p["window_s"].get<double>()).epsilon(0.3));
    CHECK(p["energy_per_inference_j"].get<double>() == Approx(3.0e-3).epsilon(0.3));
  }
}
