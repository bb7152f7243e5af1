// The QAT engine's golden logits (tests/runtime/golden.h) reproduced on this machine's kernel
// path for every bit configuration: on x86 and, cross-built, under qemu-aarch64 (NEON, dotprod,
// i8mm), without qat or Eigen in the binary.
#include <catch2/catch.hpp>
#include <cstdio>

#include "kernels/isa.h"
#include "runtime/bench.h"
#include "runtime/session.h"
#include "tests/runtime/golden.h"

namespace hilq::runtime {
namespace {

// Same bounds as the live test (test_qat_agreement.cpp explains them): the kernel paths differ
// from each other only in float rounding of the scales, as they do from the QAT engine.
constexpr double kMeanTol = 1e-4, kMaxTol = 0.01, kMinAgreement = 0.99;

TEST_CASE("the runtime reproduces the QAT engine's golden logits for every bit configuration",
          "[runtime][golden]") {
  const test::Golden g =
      test::read_golden(std::string(HILQ_RUNTIME_FIXTURES) + "/micro_golden.safetensors");
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  const int V = g.shape.vocab, K = test::kGoldenProbes;
  REQUIRE(g.configs >= 10);
  std::printf("golden fixture on kernel path %s:\n", kernels::isa_name(ctx.isa()));
  for (int i = 0; i < g.configs; ++i) {
    const std::string label = test::golden_label(g, i), c = test::golden_config_prefix(i);
    CAPTURE(label, kernels::isa_name(ctx.isa()));
    const Model m = Model::from_file(test::golden_model(g, i), {}, label);
    const std::vector<int32_t> best = test::golden_i32(g.file, c + "argmax");
    const std::vector<float> probes = test::golden_f32(g.file, c + "probes");
    SessionOptions so;
    so.all_logits = true;
    Session s(m, ctx, so);
    test::Agreement a;
    std::vector<float> got(static_cast<size_t>(K));
    for (int w = 0; w < g.windows; ++w) {
      s.reset();
      const auto out = s.prefill(
          std::span<const int32_t>(g.ids.data() + w * g.seq, static_cast<size_t>(g.seq)), true);
      for (int t = 0; t < g.seq; ++t) {
        const size_t r = static_cast<size_t>(w * g.seq + t);
        const float* row = out.data() + int64_t{t} * V;
        for (int k = 0; k < K; ++k)
          got[static_cast<size_t>(k)] = row[g.probe_ids[static_cast<size_t>(k)]];
        a.add(got.data(), probes.data() + r * K, K);
        a.positions += 1;
        a.same_argmax += argmax(row, V) == best[r];
      }
    }
    std::printf("  %-44s greedy %5.1f%% of %d, probe |diff| max %.2e mean %.2e\n", label.c_str(),
                100.0 * a.agreement(), a.positions, a.max_abs, a.mean_abs());
    CHECK(a.agreement() >= kMinAgreement);
    CHECK(a.mean_abs() <= kMeanTol * std::max(1.0, a.logit_range));
    CHECK(a.max_abs <= kMaxTol * std::max(1.0, a.logit_range));
  }
}

}  // namespace
}  // namespace hilq::runtime
