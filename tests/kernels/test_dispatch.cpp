// MKMP dispatch: the expected paths are compiled, detected and chosen; HILQ_ISA forces a lower
// one; token-adaptive rows are grouped by bit width and written back in row order; results do not
// depend on the thread count or on the int4 variant.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <set>
#include <string>

#include "kernel_test_util.h"
#include "kernels/mkmp.h"

using namespace hilq::kernels;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("the kernel paths expected on this machine are compiled, detected and dispatched",
          "[dispatch]") {
  const auto expected = test::expected_isas();
  const std::string cpu = test::env_or("HILQ_EXPECT_CPU", "");
  const CpuFeatures& f = cpu_features();
  CAPTURE(cpu, build_arch());
  if (cpu == "max") {
    REQUIRE(f.has(kDotprod));
    REQUIRE(f.has(kI8mm));
  } else if (cpu == "cortex-a76") {
    REQUIRE(f.has(kDotprod));
    REQUIRE_FALSE(f.has(kI8mm));  // proves the dotprod fallback is what runs
  }
  const Isa max = test::max_isa();
  for (Isa isa : expected) {
    CAPTURE(isa_name(isa));
    REQUIRE(isa_compiled(isa));
    REQUIRE(isa_supported(isa, f));
    REQUIRE(isa_at_most(isa, max));
    // Every pair and op has a kernel on this path or on a lower one that it inherits from.
    std::set<std::string> seen;
    for (const auto& k : kernel_registry())
      if (kernel_isa(k) == isa) seen.insert(k.name);
    REQUIRE(!seen.empty());
  }
  // The context picks the best expected path and reports it in the kernel names.
  const Isa best = expected.back();
  Context ctx(ContextOptions{1, "", ""});
  REQUIRE(ctx.isa() == best);
  std::mt19937 rng(3);
  for (int w_bits : {2, 3, 4, 6, 8})
    for (int group : {0, 32})
      for (int n : {1, 4}) {
        const PackedWeights w = test::random_weights(rng, 40, 64, w_bits, group);
        std::vector<float> x(static_cast<size_t>(n) * 64, 0.25f), y(static_cast<size_t>(n) * 40);
        const std::vector<uint8_t> bits(n, 8);
        matmul(ctx, w, x.data(), n, 64, bits.data(), y.data(), 40);
        CAPTURE(w_bits, group, n, ctx.last_kernel());
        const KernelInfo* k = select_kernel(ctx, n == 1 ? kOpGemv : kOpGemm, w_bits, 8, group);
        REQUIRE(k != nullptr);
        REQUIRE(ctx.last_kernel() == k->name);
        // i8mm and AMX add GEMM kernels only; their GEMVs run the dotprod and AVX-512 VNNI
        // kernels.
        const Isa ran = kernel_isa(*k);
        if (best == Isa::kI8mm && n == 1)
          REQUIRE(ran == Isa::kDotprod);
        else if (best == Isa::kAmx && n == 1)
          REQUIRE(ran == Isa::kAvx512Vnni);
        else
          REQUIRE(ran == best);
      }
  for (KernelKind kind : {kKindFp32, kKindFp16}) {
    const KernelInfo* k = select_fp_kernel(ctx, kOpGemm, kind);
    REQUIRE(k != nullptr);
    if (best != Isa::kRef) REQUIRE(kernel_isa(*k) != Isa::kRef);
  }
}

TEST_CASE("an explicit path forces a lower kernel and the context names it", "[dispatch]") {
  Context ctx(ContextOptions{1, "ref", ""});
  REQUIRE(ctx.isa() == Isa::kRef);
  std::mt19937 rng(4);
  const PackedWeights w = test::random_weights(rng, 8, 40, 4, 0);
  std::vector<float> x(40, 1.0f), y(8);
  matmul(ctx, w, x.data(), 1, 40, nullptr, y.data(), 8);
  REQUIRE(ends_with(ctx.last_kernel(), "__ref"));
  matmul_fp32(ctx, x.data(), 1, 40, x.data(), 1, 40, y.data(), 1);
  REQUIRE(ends_with(ctx.last_kernel(), "__ref"));
}

