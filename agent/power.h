// Power and energy sensors, one backend per sensor family (chosen by the board file's "power"):
//
//   rapl      powercap energy_uj counter (µJ, wraps at max_energy_range_uj)      counter
//   hwmon     INA219/INA226 power1_input (µW) or in*_input (mV) x curr*_input (mA),
//             INA3221 per channel V x I (it computes no power itself)          sampled
//   pi5-pmic  `vcgencmd pmic_read_adc` (argv, no shell): sum of V x I over the rails  sampled
//   android   power_supply current_now x voltage_now, vendor units and signs   sampled
//   none      nothing: every result says energy is unavailable and why
//
// Energy of a job = counter delta (or trapezoid-integrated samples) over the job window;
// the idle baseline is the mean power over a short idle window measured just before.
// Energy per inference = (mean window power - idle power) x median latency. Parsers are pure
// functions tested against fixture files copying the real formats (tests/agent/fixtures).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hilq::agent {

// A sensor that cannot be read; the message says which file or command and why.
class SensorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- parsers (pure) ---------------------------------------------------------------------------

// Counter difference with wrap-around at range_uj: (e1 - e0 + range) mod range when e1 < e0.
uint64_t rapl_delta_uj(uint64_t e0_uj, uint64_t e1_uj, uint64_t range_uj);

struct PmicChannel {
  std::string rail;  // "VDD_CORE"
  char unit = 'A';   // 'A' current, 'V' voltage
  int index = 0;     // the ADC channel number in parentheses
  double value = 0;  // amperes or volts
};
// Parses `vcgencmd pmic_read_adc`; throws SensorError on the "error=1 error_msg=..." answer of
// boards without the PMIC or on text with no channel line.
std::vector<PmicChannel> parse_pmic_read_adc(const std::string& text);
// Sum of V x I over the rails that have both (EXT5V_V and BATT_V are voltage only).
double pmic_rails_watts(const std::vector<PmicChannel>& channels);

struct BatteryConvention {
  std::string current_unit = "auto";    // uA | mA | auto (|I| < 10000 means mA)
  std::string voltage_unit = "auto";    // uV | mV | auto (V < 100000 means mV)
  std::string discharge_sign = "auto";  // negative | positive | auto (use `status`, else |I|)
};
struct BatteryReading {
  double watts = 0;       // power drawn from the battery (>= 0)
  bool charging = false;  // then the reading is not the device's consumption
  std::string note;       // the conventions applied
};
// From the texts of current_now, voltage_now and (optionally empty) status.
BatteryReading parse_battery(const std::string& current_now, const std::string& voltage_now,
                             const std::string& status, const BatteryConvention& convention);

// Android ODPM `energy_value`: "t=<ms>" then "CH<i>(T=<ms>)[<RAIL>], <µJ>" per rail.
struct OdpmSnapshot {
  int64_t t_ms = 0;
  std::map<std::string, uint64_t> rail_energy_uj;
};
OdpmSnapshot parse_odpm_energy_value(const std::string& text);
// `dumpsys powerstats`: channel names listed as "ChannelId: 0, ChannelName: S10M_VDD_TPU, ...".
std::vector<std::string> parse_powerstats_channels(const std::string& text);

// SPEC PTDaemon log line "Time,<ts>,Watts,<w>,Volts,<v>,Amps,<a>,PF,<pf>,Mark,<mark>".
struct PtdSample {
  std::string time, mark;
  double watts = 0, volts = 0, amps = 0, pf = 0;
};
std::optional<PtdSample> parse_ptd_line(const std::string& line);

// ---- sensors ----------------------------------------------------------------------------------

class PowerSensor {
 public:
  virtual ~PowerSensor() = default;
  virtual std::string source() const = 0;
  // Counters return cumulative joules (wrap-corrected); samplers return instantaneous watts.
  virtual bool is_counter() const = 0;
  virtual double read() = 0;  // throws SensorError
  // Seconds between samples for sampled sensors (pmic: one call takes about 0.1 s).
  virtual double sample_interval_s() const { return 0.05; }
};

// The pi5-pmic sensor's command when the agent is given none (hil-agent --power-command).
inline const std::vector<std::string> kDefaultPmicCommand = {"vcgencmd", "pmic_read_adc"};

// Builds the sensor for a board file's power spec ({"backend": ..., options}). `root` replaces
// "/sys" in default paths (tests). The pi5-pmic backend runs `pmic_command` as a fixed argv
// without a shell; options never name a command. Throws SensorError with the reason when nothing
// is readable; backend "none" throws too ("the board file selects no power sensor").
std::unique_ptr<PowerSensor> make_power_sensor(
    const std::string& backend, const nlohmann::json& options, const std::string& root = "/sys",
    const std::vector<std::string>& pmic_command = kDefaultPmicCommand);

// Measures idle power for idle_s, then runs `job` while integrating energy, and returns the
// job's JSON with a "power" object: {available, source, method, idle_w, window_w, window_s,
// energy_j (window energy minus idle baseline), energy_per_inference_j (when the job's JSON has a
// "latency")} or {available: false, reason}. A null sensor gives {available: false, reason:
// unavailable_reason}.
nlohmann::json measure_with_power(PowerSensor* sensor, const std::string& unavailable_reason,
                                  double idle_s, const std::function<nlohmann::json()>& job);

}  // namespace hilq::agent
