// kernel-bench job runner (see kernel_bench.h).
#include "agent/kernel_bench.h"

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "agent/measure.h"
#include "kernels/mkmp.h"
#include "kernels/pack.h"
#include "runtime/bench.h"

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

int64_t kernel_bench_bytes(int64_t m, int64_t k, int64_t n, int w_bits) {
  const int64_t floats = m * k + n * k + n * m;
  const int64_t packed = m * k * w_bits / 8 + m * k;  // codes, plus scales at most one per weight
  return floats * static_cast<int64_t>(sizeof(float)) + packed;
}

void check_kernel_bench_memory(int64_t m, int64_t k, int64_t n, int w_bits,
                               int64_t available_bytes) {
  const int64_t need = kernel_bench_bytes(m, k, n, w_bits);
  if (available_bytes >= 0 && need > available_bytes)
    throw BadJobConfig("shape m=" + std::to_string(m) + " k=" + std::to_string(k) +
                       " n=" + std::to_string(n) + " needs " + std::to_string(need >> 20) +
                       " MiB, more than the " + std::to_string(available_bytes >> 20) +
                       " MiB this board has available");
}

json run_kernel_bench(const json& config, const protocol::RepeatPolicy& repeat,
                      double test_slowdown) {
  auto op_it = config.find("op");
  if (op_it == config.end() || !op_it->is_string())
    throw BadJobConfig("config field 'op' is missing (expected \"gemv\" or \"gemm\")");
  const std::string op = op_it->get<std::string>();
  if (op != "gemv" && op != "gemm")
    throw BadJobConfig("config field 'op' is '" + op + "'; supported: gemv, gemm");
  const int w_bits = get_int(config, "w_bits", 2, 8, 8, false);
  if (!kernels::is_supported_w_bits(w_bits))
    throw BadJobConfig("config field 'w_bits' is " + std::to_string(w_bits) +
                       "; supported: 2, 3, 4, 6, 8");
  const int a_bits = get_int(config, "a_bits", 4, 8, 8, false);
  if (a_bits != 4 && a_bits != 8)
    throw BadJobConfig("config field 'a_bits' is " + std::to_string(a_bits) + "; supported: 4, 8");
  const int group = get_int(config, "group", 0, 128, 0, false);
  if (!kernels::is_supported_group(group))
    throw BadJobConfig("config field 'group' is " + std::to_string(group) +
                       "; supported: 0, 32, 64, 128");
  const int m = get_int(config, "m", 1, 1 << 16, 0, true);
  const int k = get_int(config, "k", 1, 1 << 16, 0, true);
  const int n = get_int(config, "n", 1, 1 << 12, op == "gemv" ? 1 : 64, false);
  if (op == "gemv" && n != 1) throw BadJobConfig("config field 'n' must be 1 for gemv");
  const int threads = get_int(config, "threads", 1, 256, 1, false);
  const int seed = get_int(config, "seed", 0, 1 << 30, 1, false);
  std::string isa;
  if (auto it = config.find("isa"); it != config.end()) {
    if (!it->is_string() || !kernels::isa_from_name(it->get<std::string>()))
      throw BadJobConfig("config field 'isa' must be a kernel path name (ref, avx2, ...)");
    isa = it->get<std::string>();
  }

  // Checked before anything is allocated: a shape too large for the board is a clear bad-request,
  // not a bad_alloc (or the OOM killer) halfway through.
  check_kernel_bench_memory(m, k, n, w_bits, available_memory_bytes());

  const bool rss_reset = reset_peak_rss();
  kernels::Context ctx(kernels::ContextOptions{threads, isa, ""});
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(m) * k), x(static_cast<size_t>(n) * k),
      y(static_cast<size_t>(n) * m);
  for (auto& v : wf) v = dist(rng);
  for (auto& v : x) v = dist(rng);
  const kernels::PackedWeights w = kernels::quantize_pack(wf.data(), m, k, w_bits, group);
  const std::vector<uint8_t> row_bits(n, static_cast<uint8_t>(a_bits));

  // The front call the runtime makes: per-token activation quantization + MKMP dispatch.
  auto run_once = [&] {
    kernels::matmul(ctx, w, x.data(), n, k, row_bits.data(), y.data(), m);
    g_sink = y[0];
  };
  for (int i = 0; i < repeat.warmup; ++i) run_once();

  using clock = std::chrono::steady_clock;
  std::vector<double> samples;
  const auto start = clock::now();
  while (static_cast<int>(samples.size()) < repeat.max_repeats) {
    const auto t0 = clock::now();
    run_once();
    if (test_slowdown > 0) runtime::stretch_step(t0, test_slowdown);
    const auto t1 = clock::now();
    samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    const double elapsed = std::chrono::duration<double>(t1 - start).count();
    if (static_cast<int>(samples.size()) >= repeat.min_repeats && elapsed >= repeat.min_time_s)
      break;
  }
  const LatencyStats stats = latency_stats(samples);
  const PeakRss rss = read_peak_rss(rss_reset);
  const double macs = static_cast<double>(m) * k * n;
  const int64_t weight_bytes = w.bytes();
  json out{
      {"kernel", ctx.last_kernel()},
      {"isa", kernels::isa_name(ctx.isa())},
      {"threads", threads},
      {"op", op},
      {"w_bits", w_bits},
      {"a_bits", a_bits},
      {"group", group},
      {"n", n},
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
  if (test_slowdown > 0) out["test_slowdown_pct"] = test_slowdown * 100;
  return out;
}

}  // namespace hilq::agent
