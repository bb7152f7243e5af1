// Power sensor parsers, backends and the energy measurement around a job (see power.h).
#include "agent/power.h"

#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "agent/command.h"

namespace hilq::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Reads a one-value sysfs file; SensorError says whether it is missing or unreadable.
std::string read_value(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (!fs::exists(path)) throw SensorError(path.string() + " does not exist");
    throw SensorError(path.string() + " is not readable (" + std::strerror(err) + ")");
  }
  std::string line;
  std::getline(in, line);
  if (in.bad()) throw SensorError(path.string() + " could not be read");
  return trim(line);
}

double to_number(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw SensorError(what + " holds '" + text.substr(0, 40) + "', not a number");
}

// Output of a sensor command run as a fixed argv (no shell); SensorError when it cannot run.
std::string run_sensor_command(const std::vector<std::string>& argv) {
  try {
    return run_command_argv(argv).output;
  } catch (const std::runtime_error& e) {
    throw SensorError(e.what());
  }
}

class RaplSensor : public PowerSensor {
 public:
  explicit RaplSensor(fs::path zone) : zone_(std::move(zone)) {
    if (!fs::exists(zone_))
      throw SensorError("no RAPL powercap zone at " + zone_.string() +
                        " (no intel-rapl driver here: a VM, or a CPU without RAPL)");
    try {
      range_uj_ = static_cast<uint64_t>(
          to_number(read_value(zone_ / "max_energy_range_uj"), "max_energy_range_uj"));
      last_uj_ = static_cast<uint64_t>(to_number(read_value(zone_ / "energy_uj"), "energy_uj"));
    } catch (const SensorError& e) {
      throw SensorError(std::string(e.what()) +
                        "; energy_uj is root-only since Linux 5.10 (CVE-2020-8694): grant read "
                        "access with a udev rule or run the agent as root");
    }
  }
  std::string source() const override { return "rapl:" + zone_.string(); }
  bool is_counter() const override { return true; }
  double read() override {
    const auto now = static_cast<uint64_t>(to_number(read_value(zone_ / "energy_uj"), "energy_uj"));
    total_uj_ += rapl_delta_uj(last_uj_, now, range_uj_);
    last_uj_ = now;
    return static_cast<double>(total_uj_) * 1e-6;
  }

 private:
  fs::path zone_;
  uint64_t range_uj_ = 0, last_uj_ = 0, total_uj_ = 0;
};

class HwmonSensor : public PowerSensor {
 public:
  HwmonSensor(const fs::path& hwmon_root, const std::string& wanted) {
    std::error_code ec;
    std::vector<std::string> seen;
    for (const auto& e : fs::directory_iterator(hwmon_root, ec)) {
      std::string name;
      try {
        name = read_value(e.path() / "name");
      } catch (const SensorError&) {
        continue;
      }
      seen.push_back(name);
      const bool match = wanted.empty() ? (name.rfind("ina", 0) == 0) : name == wanted;
      if (match && dir_.empty()) {
        dir_ = e.path();
        name_ = name;
      }
    }
    if (dir_.empty()) {
      std::string list;
      for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
      throw SensorError("no hwmon device named " + (wanted.empty() ? "ina*" : wanted) + " under " +
                        hwmon_root.string() + " (found: " + (list.empty() ? "none" : list) + ")");
    }
    read();  // fail now, not in the middle of a job
  }
  std::string source() const override { return "hwmon:" + name_ + ":" + dir_.string(); }
  bool is_counter() const override { return false; }
  double read() override {
    if (name_ == "ina3221") {
      // Per channel bus voltage (mV) x current (mA) = µW; disabled channels are skipped.
      double uw = 0;
      int channels = 0;
      for (int c = 1; c <= 3; ++c) {
        const fs::path enable = dir_ / ("in" + std::to_string(c) + "_enable");
        if (fs::exists(enable) && read_value(enable) == "0") continue;
        const fs::path in = dir_ / ("in" + std::to_string(c) + "_input");
        const fs::path curr = dir_ / ("curr" + std::to_string(c) + "_input");
        if (!fs::exists(in) || !fs::exists(curr)) continue;
        uw += to_number(read_value(in), in.string()) * to_number(read_value(curr), curr.string());
        ++channels;
      }
      if (channels == 0) throw SensorError(dir_.string() + ": no enabled INA3221 channel");
      return uw * 1e-6;
    }
    // INA2xx: power1_input in µW, else bus voltage in1_input (mV) x curr1_input (mA).
    const fs::path power = dir_ / "power1_input";
    if (fs::exists(power)) return to_number(read_value(power), power.string()) * 1e-6;
    const fs::path in = dir_ / "in1_input", curr = dir_ / "curr1_input";
    return to_number(read_value(in), in.string()) * to_number(read_value(curr), curr.string()) *
           1e-6;
  }

