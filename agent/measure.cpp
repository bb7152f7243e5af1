// Latency statistics and Linux memory readings (see measure.h).
#include "agent/measure.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

namespace hilq::agent {
namespace {

double percentile_sorted(const std::vector<double>& s, double p) {
  if (s.empty()) return 0.0;
  const double pos = p * static_cast<double>(s.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}

// Reads "<key>:   <value> kB" from a /proc status-like file; -1 when absent.
int64_t read_kb_field(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() &&
        line[key.size()] == ':') {
      std::istringstream fields(line.substr(key.size() + 1));
      int64_t kb = -1;
      fields >> kb;
      return kb;
    }
  }
  return -1;
}

}  // namespace

LatencyStats latency_stats(std::vector<double> samples) {
  LatencyStats st;
  st.count = static_cast<int64_t>(samples.size());
  if (samples.empty()) return st;
  std::sort(samples.begin(), samples.end());
  st.median_ns = percentile_sorted(samples, 0.5);
  st.p10_ns = percentile_sorted(samples, 0.1);
  st.p90_ns = percentile_sorted(samples, 0.9);
  st.min_ns = samples.front();
  st.max_ns = samples.back();
  st.mean_ns = std::accumulate(samples.begin(), samples.end(), 0.0) / samples.size();
  std::vector<double> dev(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) dev[i] = std::fabs(samples[i] - st.median_ns);
  std::sort(dev.begin(), dev.end());
  st.mad_ns = percentile_sorted(dev, 0.5);
  return st;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

PeakRss read_peak_rss(bool was_reset) {
  const int64_t kb = read_kb_field("/proc/self/status", "VmHWM");
  if (kb >= 0) return {kb * 1024, was_reset ? "vmhwm-reset" : "vmhwm-since-start"};
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return {static_cast<int64_t>(usage.ru_maxrss) * 1024, "getrusage"};  // KiB on Linux
}

int64_t current_rss_bytes() {
  const int64_t kb = read_kb_field("/proc/self/status", "VmRSS");
  return kb >= 0 ? kb * 1024 : -1;
}

int online_cores() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int64_t total_memory_bytes() {
  const int64_t kb = read_kb_field("/proc/meminfo", "MemTotal");
  if (kb > 0) return kb * 1024;
  return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
}

int64_t available_memory_bytes() {
  const int64_t kb = read_kb_field("/proc/meminfo", "MemAvailable");
  return kb > 0 ? kb * 1024 : -1;
}

}  // namespace hilq::agent
