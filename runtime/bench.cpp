// Prefill / decode latency runs (see bench.h).
#include "runtime/bench.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace hilq::runtime {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<size_t>(at);
  const double f = at - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1.0 - f) + v[i + 1] * f : v[i];
}

std::vector<int32_t> bench_prompt(int n, int vocab, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t s = seed;
  for (auto& id : ids) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(vocab));
  }
  return ids;
}

int32_t argmax(const float* v, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

namespace {

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace

BenchResult run_bench(const Model& model, kernels::Context& ctx, const BenchOptions& o) {
  const Architecture& a = model.arch();
  const bool lm = a.kind == ModelKind::kCausalLm;
  if (o.prompt_tokens < 1 || o.decode_tokens < 0 || o.min_runs < 1 || o.max_runs < o.min_runs) {
    throw ConfigError(
        "bench: prompt_tokens >= 1, decode_tokens >= 0 and 1 <= min_runs <= max_runs");
  }
  SessionOptions so;
  so.max_context = lm ? o.prompt_tokens + o.decode_tokens : o.prompt_tokens;
  so.max_chunk = std::min(so.max_context, std::max(a.max_seq, lm ? 1 : o.prompt_tokens));
  Session s(model, ctx, so);
  const std::vector<int32_t> prompt = bench_prompt(o.prompt_tokens, a.vocab_size, o.seed);
  BenchResult r;
  r.label = model.label();
  r.context = so.max_context;
  using clock = std::chrono::steady_clock;
  auto ns = [](clock::time_point t0, clock::time_point t1) {
    return std::chrono::duration<double, std::nano>(t1 - t0).count();
  };
  r.decode_ns.reserve(static_cast<size_t>(o.decode_tokens) * static_cast<size_t>(o.min_runs));
  r.decode_cpu_ns.reserve(r.decode_ns.capacity());
  const auto start = clock::now();
  for (int run = 0; run < o.warmup + o.max_runs; ++run) {
    const bool timed = run >= o.warmup;
    s.reset();
    double c0 = thread_cpu_ns();
    auto t0 = clock::now();
    std::span<const float> out = lm ? s.prefill(prompt) : s.classify(prompt);
    if (o.test_slowdown > 0) stretch_step(t0, o.test_slowdown);
    auto t1 = clock::now();
    double c1 = thread_cpu_ns();
    if (timed) {
      r.prefill_ns.push_back(ns(t0, t1));
      r.prefill_cpu_ns.push_back(c1 - c0);
    }
    if (lm) {
      int32_t next = argmax(out.data(), a.vocab_size);
      for (int i = 0; i < o.decode_tokens; ++i) {
        if (timed && run == o.warmup) r.tokens.push_back(next);
        c0 = thread_cpu_ns();
        t0 = clock::now();
        out = s.decode(next);
        if (o.test_slowdown > 0) stretch_step(t0, o.test_slowdown);
        t1 = clock::now();
        c1 = thread_cpu_ns();
        if (timed) {
          r.decode_ns.push_back(ns(t0, t1));
          r.decode_cpu_ns.push_back(c1 - c0);
        }
        next = argmax(out.data(), a.vocab_size);
      }
    }
    if (timed) {
      ++r.runs;
      const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
      if (r.runs >= o.min_runs && elapsed >= o.min_time_s) break;
    }
  }
  r.kernels = s.kernels_joined();
  r.memory = s.memory();
  return r;
}

void stretch_step(std::chrono::steady_clock::time_point t0, double fraction) {
  using clock = std::chrono::steady_clock;
  const auto until =
      t0 + std::chrono::duration_cast<clock::duration>((clock::now() - t0) * (1.0 + fraction));
  while (clock::now() < until) {
  }
}

}  // namespace hilq::runtime
