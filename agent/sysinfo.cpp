// Governor, frequency, temperature and pinning readers (see sysinfo.h).
#include "agent/sysinfo.h"

#include "agent/command.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

namespace hilq::agent {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::optional<int64_t> read_int(const fs::path& path) {
  auto line = read_line(path);
  if (!line) return std::nullopt;
  try {
    size_t used = 0;
    const int64_t v = std::stoll(*line, &used);
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

ThermalState read_thermal_state(const std::string& root,
                                const std::vector<std::string>& throttled_command) {
  ThermalState st;
  std::set<std::string> governors;
  const fs::path cpu_dir = fs::path(root) / "devices/system/cpu";
  std::error_code ec;
  std::vector<fs::path> cpus;
  for (const auto& e : fs::directory_iterator(cpu_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 3 && name.compare(0, 3, "cpu") == 0 &&
        std::all_of(name.begin() + 3, name.end(), ::isdigit))
      cpus.push_back(e.path());
  }
  std::sort(cpus.begin(), cpus.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.filename().string().substr(3)) < std::stoi(b.filename().string().substr(3));
  });
  for (const auto& cpu : cpus) {
    if (auto g = read_line(cpu / "cpufreq/scaling_governor")) governors.insert(*g);
    if (auto f = read_int(cpu / "cpufreq/scaling_cur_freq")) st.freq_khz.push_back(*f);
  }
  st.governors.assign(governors.begin(), governors.end());
  if (st.governors.empty())
    st.unreadable.push_back("no cpufreq governor under " + cpu_dir.string());
  std::vector<fs::path> zones;
  for (const auto& e : fs::directory_iterator(fs::path(root) / "class/thermal", ec))
    if (e.path().filename().string().rfind("thermal_zone", 0) == 0) zones.push_back(e.path());
  std::sort(zones.begin(), zones.end());
  for (const auto& z : zones)
    if (auto t = read_int(z / "temp")) st.zone_temps_c.push_back(static_cast<double>(*t) / 1000.0);
  if (st.zone_temps_c.empty())
    st.unreadable.push_back("no readable thermal zone under " + root + "/class/thermal");
  if (!throttled_command.empty()) {
    const std::string what = "'" + command_line_text(throttled_command) + "'";
    try {
      st.throttled = parse_get_throttled(run_command_argv(throttled_command).output);
      if (!st.throttled) st.unreadable.push_back(what + " gave no throttled=");
    } catch (const std::runtime_error& e) {
      st.unreadable.push_back(e.what());
    }
  }
  return st;
}

std::optional<uint32_t> parse_get_throttled(const std::string& text) {
  const auto pos = text.find("throttled=");
  if (pos == std::string::npos) return std::nullopt;
  try {
    return static_cast<uint32_t>(std::stoul(text.substr(pos + 10), nullptr, 0));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ThrottleVerdict judge_throttling(const ThermalState& before, const ThermalState& after,
                                 double max_temp_rise_c, double max_freq_drop) {
  ThrottleVerdict v;
  const size_t zones = std::min(before.zone_temps_c.size(), after.zone_temps_c.size());
  for (size_t i = 0; i < zones; ++i) {
    const double rise = after.zone_temps_c[i] - before.zone_temps_c[i];
    if (rise > max_temp_rise_c) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "thermal zone %zu rose %.1f C", i, rise);
      v.reasons.push_back(buf);
    }
  }
  const size_t cores = std::min(before.freq_khz.size(), after.freq_khz.size());
  for (size_t i = 0; i < cores; ++i) {
    if (before.freq_khz[i] <= 0) continue;
    const double drop = 1.0 - static_cast<double>(after.freq_khz[i]) / before.freq_khz[i];
    if (drop > max_freq_drop) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "cpu%zu frequency fell %.0f%%", i, drop * 100);
      v.reasons.push_back(buf);
    }
  }
  for (const auto* st : {&before, &after})
    if (st->throttled && (*st->throttled & 0xf)) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "get_throttled=0x%x", *st->throttled);
      v.reasons.push_back(buf);
    }
  v.throttled = !v.reasons.empty();
  return v;
}

nlohmann::json to_json(const ThermalState& st) {
  nlohmann::json j = {{"governors", st.governors},
                      {"freq_khz", st.freq_khz},
                      {"zone_temps_c", st.zone_temps_c},
                      {"unreadable", st.unreadable}};
  if (st.throttled) j["get_throttled"] = *st.throttled;
  return j;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(start, comma - start);
    const size_t dash = part.find('-');
    try {
      size_t used = 0;
      if (dash == std::string::npos) {
        cpus.push_back(std::stoi(part, &used));
        if (used != part.size()) throw std::invalid_argument(part);
      } else {
        const int lo = std::stoi(part.substr(0, dash)), hi = std::stoi(part.substr(dash + 1));
        if (lo > hi || hi - lo > 4096) throw std::invalid_argument(part);
        for (int c = lo; c <= hi; ++c) cpus.push_back(c);
      }
    } catch (const std::exception&) {
      throw std::invalid_argument("CPU list '" + text + "' is not of the form 0-3,6");
    }
    start = comma + 1;
  }
  if (cpus.empty() || *std::min_element(cpus.begin(), cpus.end()) < 0)
    throw std::invalid_argument("CPU list '" + text + "' is empty or negative");
  return cpus;
}

std::optional<std::string> pin_current_thread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) {
    if (c >= CPU_SETSIZE) return "CPU " + std::to_string(c) + " is beyond CPU_SETSIZE";
    CPU_SET(c, &set);
  }
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (rc != 0) return "pthread_setaffinity_np failed (" + std::to_string(rc) + ")";
  return std::nullopt;
}

std::vector<int> current_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

}  // namespace hilq::agent
