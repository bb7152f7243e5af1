// kernel-bench job runner (see kernel_bench.h).
#include "agent/kernel_bench.h"

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "agent/measure.h"
#include "kernels/quantize.h"
#include "kernels/ref/gemv_ref.h"

namespace hilq::agent {
namespace {

using nlohmann::json;

int get_int(const json& config, const char* name, int lo, int hi, int fallback, bool required) {
  auto it = config.find(name);
  if (it == config.end()) {
    if (required) throw BadJobConfig(std::string("config field '") + name + "' is missing");
    return fallback;
  }
  if (!it->is_number_integer())
    throw BadJobConfig(std::string("config field '") + name + "' must be an integer");
  const auto v = it->get<int64_t>();
  if (v < lo || v > hi)
    throw BadJobConfig(std::string("config field '") + name + "' is " + std::to_string(v) +
                       ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

// A never-optimised-away sink for results.
volatile float g_sink = 0.0f;

}  // namespace

json run_kernel_bench(const json& config, const protocol::RepeatPolicy& repeat) {
  auto op_it = config.find("op");
  if (op_it == config.end() || !op_it->is_string())
    throw BadJobConfig("config field 'op' is missing (expected \"gemv\")");
  const std::string op = op_it->get<std::string>();
  if (op != "gemv") throw BadJobConfig("config field 'op' is '" + op + "'; supported: gemv");
  const int w_bits = get_int(config, "w_bits", 8, 8, 8, false);
  const int a_bits = get_int(config, "a_bits", 8, 8, 8, false);
  const int m = get_int(config, "m", 1, 1 << 16, 0, true);
  const int k = get_int(config, "k", 1, 1 << 16, 0, true);
  const int seed = get_int(config, "seed", 0, 1 << 30, 1, false);

  const bool rss_reset = reset_peak_rss();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_int_distribution<int> weight_dist(-127, 127);
  std::normal_distribution<float> act_dist(0.0f, 1.0f);
  std::vector<int8_t> w(static_cast<size_t>(m) * k);
  for (auto& x : w) x = static_cast<int8_t>(weight_dist(rng));
  std::vector<float> w_scales(m, 0.01f), x(k), y(m);
  for (auto& v : x) v = act_dist(rng);
  std::vector<int8_t> a(k);
  const float a_scale = kernels::absmax_scale(x.data(), k, a_bits);
  kernels::quantize_row(x.data(), k, a_scale, a_bits, a.data());

  auto run_once = [&] {
    kernels::gemv_w8a8_ref(w.data(), w_scales.data(), a.data(), a_scale, nullptr, m, k, y.data());
    g_sink = y[0];
  };
  for (int i = 0; i < repeat.warmup; ++i) run_once();

  using clock = std::chrono::steady_clock;
  std::vector<double> samples;
  const auto start = clock::now();
  while (static_cast<int>(samples.size()) < repeat.max_repeats) {
    const auto t0 = clock::now();
    run_once();
    const auto t1 = clock::now();
    samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    const double elapsed = std::chrono::duration<double>(t1 - start).count();
    if (static_cast<int>(samples.size()) >= repeat.min_repeats && elapsed >= repeat.min_time_s)
      break;
  }
  const LatencyStats stats = latency_stats(samples);
  const PeakRss rss = read_peak_rss(rss_reset);
  const double macs = static_cast<double>(m) * k;
  const int64_t weight_bytes = static_cast<int64_t>(m) * k * w_bits / 8;
  return json{
      {"kernel", "gemv_w8a8__ref"},
      {"isa", "ref"},
      {"threads", 1},
      {"op", op},
      {"w_bits", w_bits},
      {"a_bits", a_bits},
      {"m", m},
      {"k", k},
      {"latency", to_json(stats)},
      {"samples_ns", samples},
      {"gops", stats.median_ns > 0 ? 2.0 * macs / stats.median_ns : 0.0},
      {"weight_gbps", stats.median_ns > 0 ? weight_bytes / stats.median_ns : 0.0},
      {"weight_bytes", weight_bytes},
      {"peak_rss_bytes", rss.bytes},
      {"peak_rss_method", rss.method},
  };
}

}  // namespace hilq::agent