 private:
  fs::path dir_;
  std::string name_;
};

class PmicSensor : public PowerSensor {
 public:
  explicit PmicSensor(std::vector<std::string> argv) : argv_(std::move(argv)) { read(); }
  std::string source() const override { return "pi5-pmic:" + command_line_text(argv_); }
  bool is_counter() const override { return false; }
  double sample_interval_s() const override { return 0.1; }
  double read() override {
    return pmic_rails_watts(parse_pmic_read_adc(run_sensor_command(argv_)));
  }

 private:
  std::vector<std::string> argv_;
};

class BatterySensor : public PowerSensor {
 public:
  BatterySensor(fs::path supply, BatteryConvention convention)
      : supply_(std::move(supply)), convention_(std::move(convention)) {
    read();
  }
  std::string source() const override { return "android:" + supply_.string(); }
  bool is_counter() const override { return false; }
  double read() override {
    std::string status;
    try {
      status = read_value(supply_ / "status");
    } catch (const SensorError&) {
    }
    std::string current, voltage;
    try {
      current = read_value(supply_ / "current_now");
      voltage = read_value(supply_ / "voltage_now");
    } catch (const SensorError& e) {
      throw SensorError(std::string(e.what()) +
                        " (some stock builds deny the shell these files; `dumpsys battery` is "
                        "the fallback)");
    }
    const BatteryReading r = parse_battery(current, voltage, status, convention_);
    if (r.charging)
      throw SensorError("the battery is charging (status '" + status +
                        "'): its current is not the device's consumption; measure over Wi-Fi "
                        "ADB or with charging off");
    return r.watts;
  }

 private:
  fs::path supply_;
  BatteryConvention convention_;
};

std::optional<double> median_seconds(const json& result) {
  auto lat = result.find("latency");
  if (lat == result.end() || !lat->is_object()) return std::nullopt;
  auto med = lat->find("median_ns");
  if (med == lat->end() || !med->is_number()) return std::nullopt;
  return med->get<double>() * 1e-9;
}

}  // namespace

uint64_t rapl_delta_uj(uint64_t e0, uint64_t e1, uint64_t range) {
  if (e1 >= e0) return e1 - e0;
  return range > e0 ? (range - e0) + e1 : e1;  // wrapped once at range
}

std::vector<PmicChannel> parse_pmic_read_adc(const std::string& text) {
  if (text.find("error=") != std::string::npos)
    throw SensorError("vcgencmd pmic_read_adc answered '" + trim(text).substr(0, 120) +
                      "' (a board without the Pi 5 PMIC)");
  static const std::regex line_re(R"(^\s*(\S+)_(A|V)\s+(current|volt)\((\d+)\)=([0-9.]+)[AV]\s*$)");
  std::vector<PmicChannel> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    out.push_back({m[1].str(), m[2].str()[0], std::stoi(m[4].str()), std::stod(m[5].str())});
  }
  if (out.empty()) throw SensorError("vcgencmd pmic_read_adc printed no channel line");
  return out;
}

double pmic_rails_watts(const std::vector<PmicChannel>& channels) {
  std::map<std::string, std::pair<std::optional<double>, std::optional<double>>> rails;
  for (const auto& c : channels)
    (c.unit == 'A' ? rails[c.rail].first : rails[c.rail].second) = c.value;
  double watts = 0;
  for (const auto& [rail, iv] : rails)
    if (iv.first && iv.second) watts += *iv.first * *iv.second;
  return watts;
}

