// Kernel benchmarks: GEMV (decode) and GEMM (prefill) per path, bit pair, shape and thread count,
// FP32/FP16 baselines, the int4 dot vs concatenated-int16 variants, token-adaptive mixed rows and
// per-call overhead. Out-of-cache shapes cycle through distinct weight matrices totalling at
// least 4x the last-level cache. Names: <op>/<pair>/<path>/<MxK[xN]>/threads:<t>.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/bench/bench_machine.h"
#include "kernels/bench/bench_registry.h"
#include "kernels/mkmp.h"
#include "kernels/pack.h"

namespace hilq::kernels::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Spec {
  const char* op;  // "gemv" | "gemm"
  int w_bits;      // 2..8; 32 fp32; 16 fp16
  int a_bits;      // 4, 8; 0 = token-adaptive 50/50 (mixed)
  int group;
  int m, k, n;
  int threads;
  Isa isa;
  const char* int4;  // "dot" | "cat"
  bool cold;         // cycle matrices through >= 4x LLC
  bool overhead;     // also measure the per-call overhead of the front call
};

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fill_random(void* p, int64_t bytes, uint64_t seed) {
  auto* b = static_cast<uint8_t*>(p);
  int64_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    const uint64_t v = splitmix(seed);
    std::memcpy(b + i, &v, 8);
  }
  for (; i < bytes; ++i) b[i] = static_cast<uint8_t>(splitmix(seed));
}

// How many copies make >= 4x LLC (1 for in-cache runs).
int copies_for(int64_t bytes, bool cold) {
  if (!cold) return 1;
  return static_cast<int>((4 * machine().llc_bytes + bytes - 1) / bytes) + 1;
}

// Random packed matrices (any byte pattern is a valid code), cached across benchmarks. A cold set
// is 4x LLC (gigabytes on a large-L3 server): at most kColdSets are kept, the oldest is dropped.
constexpr size_t kColdSets = 2;
const std::vector<PackedWeights>& packed_set(int bits, int group, int m, int k, bool cold) {
  using Key = std::tuple<int, int, int, int, bool>;
  static std::map<Key, std::vector<PackedWeights>> cache;
  static std::vector<Key> cold_order;
  const Key key{bits, group, m, k, cold};
  auto& v = cache[key];
  if (v.empty()) {
    if (cold) {
      if (cold_order.size() >= kColdSets) {
        cache.erase(cold_order.front());
        cold_order.erase(cold_order.begin());
      }
      cold_order.push_back(key);
    }
    PackedLayout l{m, k, bits, group};
    const int copies = copies_for(l.data_bytes(), cold);
    v.resize(copies);
    for (int i = 0; i < copies; ++i) {
      v[i].layout = l;
      v[i].data.resize(l.data_bytes());
      fill_random(v[i].data.data(), l.data_bytes(), 1234 + i);
      v[i].scales.resize(l.scale_count());
      for (size_t j = 0; j < v[i].scales.size(); ++j) v[i].scales[j] = 0.01f;
    }
  }
  return v;
}

struct FpSet {
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> f16;
};
const FpSet& fp_set(bool half, int m, int k, bool cold) {
  static std::map<std::tuple<bool, int, int, bool>, FpSet> cache;
  FpSet& s = cache[{half, m, k, cold}];
  if (s.f32.empty() && s.f16.empty()) {
    const int64_t n = int64_t{m} * k;
    const int copies = copies_for(n * (half ? 2 : 4), cold);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> d(-1, 1);
    std::vector<float> base(n);
    for (auto& x : base) x = d(rng);
    for (int i = 0; i < copies; ++i) {
      if (half) {
        s.f16.emplace_back(n);
        for (int64_t j = 0; j < n; ++j) s.f16.back()[j] = float_to_half(base[(j + i) % n]);
      } else {
        s.f32.emplace_back(base);
        s.f32.back()[i % n] += 1.0f;
      }
    }
  }
  return s;
}

