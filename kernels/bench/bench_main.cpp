// bench_kernels main: measures the machine (read bandwidth, int8 MAC peak), registers the kernel
// benchmarks, runs them with a reporter that also keeps the results, and prints the issue's
// target ratios (to stderr, so --benchmark_format=json on stdout stays valid JSON).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "kernels/bench/bench_machine.h"
#include "kernels/bench/bench_registry.h"
#include "kernels/cpu_features.h"
#include "kernels/isa.h"
#include "kernels/mkmp.h"
#include "kernels/thread_pool.h"

#if defined(__x86_64__)
// GCC 12 flags _mm512_undefined_*() inside its own intrinsics as uninitialized (false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace hilq::kernels::bench {

Machine& machine() {
  static Machine m;
  return m;
}

int64_t read_llc_bytes() {
  int64_t best = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream size_f(dir + "size");
    if (!size_f) break;
    std::string s;
    size_f >> s;
    int64_t v = std::atoll(s.c_str());
    if (!s.empty() && (s.back() == 'K' || s.back() == 'k')) v *= 1024;
    if (!s.empty() && s.back() == 'M') v *= 1024 * 1024;
    best = std::max(best, v);
  }
  return best > 0 ? best : 32 << 20;  // fallback when /sys has no cache info
}

namespace {

#if defined(__x86_64__)
// Reads n bytes as 4 interleaved sequential streams (the GEMV kernels stream 2 panels at once;
// a single stream per core under-reports what the memory system delivers).
__attribute__((target("avx2"))) uint64_t read_range_avx2(const uint8_t* p, int64_t n) {
  const int64_t q = n / 4 / 64 * 64;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < q; i += 64) {
    for (int j = 0; j < 64; j += 32) {
      a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + j)));
      a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + q + i + j)));
      a2 = _mm256_xor_si256(a2,
                            _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 2 * q + i + j)));
      a3 = _mm256_xor_si256(a3,
                            _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 3 * q + i + j)));
    }
  }
  a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(a0, 0) ^ _mm256_extract_epi64(a0, 3));
}

__attribute__((target("avx512f"))) uint64_t read_range_avx512(const uint8_t* p, int64_t n) {
  const int64_t q = n / 4 / 64 * 64;
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < q; i += 64) {
    a0 = _mm512_xor_si512(a0, _mm512_load_si512(p + i));
    a1 = _mm512_xor_si512(a1, _mm512_load_si512(p + q + i));
    a2 = _mm512_xor_si512(a2, _mm512_load_si512(p + 2 * q + i));
    a3 = _mm512_xor_si512(a3, _mm512_load_si512(p + 3 * q + i));
  }
  a0 = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(a0));
}

uint64_t read_range(const uint8_t* p, int64_t n) {
  static const bool zmm = cpu_features().has(kAvx512f);
  return zmm ? read_range_avx512(p, n) : read_range_avx2(p, n);
}

// 12 independent vpdpbusd chains in registers (an array of accumulators gets spilled).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) double vnni_peak() {
  __m512i a0 = _mm512_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
          a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
  constexpr int64_t kIters = 1 << 14;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < kIters; ++i) {
    __asm__ volatile(
        "vpdpbusd %[y], %[x], %[a0]\n\tvpdpbusd %[y], %[x], %[a1]\n\t"
        "vpdpbusd %[y], %[x], %[a2]\n\tvpdpbusd %[y], %[x], %[a3]\n\t"
        "vpdpbusd %[y], %[x], %[a4]\n\tvpdpbusd %[y], %[x], %[a5]\n\t"
        "vpdpbusd %[y], %[x], %[a6]\n\tvpdpbusd %[y], %[x], %[a7]\n\t"
        "vpdpbusd %[y], %[x], %[a8]\n\tvpdpbusd %[y], %[x], %[a9]\n\t"
        "vpdpbusd %[y], %[x], %[a10]\n\tvpdpbusd %[y], %[x], %[a11]"
        : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5),
          [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10),
          [a11] "+v"(a11)
        : [x] "v"(x), [y] "v"(y));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const __m512i r = _mm512_add_epi32(
      _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)),
                       _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11))));
  volatile int sink = _mm512_reduce_add_epi32(r);
  (void)sink;
  return static_cast<double>(kIters) * 12 * 64 / s;
}