BatteryReading parse_battery(const std::string& current_now, const std::string& voltage_now,
                             const std::string& status, const BatteryConvention& conv) {
  BatteryReading r;
  double current = to_number(trim(current_now), "current_now");
  double voltage = to_number(trim(voltage_now), "voltage_now");
  std::string unit_i = conv.current_unit, unit_v = conv.voltage_unit;
  if (unit_i == "auto") unit_i = std::fabs(current) < 10000 ? "mA" : "uA";
  if (unit_v == "auto") unit_v = voltage < 100000 ? "mV" : "uV";
  const double amps = current * (unit_i == "mA" ? 1e-3 : 1e-6);
  const double volts = voltage * (unit_v == "mV" ? 1e-3 : 1e-6);
  const std::string st = trim(status);
  if (st == "Charging" || st == "Full") {
    r.charging = true;
  } else if (st.empty() && conv.discharge_sign != "auto") {
    // Without a status, the configured sign tells charging from discharging.
    const bool discharging = conv.discharge_sign == "negative" ? amps < 0 : amps > 0;
    r.charging = !discharging && amps != 0;
  }
  r.watts = std::fabs(amps) * volts;
  r.note = "current in " + unit_i + ", voltage in " + unit_v + ", status '" + st + "', sign " +
           conv.discharge_sign;
  return r;
}

OdpmSnapshot parse_odpm_energy_value(const std::string& text) {
  static const std::regex t_re(R"(^\s*t=(\d+)\s*$)");
  static const std::regex ch_re(R"(^\s*CH(\d+)\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)\s*$)");
  OdpmSnapshot snap;
  std::istringstream in(text);
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, t_re)) {
      snap.t_ms = std::stoll(m[1].str());
    } else if (std::regex_match(line, m, ch_re)) {
      snap.rail_energy_uj[m[3].str()] = std::stoull(m[4].str());
      any = true;
    }
  }
  if (!any) throw SensorError("energy_value holds no CH<i>(T=..)[RAIL], <uJ> line");
  return snap;
}

std::vector<std::string> parse_powerstats_channels(const std::string& text) {
  static const std::regex re(R"(ChannelId:\s*(\d+),\s*ChannelName:\s*([^,\s]+))");
  std::vector<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
    names.push_back((*it)[2].str());
  return names;
}