std::vector<float> random_floats(size_t n) {
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The int8 MAC peak a call of this spec is compared with: the path's own single-thread peak
// (AVX2 and AVX-VNNI entries against their own peaks) times the threads the call runs on.
double peak_for(const Spec& s) {
  const Machine& m = machine();
  double one = m.mac_peak;
  if (s.isa == Isa::kAvx2 && m.mac_peak_avx2 > 0) one = m.mac_peak_avx2;
  if (s.isa == Isa::kAvxVnni && m.mac_peak_avxvnni > 0) one = m.mac_peak_avxvnni;
  return one * s.threads;
}

// Roofline counters: every GEMV against the read bandwidth of its thread count (`roofline`);
// GEMM and in-cache GEMV (which DRAM does not limit) against the int8 MAC peak (`peak`).
void set_common(benchmark::State& st, const Spec& s, double bytes_per_call) {
  const double ops = 2.0 * s.m * s.k * s.n;
  st.SetBytesProcessed(static_cast<int64_t>(bytes_per_call * static_cast<double>(st.iterations())));
  st.counters["GOPS"] =
      benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const bool gemv = std::strcmp(s.op, "gemv") == 0;
  if (gemv)
    st.counters["roofline"] =
        benchmark::Counter(bytes_per_call / machine().read_bw[s.threads > 1 ? 2 : 1],
                           benchmark::Counter::kIsIterationInvariantRate);
  if (!gemv || !s.cold)
    st.counters["peak"] =
        benchmark::Counter(0.5 * ops / peak_for(s), benchmark::Counter::kIsIterationInvariantRate);
}

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Fastest, 10th-percentile and median single call: on a shared machine the mean includes the
// time slices other processes take from either thread; the 10th percentile is what the kernel
// does when it has the cores, without the single lucky outlier the minimum can be.
void set_best(benchmark::State& st, const Spec& s, double bytes_per_call, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  const double best = us[us.size() / 10];
  st.counters["fastest_us"] = us.front();
  st.counters["p10_us"] = best;
  st.counters["median_us"] = us[us.size() / 2];
  const bool gemv = std::strcmp(s.op, "gemv") == 0;
  if (gemv)
    st.counters["roofline_p10"] =
        bytes_per_call / (best * 1e-6) / machine().read_bw[s.threads > 1 ? 2 : 1];
  if (!gemv || !s.cold)
    st.counters["peak_p10"] = double{1.0} * s.m * s.k * s.n / (best * 1e-6) / peak_for(s);
}

// Out-of-cache GEMV: each call is followed by one read-bandwidth window on the same threads, and
// roofline_paired is the median of (call rate / window rate). The cores a shared machine leaves
// us change within a run (one or both); a pair sees the same conditions.
void set_paired(benchmark::State& st, std::vector<double>& paired) {
  if (paired.empty()) return;
  std::sort(paired.begin(), paired.end());
  st.counters["roofline_paired"] = paired[paired.size() / 2];
}

template <class F>
double median_us(F&& f, int reps, int inner) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) f();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bm_int(benchmark::State& st, Spec s) {
  Context ctx(ContextOptions{s.threads, isa_name(s.isa), s.int4});
  const auto& set = packed_set(s.w_bits, s.group, s.m, s.k, s.cold);
  const auto x = random_floats(static_cast<size_t>(s.n) * s.k);
  std::vector<uint8_t> bits(s.n, static_cast<uint8_t>(s.a_bits));
  std::vector<float> y(static_cast<size_t>(s.n) * s.m);
  size_t i = 0;
  std::vector<double> us, paired;
  const bool pair_bw = s.cold && std::strcmp(s.op, "gemv") == 0;
  for (auto _ : st) {
    const auto t0 = Clock::now();
    matmul(ctx, set[i], x.data(), s.n, s.k, bits.data(), y.data(), s.m);
    us.push_back(us_since(t0));
    if (++i == set.size()) i = 0;
    benchmark::DoNotOptimize(y.data());
    if (pair_bw) {
      st.PauseTiming();
      paired.push_back(static_cast<double>(set[0].bytes()) / (us.back() * 1e-6) /
                       read_window(ctx, s.threads));
      st.ResumeTiming();
    }
  }
  set_common(st, s, static_cast<double>(set[0].bytes()));
  set_best(st, s, static_cast<double>(set[0].bytes()), us);
  set_paired(st, paired);
  st.SetLabel(ctx.last_kernel());
  if (s.overhead) {
    // Front call (activation quantization + dispatch + grouping) minus the bare kernel.
    const KernelInfo* k =
        select_kernel(ctx, s.n == 1 ? kOpGemv : kOpGemm, s.w_bits, s.a_bits, s.group);
    QuantizedActivations a;
    quantize_activations(ctx, x.data(), s.n, s.k, s.k, bits.data(), &a);
    std::vector<int32_t> rows(s.n);
    for (int t = 0; t < s.n; ++t) rows[t] = t;
    const int inner = std::max(1, static_cast<int>(2e5 / (static_cast<double>(s.m) * s.k + 1)));
    double kernel = 1e30, front = 1e30;
    for (int r = 0; r < 5; ++r) {
      kernel = std::min(
          kernel,
          median_us([&] { run_kernel(*k, set[0], a, rows.data(), s.n, y.data(), s.m, nullptr); }, 9,
                    inner));
      front = std::min(
          front,
          median_us([&] { matmul(ctx, set[0], x.data(), s.n, s.k, bits.data(), y.data(), s.m); }, 9,
                    inner));
    }
    st.counters["kernel_us"] = kernel;
    st.counters["overhead_us"] = front - kernel;
  }
}