// 12 independent vpdpbusd ymm chains (VEX-encoded: AVX-VNNI, not AVX-512 VL).
__attribute__((target("avx2,avxvnni"))) double avxvnni_peak() {
  __m256i a0 = _mm256_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
          a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-2);
  constexpr int64_t kIters = 1 << 14;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < kIters; ++i) {
    __asm__ volatile(
        "%{vex%} vpdpbusd %[y], %[x], %[a0]\n\t%{vex%} vpdpbusd %[y], %[x], %[a1]\n\t"
        "%{vex%} vpdpbusd %[y], %[x], %[a2]\n\t%{vex%} vpdpbusd %[y], %[x], %[a3]\n\t"
        "%{vex%} vpdpbusd %[y], %[x], %[a4]\n\t%{vex%} vpdpbusd %[y], %[x], %[a5]\n\t"
        "%{vex%} vpdpbusd %[y], %[x], %[a6]\n\t%{vex%} vpdpbusd %[y], %[x], %[a7]\n\t"
        "%{vex%} vpdpbusd %[y], %[x], %[a8]\n\t%{vex%} vpdpbusd %[y], %[x], %[a9]\n\t"
        "%{vex%} vpdpbusd %[y], %[x], %[a10]\n\t%{vex%} vpdpbusd %[y], %[x], %[a11]"
        : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3), [a4] "+x"(a4), [a5] "+x"(a5),
          [a6] "+x"(a6), [a7] "+x"(a7), [a8] "+x"(a8), [a9] "+x"(a9), [a10] "+x"(a10),
          [a11] "+x"(a11)
        : [x] "x"(x), [y] "x"(y));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const __m256i r = _mm256_add_epi32(
      _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
      _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)),
                       _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11))));
  volatile int64_t sink = _mm256_extract_epi64(r, 0);
  (void)sink;
  return static_cast<double>(kIters) * 12 * 32 / s;
}

__attribute__((target("avx2"))) double avx2_peak() {
  __m256i acc[8];
  for (auto& a : acc) a = _mm256_set1_epi32(1);
  const __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  constexpr int64_t kIters = 1 << 14;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < kIters; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m256i r = acc[0];
  for (int j = 1; j < 8; ++j) r = _mm256_add_epi32(r, acc[j]);
  volatile int64_t sink = _mm256_extract_epi64(r, 0);
  (void)sink;
  return static_cast<double>(kIters) * 8 * 32 / s;
}
#else
uint64_t read_range(const uint8_t* p, int64_t n) {
  uint64_t a = 0;
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    a ^= v;
  }
  return a;
}
#endif

}  // namespace

double read_window(Context& ctx, int threads) {
  // The kernels' own thread pool reads an 8 MiB window of a buffer of 4x LLC (>= 256 MiB, kept
  // for the whole run), so every window comes from DRAM, split into tasks as the kernels split a
  // GEMV (4 per thread, claimed dynamically).
  const int64_t bytes = std::max<int64_t>(4 * machine().llc_bytes, int64_t{256} << 20);
  constexpr int64_t kWindow = int64_t{8} << 20;
  static uint8_t* buf = [&] {
    auto* b = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
    std::memset(b, 1, bytes);
    return b;
  }();
  static int64_t next_window = 0;
  const int n_tasks = 4 * threads;
  struct Job {
    const uint8_t* base;
    int64_t share;
    uint64_t out[64];
  } job{};
  job.share = kWindow / n_tasks / 256 * 256;
  job.base = buf + (next_window++ % (bytes / kWindow)) * kWindow;
  const auto t0 = std::chrono::steady_clock::now();
  ctx.pool().run(
      n_tasks,
      [](void* c, int i) {
        auto* j = static_cast<Job*>(c);
        j->out[i] = read_range(j->base + i * j->share, j->share);
      },
      &job, threads);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile uint64_t sink = job.out[0];
  (void)sink;
  return static_cast<double>(job.share) * n_tasks / s;
}

double measure_read_bw(int threads, int n_windows) {
  // A shared machine preempts some windows, as it does some kernel calls: a high percentile.
  Context ctx(ContextOptions{threads, "", ""});
  std::vector<double> rates;
  for (int w = 0; w < n_windows; ++w) rates.push_back(read_window(ctx, threads));
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() * 9 / 10];
}

// 90th percentile of 400 short trials (the same statistic as the bandwidth windows).
[[maybe_unused]] double high_percentile(double (*trial)()) {
  std::vector<double> v;
  for (int i = 0; i < 400; ++i) v.push_back(trial());
  std::sort(v.begin(), v.end());
  return v[v.size() * 9 / 10];
}

double measure_mac_peak(std::string* path) {
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx512Vnni, cpu_features())) {
    *path = "avx512vnni vpdpbusd zmm";
    return high_percentile(vnni_peak);
  }
  if (isa_supported(Isa::kAvxVnni, cpu_features())) {
    *path = "avxvnni vpdpbusd ymm";
    return high_percentile(avxvnni_peak);
  }
  *path = "avx2 vpmaddubsw+vpmaddwd+vpaddd ymm";
  return high_percentile(avx2_peak);
#else
  *path = "none";
  return 1.0;
