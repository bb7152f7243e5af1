// What the machine was doing around a measurement: CPU frequency governor and current frequency
// per core, thermal-zone temperatures, the Pi's `vcgencmd get_throttled` bits, and thread
// pinning. Every reader takes a sysfs root so tests can point it at fixture trees.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace hilq::agent {

struct ThermalState {
  std::vector<std::string> governors;   // distinct scaling_governor values, sorted
  std::vector<int64_t> freq_khz;        // scaling_cur_freq per readable core
  std::vector<double> zone_temps_c;     // thermal_zone*/temp in °C
  std::optional<uint32_t> throttled;    // get_throttled bits, when a command is configured
  std::vector<std::string> unreadable;  // what could not be read, and why
};

// root is "/sys" normally; throttled_command is an argv run without a shell, e.g.
// {"vcgencmd", "get_throttled"}, or empty.
ThermalState read_thermal_state(const std::string& root = "/sys",
                                const std::vector<std::string>& throttled_command = {});

// Parses "throttled=0x50005" (vcgencmd get_throttled); nullopt when the text is not that.
std::optional<uint32_t> parse_get_throttled(const std::string& text);

// Throttling verdict over a job: temperature rose by more than max_temp_rise_c, any core's
// frequency fell by more than max_freq_drop (a fraction), or a "right now" get_throttled bit
// (0-3) was set before or after. Reasons say which.
struct ThrottleVerdict {
  bool throttled = false;
  std::vector<std::string> reasons;
};
ThrottleVerdict judge_throttling(const ThermalState& before, const ThermalState& after,
                                 double max_temp_rise_c = 5.0, double max_freq_drop = 0.10);

nlohmann::json to_json(const ThermalState& state);

// Pins the calling thread (and threads it creates afterwards) to the given CPUs. "2-3,5" form.
// Returns the CPUs actually set, or an error text.
std::vector<int> parse_cpu_list(const std::string& text);  // throws std::invalid_argument
std::optional<std::string> pin_current_thread(const std::vector<int>& cpus);
std::vector<int> current_affinity();

}  // namespace hilq::agent