void bm_fp(benchmark::State& st, Spec s) {
  Context ctx(ContextOptions{s.threads, isa_name(s.isa), ""});
  const bool half = s.w_bits == 16;
  const FpSet& set = fp_set(half, s.m, s.k, s.cold);
  const size_t copies = half ? set.f16.size() : set.f32.size();
  const auto x = random_floats(static_cast<size_t>(s.n) * s.k);
  std::vector<float> y(static_cast<size_t>(s.n) * s.m);
  size_t i = 0;
  std::vector<double> us, paired;
  const double bytes = static_cast<double>(s.m) * s.k * (half ? 2 : 4);
  const bool pair_bw = s.cold && std::strcmp(s.op, "gemv") == 0;
  for (auto _ : st) {
    const auto t0 = Clock::now();
    if (half)
      matmul_fp16(ctx, set.f16[i].data(), s.m, s.k, x.data(), s.n, s.k, y.data(), s.m);
    else
      matmul_fp32(ctx, set.f32[i].data(), s.m, s.k, x.data(), s.n, s.k, y.data(), s.m);
    us.push_back(us_since(t0));
    if (++i == copies) i = 0;
    benchmark::DoNotOptimize(y.data());
    if (pair_bw) {
      st.PauseTiming();
      paired.push_back(bytes / (us.back() * 1e-6) / read_window(ctx, s.threads));
      st.ResumeTiming();
    }
  }
  set_paired(st, paired);
  set_common(st, s, static_cast<double>(s.m) * s.k * (half ? 2 : 4));
  set_best(st, s, static_cast<double>(s.m) * s.k * (half ? 2 : 4), us);
  st.SetLabel(ctx.last_kernel());
}