#endif
}

double measure_mac_peak_avx2() {
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2, cpu_features())) return high_percentile(avx2_peak);
#endif
  return 0;
}

double measure_mac_peak_avxvnni() {
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvxVnni, cpu_features())) return high_percentile(avxvnni_peak);
#endif
  return 0;
}

void measure_machine(bool quick) {
  Machine& m = machine();
  m.llc_bytes = read_llc_bytes();
  m.read_bw[1] = measure_read_bw(1, quick ? 32 : 256);
  m.read_bw[2] = measure_read_bw(2, quick ? 32 : 256);
  m.mac_peak = measure_mac_peak(&m.mac_peak_path);
  m.mac_peak_avx2 = measure_mac_peak_avx2();
  m.mac_peak_avxvnni = measure_mac_peak_avxvnni();
}

namespace {

std::string strip(std::string name) {
  for (const char* suffix : {"/real_time", "/manual_time"}) {
    const size_t n = std::strlen(suffix);
    if (name.size() > n && name.compare(name.size() - n, n, suffix) == 0)
      name.resize(name.size() - n);
  }
  return name;
}

// Forwards to the chosen reporter and keeps every run for the closing summary.
template <class Base>
class Recording : public Base {
 public:
  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    for (const auto& r : runs)
      if (!r.error_occurred && r.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration)
        results()[strip(r.benchmark_name())] = {r.GetAdjustedRealTime(), r.counters};
    Base::ReportRuns(runs);
  }
};

std::string fmt(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

}  // namespace
}  // namespace hilq::kernels::bench

int main(int argc, char** argv) {
  using namespace hilq::kernels::bench;
  bool smoke = false;
  std::string format = "console";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--hilq_smoke") == 0) {
      smoke = true;
      continue;
    }
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) format = argv[i] + 19;
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;

  measure_machine(smoke);
  const Machine& m = machine();
  const hilq::kernels::CpuIdentity& cpu = hilq::kernels::cpu_identity();
  std::fprintf(stderr,
               "machine: %s family %d model %d stepping %d (%s); LLC %lld MiB, read BW 1 thread "
               "%.2f GB/s, 2 threads %.2f GB/s, int8 MAC peak %.1f GMAC/s (%s), AVX2 %.1f, "
               "AVX-VNNI %.1f\n",
               cpu.vendor.c_str(), cpu.family, cpu.model, cpu.stepping, cpu.brand.c_str(),
               static_cast<long long>(m.llc_bytes >> 20), m.read_bw[1] * 1e-9, m.read_bw[2] * 1e-9,
               m.mac_peak * 1e-9, m.mac_peak_path.c_str(), m.mac_peak_avx2 * 1e-9,
               m.mac_peak_avxvnni * 1e-9);
  // Which CPU the result file came from, as cpuid reports it (a VM shows what its hypervisor
  // passes through; machines of one kind vary).
  benchmark::AddCustomContext("cpu_vendor", cpu.vendor);
  benchmark::AddCustomContext("cpu_family", std::to_string(cpu.family));
  benchmark::AddCustomContext("cpu_model", std::to_string(cpu.model));
  benchmark::AddCustomContext("cpu_stepping", std::to_string(cpu.stepping));
  benchmark::AddCustomContext("cpu_brand", cpu.brand);
  std::string feats;
  for (const std::string& name : hilq::kernels::cpu_features().names())
    feats += (feats.empty() ? "" : " ") + name;
  benchmark::AddCustomContext("cpu_features", feats);
  benchmark::AddCustomContext("llc_bytes", std::to_string(m.llc_bytes));
  benchmark::AddCustomContext("read_bw_1t_bytes_per_second", fmt(m.read_bw[1]));
  benchmark::AddCustomContext("read_bw_2t_bytes_per_second", fmt(m.read_bw[2]));
  benchmark::AddCustomContext("int8_mac_peak_per_second", fmt(m.mac_peak));
  benchmark::AddCustomContext("int8_mac_peak_path", m.mac_peak_path);
  benchmark::AddCustomContext("int8_mac_peak_avx2_per_second", fmt(m.mac_peak_avx2));
  benchmark::AddCustomContext("int8_mac_peak_avxvnni_per_second", fmt(m.mac_peak_avxvnni));
  register_benchmarks(smoke);

  size_t ran = 0;
  if (format == "json") {
    Recording<benchmark::JSONReporter> rep;
    ran = benchmark::RunSpecifiedBenchmarks(&rep);
  } else {
    Recording<benchmark::ConsoleReporter> rep;
    ran = benchmark::RunSpecifiedBenchmarks(&rep);
  }
  benchmark::Shutdown();
  print_summary(stderr);
  return ran > 0 ? 0 : 1;
}