TEST_CASE("token-adaptive rows are grouped by bit width and written back in row order",
          "[dispatch]") {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int rows = 70, cols = 200, n = 11;
  const int group = GENERATE(0, 64);
  const int w_bits = GENERATE(2, 4, 8);
  const int threads = GENERATE(1, 3);
  CAPTURE(group, w_bits, threads);
  std::vector<float> wf(rows * cols), x(n * cols), bias(rows);
  for (auto& v : wf) v = d(rng);
  for (auto& v : x) v = d(rng);
  for (auto& v : bias) v = d(rng);
  const PackedWeights w = quantize_pack(wf.data(), rows, cols, w_bits, group);
  std::vector<uint8_t> bits(n);
  for (int t = 0; t < n; ++t) bits[t] = (t * 7 % 3) ? 4 : 8;
  Context ctx(ContextOptions{threads, "", ""});
  std::vector<float> y(n * rows);
  matmul(ctx, w, x.data(), n, cols, bits.data(), y.data(), rows, bias.data());
  CAPTURE(ctx.last_kernel());
  REQUIRE(ctx.last_kernel().find('+') != std::string::npos);
  // Each row alone through the scalar reference gives the same floats.
  Context ref(ContextOptions{1, "ref", ""});
  for (int t = 0; t < n; ++t) {
    std::vector<float> yt(rows);
    matmul(ref, w, x.data() + t * cols, 1, cols, &bits[t], yt.data(), rows, bias.data());
    for (int m = 0; m < rows; ++m)
      REQUIRE(y[t * rows + m] == Approx(yt[m]).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("results do not depend on the thread count or the int4 variant", "[dispatch]") {
  std::mt19937 rng(6);
  const PackedWeights w = test::random_weights(rng, 300, 512, 4, 0);
  const int n = GENERATE(1, 9);
  std::vector<float> x(static_cast<size_t>(n) * 512);
  for (auto& v : x) v = std::uniform_real_distribution<float>(-2, 2)(rng);
  const std::vector<uint8_t> bits(n, 4);
  std::vector<float> y1(static_cast<size_t>(n) * 300), y2(y1.size()), y3(y1.size());
  Context one(ContextOptions{1, "", "dot"});
  matmul(one, w, x.data(), n, 512, bits.data(), y1.data(), 300);
  Context two(ContextOptions{2, "", "cat"});
  matmul(two, w, x.data(), n, 512, bits.data(), y2.data(), 300);
  CAPTURE(one.last_kernel(), two.last_kernel());
  two.set_threads(3);
  matmul(two, w, x.data(), n, 512, bits.data(), y3.data(), 300);
  for (size_t i = 0; i < y1.size(); ++i) {
    REQUIRE(y2[i] == Approx(y1[i]).epsilon(1e-5).margin(1e-6));
    REQUIRE(y3[i] == y2[i]);
  }
}

TEST_CASE("group-scale GEMMs give the same bits on any thread split", "[dispatch]") {
  // Each thread takes a range of panels; a group GEMM that carries work from one chunk or panel
  // into the next (the AMX g32 kernel unpacks the next chunk during the current one) must start
  // each range afresh. 1,056 columns: two full 512-column chunks and a one-group tail; 200 rows:
  // seven panels, the last partial.
  std::mt19937 rng(7);
  const int group = GENERATE(32, 64);
  const int rows = 200, cols = 1056, n = 20;
  CAPTURE(group);
  const PackedWeights w = test::random_weights(rng, rows, cols, 4, group);
  std::vector<float> x(static_cast<size_t>(n) * cols);
  for (auto& v : x) v = std::uniform_real_distribution<float>(-2, 2)(rng);
  const std::vector<uint8_t> bits(n, 8);
  std::vector<float> y1(static_cast<size_t>(n) * rows), y3(y1.size());
  Context one(ContextOptions{1, "", ""});
  matmul(one, w, x.data(), n, cols, bits.data(), y1.data(), rows);
  Context three(ContextOptions{3, "", ""});
  matmul(three, w, x.data(), n, cols, bits.data(), y3.data(), rows);
  CAPTURE(one.last_kernel(), three.last_kernel());
  REQUIRE(one.last_kernel() == three.last_kernel());
  for (size_t i = 0; i < y1.size(); ++i) REQUIRE(y3[i] == y1[i]);
  // And the scalar reference agrees within float rounding of the epilogue.
  Context ref(ContextOptions{1, "ref", ""});
  std::vector<float> yr(y1.size());
  matmul(ref, w, x.data(), n, cols, bits.data(), yr.data(), rows);
  for (size_t i = 0; i < y1.size(); ++i) REQUIRE(y1[i] == Approx(yr[i]).epsilon(1e-5).margin(1e-6));
}