std::optional<PtdSample> parse_ptd_line(const std::string& line) {
  std::vector<std::string> f;
  std::stringstream in(trim(line));
  std::string item;
  while (std::getline(in, item, ',')) f.push_back(item);
  if (f.size() < 12 || f[0] != "Time" || f[2] != "Watts" || f[4] != "Volts" || f[6] != "Amps" ||
      f[8] != "PF" || f[10] != "Mark")
    return std::nullopt;
  try {
    return PtdSample{f[1],           f[11], std::stod(f[3]), std::stod(f[5]), std::stod(f[7]),
                     std::stod(f[9])};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::unique_ptr<PowerSensor> make_power_sensor(const std::string& backend, const json& options,
                                               const std::string& root,
                                               const std::vector<std::string>& pmic_command) {
  auto opt = [&](const char* key, const std::string& fallback) {
    auto it = options.find(key);
    return it != options.end() && it->is_string() ? it->get<std::string>() : fallback;
  };
  if (backend == "none") throw SensorError("the board file selects no power sensor (backend none)");
  if (backend == "rapl")
    return std::make_unique<RaplSensor>(opt("zone", root + "/class/powercap/intel-rapl:0"));
  if (backend == "hwmon")
    return std::make_unique<HwmonSensor>(opt("hwmon_root", root + "/class/hwmon"),
                                         opt("device", ""));
  if (backend == "pi5-pmic") return std::make_unique<PmicSensor>(pmic_command);
  if (backend == "android") {
    BatteryConvention conv{opt("current_unit", "auto"), opt("voltage_unit", "auto"),
                           opt("discharge_sign", "auto")};
    return std::make_unique<BatterySensor>(opt("supply", root + "/class/power_supply/battery"),
                                           conv);
  }
  throw SensorError("unknown power backend '" + backend + "'");
}

json measure_with_power(PowerSensor* sensor, const std::string& unavailable_reason, double idle_s,
                        const std::function<json()>& job) {
  if (!sensor) {
    json r = job();
    r["power"] = {{"available", false}, {"reason", unavailable_reason}};
    return r;
  }
  auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  const auto idle_ms = std::chrono::milliseconds(static_cast<int64_t>(idle_s * 1000));
  double idle_w = 0, window_j = 0, window_s = 0;
  json result;
  std::string failure;
  bool job_ran = false;
  try {
    if (sensor->is_counter()) {
      const double e0 = sensor->read();
      const auto t0 = Clock::now();
      std::this_thread::sleep_for(idle_ms);
      const double e1 = sensor->read();
      const auto t1 = Clock::now();
      idle_w = (e1 - e0) / std::max(seconds(t0, t1), 1e-9);
      const double e2 = sensor->read();
      const auto t2 = Clock::now();
      job_ran = true;
      result = job();
      const double e3 = sensor->read();
      window_s = seconds(t2, Clock::now());
      window_j = e3 - e2;
    } else {
      // Trapezoid integration of power samples taken by a sampler thread.
      const auto interval = std::chrono::duration<double>(sensor->sample_interval_s());
      double idle_j = 0;
      auto integrate = [&](Clock::time_point until, double& joules, const std::atomic<bool>* stop) {
        double last_w = sensor->read();
        auto last_t = Clock::now();
        while (stop ? !stop->load() : Clock::now() < until) {
          std::this_thread::sleep_for(interval);
          const double w = sensor->read();
          const auto t = Clock::now();
          joules += 0.5 * (w + last_w) * seconds(last_t, t);
          last_w = w;
          last_t = t;
        }
      };
      const auto idle_start = Clock::now();
      integrate(idle_start + idle_ms, idle_j, nullptr);
      idle_w = idle_j / std::max(seconds(idle_start, Clock::now()), 1e-9);
      std::atomic<bool> stop{false};
      std::string sampler_error;
      std::thread sampler([&] {
        try {
          integrate({}, window_j, &stop);
        } catch (const SensorError& e) {
          sampler_error = e.what();
        }
      });
      const auto t2 = Clock::now();
      job_ran = true;
      try {
        result = job();
      } catch (...) {
        stop.store(true);
        sampler.join();
        throw;
      }
      window_s = seconds(t2, Clock::now());
      stop.store(true);
      sampler.join();
      if (!sampler_error.empty()) throw SensorError(sampler_error);
    }
  } catch (const SensorError& e) {
    failure = e.what();
  }
  if (!job_ran) result = job();
  if (!failure.empty()) {
    result["power"] = {{"available", false}, {"reason", failure}, {"source", sensor->source()}};
    return result;
  }
  const double window_w = window_j / std::max(window_s, 1e-9);
  if (window_w <= idle_w) {
    // Noise of the sensor, not a negative energy: the job's draw is below what it resolves.
    char why[160];
    std::snprintf(why, sizeof(why),
                  "the job's power (%.3f W) was not above idle (%.3f W): below what the %s "
                  "sensor resolves",
                  window_w, idle_w, sensor->source().c_str());
    result["power"] = {{"available", false}, {"reason", why}, {"source", sensor->source()}};
    return result;
  }
  result["power"] = {{"available", true},
                     {"source", sensor->source()},
                     {"method", sensor->is_counter() ? "counter delta" : "sampled, trapezoid"},
                     {"idle_w", idle_w},
                     {"window_w", window_w},
                     {"window_s", window_s},
                     {"energy_j", window_j - idle_w * window_s}};
  // Only a job that reports the latency of one inference has an energy per inference.
  if (const auto median_s = median_seconds(result))
    result["power"]["energy_per_inference_j"] = (window_w - idle_w) * *median_s;
  return result;
}

}  // namespace hilq::agent