// Token-adaptive 50/50: the mixed call and both pure calls, interleaved in every iteration; the
// reported time is the mixed call's, mixed_vs_weighted = mixed / (0.5 pure8 + 0.5 pure4).
void bm_mixed(benchmark::State& st, Spec s) {
  Context ctx(ContextOptions{s.threads, isa_name(s.isa), s.int4});
  const auto& set = packed_set(s.w_bits, s.group, s.m, s.k, s.cold);
  const auto x = random_floats(static_cast<size_t>(s.n) * s.k);
  std::vector<uint8_t> mixed(s.n), all8(s.n, 8), all4(s.n, 4);
  for (int t = 0; t < s.n; ++t) mixed[t] = (t % 2) ? 4 : 8;
  std::vector<float> y(static_cast<size_t>(s.n) * s.m);
  double t_mixed = 0, t8 = 0, t4 = 0;
  std::vector<double> v_mixed, v8, v4;
  std::string label;
  size_t i = 0;
  auto timed = [&](const std::vector<uint8_t>& bits) {
    const auto t0 = Clock::now();
    matmul(ctx, set[i], x.data(), s.n, s.k, bits.data(), y.data(), s.m);
    benchmark::DoNotOptimize(y.data());
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (auto _ : st) {
    const double p8 = timed(all8), p4 = timed(all4), tm = timed(mixed);
    t8 += p8;
    t4 += p4;
    v8.push_back(p8);
    v4.push_back(p4);
    v_mixed.push_back(tm);
    label = ctx.last_kernel();
    t_mixed += tm;
    st.SetIterationTime(tm);
    if (++i == set.size()) i = 0;
  }
  set_common(st, s, static_cast<double>(set[0].bytes()));
  st.SetLabel(label);
  const auto it = static_cast<double>(st.iterations());
  st.counters["pure_a8_us"] = t8 / it * 1e6;
  st.counters["pure_a4_us"] = t4 / it * 1e6;
  st.counters["mixed_vs_weighted"] = t_mixed / (0.5 * t8 + 0.5 * t4);
  auto p10 = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 10];
  };
  const double b_mixed = p10(v_mixed), b8 = p10(v8), b4 = p10(v4);
  st.counters["p10_us"] = b_mixed * 1e6;
  st.counters["mixed_vs_weighted_p10"] = b_mixed / (0.5 * b8 + 0.5 * b4);
}

std::string shape(const Spec& s) {
  std::string r = std::to_string(s.m) + "x" + std::to_string(s.k);
  if (std::strcmp(s.op, "gemm") == 0) r += "x" + std::to_string(s.n);
  return r;
}

std::string pair(const Spec& s) {
  if (s.w_bits == 32) return "fp32";
  if (s.w_bits == 16) return "fp16";
  std::string r = "w" + std::to_string(s.w_bits);
  r += s.a_bits ? "a" + std::to_string(s.a_bits) : "a8+a4_mixed50";
  if (s.group) r += "_g" + std::to_string(s.group);
  if (s.w_bits == 4 && s.a_bits == 4) r += std::strcmp(s.int4, "cat") == 0 ? "cat" : "dot";
  return r;
}

void add(Spec s) {
  const std::string name = std::string(s.op) + "/" + pair(s) + "/" + isa_name(s.isa) + "/" +
                           shape(s) + "/threads:" + std::to_string(s.threads);
  if (s.w_bits >= 16)
    benchmark::RegisterBenchmark(name.c_str(), bm_fp, s)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  else if (s.a_bits == 0)
    benchmark::RegisterBenchmark(name.c_str(), bm_mixed, s)
        ->Unit(benchmark::kMicrosecond)
        ->UseManualTime();
  else
    benchmark::RegisterBenchmark(name.c_str(), bm_int, s)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
}

// The 256-bit paths below `best` that this CPU runs (AVX-VNNI, AVX2), for comparison with it.
std::vector<Isa> lower_ymm_paths(Isa best, const CpuFeatures& f) {
  std::vector<Isa> v;
  for (Isa p : {Isa::kAvxVnni, Isa::kAvx2})
    if (p != best && isa_at_most(p, best) && isa_compiled(p) && isa_supported(p, f)) v.push_back(p);
  return v;
}

}  // namespace

