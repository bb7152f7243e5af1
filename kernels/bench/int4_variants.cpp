// bench_int4: times the two W4A4 kernel families (unpack + dot product vs the Squat
// concatenated-int16 kernel) on every path this CPU runs, without Google Benchmark, so it also
// runs on the boards and under qemu (where timings are emulation, not hardware).
//   bench_int4 [M K N]  ->  one line per path and op: fastest call of each and the ratio
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/mkmp.h"

namespace {

using namespace hilq::kernels;

double fastest_us(Context& ctx, const PackedWeights& w, const std::vector<float>& x, int n,
                  std::vector<float>& y, const std::vector<uint8_t>& bits) {
  double best = 1e30;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  for (int i = 0; i < 3 || std::chrono::steady_clock::now() < until; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    matmul(ctx, w, x.data(), n, w.layout.cols, bits.data(), y.data(), w.layout.rows);
    best = std::min(
        best,
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int m = argc > 3 ? std::atoi(argv[1]) : 1024;
  const int k = argc > 3 ? std::atoi(argv[2]) : 1024;
  const int n_gemm = argc > 3 ? std::atoi(argv[3]) : 16;
  if (m < 1 || k < 1 || n_gemm < 2) {
    std::fprintf(stderr, "usage: bench_int4 [M K N>=2]\n");
    return 2;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(m) * k), x(static_cast<size_t>(n_gemm) * k);
  for (auto& v : wf) v = d(rng);
  for (auto& v : x) v = d(rng);
  const PackedWeights w = quantize_pack(wf.data(), m, k, 4, 0);
  std::vector<float> y(static_cast<size_t>(n_gemm) * m);
  const std::vector<uint8_t> bits(n_gemm, 4);
  std::printf("W4A4 %dx%d, 1 thread, fastest call in us (dot / cat; ratio > 1: cat faster)\n", m,
              k);
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon, Isa::kDotprod, Isa::kI8mm}) {
    if (!isa_compiled(isa) || !isa_supported(isa, cpu_features())) continue;
    for (int n : {1, n_gemm}) {
      Context dot(ContextOptions{1, isa_name(isa), "dot"}),
          cat(ContextOptions{1, isa_name(isa), "cat"});
      const double td = fastest_us(dot, w, x, n, y, bits);
      const double tc = fastest_us(cat, w, x, n, y, bits);
      std::printf("  %-10s N=%-3d %10.1f %10.1f  %.3f  (%s / %s)\n", isa_name(isa), n, td, tc,
                  td / tc, dot.last_kernel().c_str(), cat.last_kernel().c_str());
    }
  }
  return 0;
}
