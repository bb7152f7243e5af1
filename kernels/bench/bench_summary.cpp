// The targets, computed from one run's results: each line gives the figure, the target
// and pass/fail (missing benchmarks, e.g. under a --benchmark_filter, are skipped).
#include <cstdio>
#include <string>

#include "kernels/bench/bench_registry.h"
#include "kernels/cpu_features.h"
#include "kernels/isa.h"

namespace hilq::kernels::bench {
namespace {

const Result* find(const std::string& name) {
  auto it = results().find(name);
  return it == results().end() ? nullptr : &it->second;
}

double counter(const Result* r, const char* c) {
  auto it = r->counters.find(c);
  return it == r->counters.end() ? -1.0 : static_cast<double>(it->second);
}
// Median of (call rate / adjacent read-window rate) for out-of-cache GEMV, else -1.
double paired(const Result* r) { return counter(r, "roofline_paired"); }
// Weight bytes per call.
double bytes_per_call(const Result* r) {
  return counter(r, "bytes_per_second") * r->real_time * 1e-6;
}
// Speed ratio a / b of two out-of-cache GEMVs from their paired rooflines (both against the same
// memory system, whichever cores the machine left each of them).
double speed_ratio(const Result* a, const Result* b) {
  return (paired(a) / bytes_per_call(a)) / (paired(b) / bytes_per_call(b));
}

// 10th-percentile call (see set_best in bench_kernels.cpp); the mean if not recorded.
double fastest(const Result* r) {
  const double b = counter(r, "p10_us");
  return b > 0 ? b : r->real_time;
}

// `path` is a path below `best` on the same architecture (bench_kernels gives it entries).
bool is_lower_path(const std::string& path, const std::string& best) {
  const auto p = isa_from_name(path), b = isa_from_name(best);
  return p && b && *p != *b && isa_at_most(*p, *b);
}

void line(FILE* out, const std::string& what, double v, const char* rel, double target) {
  const bool pass = rel[0] == '>' ? v >= target : v <= target;
  std::fprintf(out, "  %-66s %8.3f  (%s %.3g)  %s\n", what.c_str(), v, rel, target,
               pass ? "PASS" : "FAIL");
}

}  // namespace

void print_summary(FILE* out) {
  // AMX adds per-channel GEMMs only; the targets are read on the path below it (bench_kernels
  // registers them there), and the AMX GEMMs are compared with it.
  const bool amx = best_isa(cpu_features()) == Isa::kAmx;
  const std::string best = amx ? "avx512vnni" : isa_name(best_isa(cpu_features()));
  const std::string fp = isa_supported(Isa::kAvx2, cpu_features()) ? "avx2" : best;
  const std::string big = "4096x4096";
  auto gemv = [&](const std::string& pair, int t, const std::string& path) {
    return find("gemv/" + pair + "/" + path + "/" + big + "/threads:" + std::to_string(t));
  };
  auto gemm = [&](const std::string& pair, const std::string& path, int n = 64, int t = 1) {
    return find("gemm/" + pair + "/" + path + "/" + big + "x" + std::to_string(n) +
                "/threads:" + std::to_string(t));
  };
  std::fprintf(out,
               "\nTargets (one run; GEMV from paired rooflines, the rest from 10th-percentile "
               "calls; path %s):\n",
               best.c_str());
  for (const char* p : {"w8a8", "w4a8"})
    if (const Result* r = gemv(p, 2, best))
      line(out, std::string("decode 2T ") + p + " roofline (of 2-thread read BW)", paired(r),
           ">=", 0.90);
  for (const char* p : {"w2a8", "w3a8"})
    if (const Result* r = gemv(p, 2, best))
      line(out, std::string("decode 2T ") + p + " roofline", paired(r), ">=", 0.85);
  if (const Result* r2 = gemv("w2a8", 2, best), *r4 = gemv("w4a8", 2, best); r2 && r4)
    line(out, "decode 2T tokens/s W2A8 / W4A8", speed_ratio(r2, r4), ">=", 1.8);
  if (const Result* r2 = gemv("w2a8", 1, best), *r4 = gemv("w4a8", 1, best); r2 && r4)
    std::fprintf(out, "  %-66s %8.3f  (info: 1 thread is compute-bound)\n",
                 "decode 1T tokens/s W2A8 / W4A8", speed_ratio(r2, r4));
  if (const Result* r = gemv("w4a8", 1, best))
    line(out, "decode 1T w4a8 roofline (of 1-thread read BW)", paired(r), ">=", 0.75);
  for (int t : {1, 2}) {
    const Result* r4 = gemv("w4a8", t, best);
    if (!r4) continue;
    if (const Result* f = gemv("fp32", t, fp))
      line(out, "decode " + std::to_string(t) + "T W4A8 speed-up over FP32", speed_ratio(r4, f),
           ">=", 6.0);
    if (const Result* f = gemv("fp16", t, fp))
      line(out, "decode " + std::to_string(t) + "T W4A8 speed-up over FP16 storage",
           speed_ratio(r4, f), ">=", 3.0);
  }
  for (const char* s : {"512x512", "768x3072"})
    if (const Result* r = find(std::string("gemv/w4a8/") + best + "/" + s + "/threads:1")) {
      line(out, std::string("per-call overhead us, w4a8 ") + s, counter(r, "overhead_us"),
           "<=", 2.0);
      if (std::string(s) == "512x512")
        line(out, "512x512 w4a8 total us (median call)", counter(r, "median_us"), "<=", 2.0);
    }
  for (const char* p : {"w4a8", "w8a8"})
    if (const Result* r = gemm(p, best))
      line(out, std::string("prefill N=64 1T ") + p + " fraction of int8 MAC peak",
           counter(r, "peak_p10"), ">=", 0.40);
  if (const Result* r2 = gemm("w2a8", best), *r4 = gemm("w4a8", best); r2 && r4)
    line(out, "prefill W2A8 speed / W4A8 speed", fastest(r4) / fastest(r2), ">=", 0.9);
  for (const char* w : {"w4", "w8"})
    if (const Result* r = gemm(std::string(w) + "a8+a4_mixed50", best))
      line(out, std::string("mixed 50/50 ") + w + " time / weighted average of pure",
           counter(r, "mixed_vs_weighted_p10"), "<=", 1.1);
  // Group scales: W4A8 g32/g64/g128 on the best path, on the 256-bit paths below it and on AMX
  // (prefill against the path's own int8 MAC peak; AMX's against the AVX-512 VNNI one).
  for (const std::string& path :
       {best, std::string("avxvnni"), std::string("avx2"), std::string("amx")}) {
    if (path != best && path != "amx" && !is_lower_path(path, best)) continue;
    if (path == "amx" && !amx) continue;
    for (const char* g : {"g32", "g64", "g128"}) {
      const std::string pair = std::string("w4a8_") + g;
      if (const Result* r = gemv(pair, 2, path))
        line(out, "decode 2T " + pair + " roofline, " += path, paired(r), ">=", 0.90);
      if (const Result* r = gemm(pair, path))
        line(out, "prefill N=64 1T " + pair + " fraction of int8 MAC peak, " += path,
             counter(r, "peak_p10"), ">=", 0.75);
    }
  }
  if (amx)
    for (const char* p : {"w2a8", "w3a8", "w4a8", "w6a8", "w8a8"})
      if (const Result* a = gemm(p, "amx"), *v = gemm(p, best); a && v)
        std::fprintf(out, "  %-66s %8.3f  (info)\n",
                     (std::string("prefill N=64 1T ") + p + " speed, amx / avx512vnni").c_str(),
                     fastest(v) / fastest(a));
  std::fprintf(out,
               "\nPrefill fraction of the int8 MAC peak of the threads used (10th-percentile "
               "call / mean):\n");
  for (const auto& [name, r] : results())
    if (name.rfind("gemm/", 0) == 0 && counter(&r, "peak") >= 0)
      std::fprintf(out, "  %-58s %6.3f / %6.3f\n", name.c_str(), counter(&r, "peak_p10"),
                   counter(&r, "peak"));
  std::fprintf(out,
               "\nIn-cache GEMV fraction of the int8 MAC peak (10th-percentile call / mean):\n");
  for (const auto& [name, r] : results())
    if (name.rfind("gemv/", 0) == 0 && counter(&r, "peak") >= 0)
      std::fprintf(out, "  %-58s %6.3f / %6.3f\n", name.c_str(), counter(&r, "peak_p10"),
                   counter(&r, "peak"));
  std::fprintf(
      out,
      "\nGEMV fraction of the read-bandwidth roofline (paired / 10th-percentile call / mean):\n");
  for (const auto& [name, r] : results())
    if (name.rfind("gemv/", 0) == 0 && counter(&r, "roofline") >= 0)
      std::fprintf(out, "  %-58s %6.3f / %6.3f / %6.3f\n", name.c_str(), paired(&r),
                   counter(&r, "roofline_p10"), counter(&r, "roofline"));
  std::fprintf(out, "\nInt4 (W4A4) variants, time dot / time cat (> 1: cat faster):\n");
  for (const std::string& path : {best, std::string("avxvnni"), std::string("avx2")}) {
    if (path != best && !is_lower_path(path, best)) continue;
    for (int t : {1, 2})
      if (const Result* d = gemv("w4a4dot", t, path), *c = gemv("w4a4cat", t, path); d && c)
        std::fprintf(out, "  gemv %-10s %dT: %.3f\n", path.c_str(), t, speed_ratio(c, d));
    if (const Result* d = gemm("w4a4dot", path), *c = gemm("w4a4cat", path); d && c)
      std::fprintf(out, "  gemm %-10s N=64 1T: %.3f\n", path.c_str(), fastest(d) / fastest(c));
  }
}

}  // namespace hilq::kernels::bench