void register_benchmarks(bool smoke) {
  const CpuFeatures& f = cpu_features();
  // AMX adds per-channel GEMMs only: every other entry runs, and is named, on the path below it;
  // the AMX GEMMs get their own entries (their `peak` is a fraction of the AVX-512 VNNI peak,
  // since the tile unit's own is not probed).
  const Isa amx = best_isa(f) == Isa::kAmx ? Isa::kAmx : Isa::kRef;
  const Isa best = amx == Isa::kAmx ? Isa::kAvx512Vnni : best_isa(f);
  const Isa fp_best = isa_supported(Isa::kAvx2, f) && isa_compiled(Isa::kAvx2) ? Isa::kAvx2 : best;
  if (smoke) {
    add({"gemv", 4, 8, 0, 64, 128, 1, 1, best, "dot", false, true});
    add({"gemm", 2, 8, 32, 64, 128, 5, 1, best, "dot", false, false});
    add({"gemm", 4, 0, 0, 64, 128, 4, 1, best, "dot", false, false});
    add({"gemv", 32, 32, 0, 64, 128, 1, 1, fp_best, "dot", false, false});
    return;
  }
  const int big = 4096;
  // Decode, out of cache: every pair, 1 and 2 threads, best path; lower paths for comparison.
  for (int threads : {1, 2}) {
    for (int w : {2, 3, 4, 6, 8})
      add({"gemv", w, 8, 0, big, big, 1, threads, best, "dot", true, false});
    add({"gemv", 4, 4, 0, big, big, 1, threads, best, "dot", true, false});
    add({"gemv", 4, 4, 0, big, big, 1, threads, best, "cat", true, false});
    add({"gemv", 32, 32, 0, big, big, 1, threads, fp_best, "dot", true, false});
    add({"gemv", 16, 32, 0, big, big, 1, threads, fp_best, "dot", true, false});
    for (Isa lower : lower_ymm_paths(best, f)) {
      add({"gemv", 4, 8, 0, big, big, 1, threads, lower, "dot", true, false});
      add({"gemv", 4, 4, 0, big, big, 1, threads, lower, "dot", true, false});
      add({"gemv", 4, 4, 0, big, big, 1, threads, lower, "cat", true, false});
    }
  }
  // Group scales, out of cache: W4A8 g32/g64/g128 decode at 1 and 2 threads and prefill N = 64
  // at 1 and 2 threads, on the best path and on the 256-bit paths below it.
  std::vector<Isa> group_paths{best};
  for (Isa lower : lower_ymm_paths(best, f)) group_paths.push_back(lower);
  for (Isa path : group_paths)
    for (int g : {32, 64, 128})
      for (int threads : {1, 2}) {
        add({"gemv", 4, 8, g, big, big, 1, threads, path, "dot", true, false});
        add({"gemm", 4, 8, g, big, big, 64, threads, path, "dot", true, false});
      }
  add({"gemv", 4, 8, 0, big, big, 1, 1, Isa::kRef, "dot", true, false});
  // Decode, in cache: the tiny model's shapes and the overhead shapes, with per-call overhead,
  // every weight width; 2 threads on the shapes big enough to be split (>= 2 x 512 K MACs).
  for (auto [m, k] : {std::pair{256, 256}, {256, 1024}, {1024, 256}, {512, 512}, {768, 3072}})
    for (int w : {2, 3, 4, 6, 8}) add({"gemv", w, 8, 0, m, k, 1, 1, best, "dot", false, true});
  for (int w : {2, 3, 4, 6, 8}) {
    add({"gemv", w, 8, 0, 768, 3072, 1, 2, best, "dot", false, false});
    add({"gemv", w, 8, 0, 2048, 2048, 1, 2, best, "dot", false, false});
  }
  // Group scales in cache (L2 of one core for 1024 x 1024; 2048 x 2048 split over 2 threads):
  // what the per-group work costs when DRAM does not hide it.
  for (int g : {0, 32, 64, 128}) {
    add({"gemv", 4, 8, g, 1024, 1024, 1, 1, best, "dot", false, false});
    add({"gemm", 4, 8, g, 1024, 1024, 64, 1, best, "dot", false, false});
    if (g) add({"gemv", 4, 8, g, 2048, 2048, 1, 2, best, "dot", false, false});
  }
  // Prefill, N = 64 at 1 and 2 threads, N = 128 for W4A8 / W8A8, on the best path and on AMX.
  std::vector<Isa> prefill_paths{best};
  if (amx == Isa::kAmx) prefill_paths.push_back(amx);
  for (Isa path : prefill_paths) {
    for (int threads : {1, 2})
      for (int w : {2, 3, 4, 6, 8})
        add({"gemm", w, 8, 0, big, big, 64, threads, path, "dot", true, false});
    for (int threads : {1, 2})
      for (int w : {4, 8}) add({"gemm", w, 8, 0, big, big, 128, threads, path, "dot", true, false});
  }
  add({"gemm", 4, 4, 0, big, big, 64, 1, best, "dot", true, false});
  add({"gemm", 4, 4, 0, big, big, 64, 1, best, "cat", true, false});
  add({"gemm", 32, 32, 0, big, big, 64, 1, fp_best, "dot", true, false});
  add({"gemm", 16, 32, 0, big, big, 64, 1, fp_best, "dot", true, false});
  for (Isa lower : lower_ymm_paths(best, f)) {
    add({"gemm", 4, 8, 0, big, big, 64, 1, lower, "dot", true, false});
    add({"gemm", 4, 4, 0, big, big, 64, 1, lower, "dot", true, false});
    add({"gemm", 4, 4, 0, big, big, 64, 1, lower, "cat", true, false});
  }
  add({"gemm", 4, 8, 0, 1024, 256, 64, 1, best, "dot", false, false});
  // The tiny LM's float tied head over one 128-token window (host scoring), on AVX2 and the best
  // path (the AVX-512 float GEMMs give the AVX2 ones' bits).
  std::vector<Isa> head_paths{fp_best};  // AVX-VNNI has no float kernels of its own
  if (best != fp_best && best != Isa::kAvxVnni) head_paths.push_back(best);
  for (Isa path : head_paths)
    for (int w : {32, 16}) add({"gemm", w, 32, 0, 4096, 256, 128, 1, path, "dot", false, false});
  // Token-adaptive 50/50 4/8-bit rows.
  add({"gemm", 4, 0, 0, big, big, 64, 1, best, "dot", true, false});
  add({"gemm", 8, 0, 0, big, big, 64, 1, best, "dot", true, false});
  if (amx != Isa::kAmx) return;
  // AMX: token-adaptive rows, group scales, and the tiny LM's linears over one 128-token window
  // (host scoring), in cache.
  add({"gemm", 4, 0, 0, big, big, 64, 1, amx, "dot", true, false});
  for (int g : {32, 64, 128})
    for (int threads : {1, 2})
      add({"gemm", 4, 8, g, big, big, 64, threads, amx, "dot", true, false});
  for (auto [m, k] : {std::pair{256, 256}, {768, 256}, {256, 768}, {4096, 256}})
    for (Isa path : {best, amx}) add({"gemm", 4, 8, 0, m, k, 128, 1, path, "dot", false, false});
  // The same linears with group scales (a g32 or g128 candidate of the search), on both paths:
  // dispatch prefers AMX, which must not lose at these small shapes.
  for (int g : {32, 128})
    for (auto [m, k] : {std::pair{256, 256}, {768, 256}, {256, 768}})
      for (Isa path : {best, amx}) add({"gemm", 4, 8, g, m, k, 128, 1, path, "dot", false, false});
}

}  // namespace hilq::kernels::bench
