// Attention's inner loops: the SIMD table this machine selects gives bit-identical results to the
// portable one (exact integer dots, same float order), and x86 SIMD paths do select it.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "kernels/mkmp.h"
#include "runtime/attention.h"
#include "runtime/attention_ops.h"

namespace hilq::runtime {
namespace {

TEST_CASE("the selected attention loops equal the portable ones bit for bit",
          "[runtime][attention]") {
  // The best path, and AVX2 forced: on an AVX-512 machine both x86 tables are checked.
  const std::string force = GENERATE(as<std::string>{}, "", "avx2");
  kernels::Context ctx(kernels::ContextOptions{1, force, ""});
  const AttnOps& ops = attn_ops(ctx);
  const kernels::Isa isa = ctx.isa();
  CAPTURE(force, ops.name, kernels::isa_name(isa));
  // The x86 SIMD loops must not go uncovered.
  if (isa == kernels::Isa::kAvx2) CHECK(std::string(ops.name) == "avx2");
  if (isa == kernels::Isa::kAvx512Vnni) CHECK(std::string(ops.name) == "avx512");
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> di(-128, 127);
  std::normal_distribution<float> df(0.0f, 1.0f);
  for (int d : {8, 32, 64, 72, 6}) {
    for (int keys : {1, 7, 9, 17, 64, 300}) {
      CAPTURE(d, keys);
      const int64_t ld = d + 5;
      std::vector<int8_t> q(d), k(keys * ld), v(keys * ld);
      std::vector<float> qf(d), kf(keys * ld), vf(keys * ld), ks(keys), vs(keys), p(keys);
      for (auto& x : q) x = static_cast<int8_t>(di(rng));
      for (auto& x : k) x = static_cast<int8_t>(di(rng));
      for (auto& x : v) x = static_cast<int8_t>(di(rng));
      for (auto* vec : {&qf, &kf, &vf}) {
        for (auto& x : *vec) x = df(rng);
      }
      for (int j = 0; j < keys; ++j) {
        ks[j] = 0.01f + 0.001f * j;
        vs[j] = 0.02f + 0.0007f * j;
        p[j] = 1.0f / (1 + j);
      }
      std::vector<float> a(std::max(keys, d)), b(std::max(keys, d));
      ops.scores_i8(q.data(), 0.03f, k.data(), ld, ks.data(), keys, d, 0.125f, a.data());
      kAttnOpsPortable.scores_i8(q.data(), 0.03f, k.data(), ld, ks.data(), keys, d, 0.125f,
                                 b.data());
      CHECK(a == b);
      ops.scores_f32(qf.data(), kf.data(), ld, keys, d, 0.125f, a.data());
      kAttnOpsPortable.scores_f32(qf.data(), kf.data(), ld, keys, d, 0.125f, b.data());
      CHECK(a == b);
      ops.apply_i8(p.data(), v.data(), ld, vs.data(), keys, d, a.data());
      kAttnOpsPortable.apply_i8(p.data(), v.data(), ld, vs.data(), keys, d, b.data());
      CHECK(std::vector<float>(a.begin(), a.begin() + d) ==
            std::vector<float>(b.begin(), b.begin() + d));
      // 8-bit probabilities are mostly 0: those keys are skipped, which must change no bit of
      // the plain sum over every key in order.
      std::vector<float> pz = p;
      for (int j = 0; j < keys; ++j)
        if (j % 3 != 1) pz[j] = 0.0f;
      ops.apply_i8(pz.data(), v.data(), ld, vs.data(), keys, d, a.data());
      kAttnOpsPortable.apply_i8(pz.data(), v.data(), ld, vs.data(), keys, d, b.data());
      for (int e = 0; e < d; ++e) {
        float plain = 0.0f;
        for (int j = 0; j < keys; ++j) plain += (pz[j] * vs[j]) * static_cast<float>(v[j * ld + e]);
        CAPTURE(e);
        CHECK(std::bit_cast<uint32_t>(a[e]) == std::bit_cast<uint32_t>(plain));
        CHECK(std::bit_cast<uint32_t>(b[e]) == std::bit_cast<uint32_t>(plain));
      }
      ops.apply_f32(p.data(), vf.data(), ld, keys, d, a.data());
      kAttnOpsPortable.apply_f32(p.data(), vf.data(), ld, keys, d, b.data());
      CHECK(std::vector<float>(a.begin(), a.begin() + d) ==
            std::vector<float>(b.begin(), b.begin() + d));
    }
  }
}

TEST_CASE("the selected softmax equals the portable one bit for bit and the softmax's definition",
          "[runtime][attention]") {
  const std::string force = GENERATE(as<std::string>{}, "", "avx2");  // as above
  kernels::Context ctx(kernels::ContextOptions{1, force, ""});
  const AttnOps& ops = attn_ops(ctx);
  CAPTURE(force, ops.name);
  std::mt19937 rng(3);
  std::normal_distribution<float> df(0.0f, 3.0f);
  for (const int keys : {1, 2, 7, 8, 9, 15, 16, 17, 31, 64, 100, 129}) {
    for (const int kind : {0, 1, 2}) {
      CAPTURE(keys, kind);
      std::vector<float> x(static_cast<size_t>(keys));
      for (auto& v : x) v = df(rng);
      if (kind == 1) {  // ties, and keys far below the maximum (exp_poly's lower clamp)
        for (int j = 0; j < keys; ++j) x[j] = j % 3 == 0 ? 2.5f : -150.0f - j;
      } else if (kind == 2) {  // one dominant key late in the row, signed zeros
        for (int j = 0; j < keys; ++j) x[j] = j % 2 ? 0.0f : -0.0f;
        x[static_cast<size_t>(keys - 1)] = 40.0f;
      }
      std::vector<float> a = x, b = x;
      ops.softmax(a.data(), keys);
      kAttnOpsPortable.softmax(b.data(), keys);
      double mx = -1e300, z = 0.0, total = 0.0;
      for (const float v : x) mx = std::max(mx, double{v});
      for (const float v : x) z += std::exp(double{v} - mx);
      for (int j = 0; j < keys; ++j) {
        CAPTURE(j, x[j]);
        CHECK(std::bit_cast<uint32_t>(a[j]) == std::bit_cast<uint32_t>(b[j]));
        CHECK(std::abs(b[j] - std::exp(double{x[j]} - mx) / z) <= 2e-6);
        total += b[j];
      }
      CHECK(std::abs(total - 1.0) <= 1e-5);
    }
  }
}

TEST_CASE("the selected SwiGLU gate equals the portable one bit for bit, extremes included",
          "[runtime][attention]") {
  const std::string force = GENERATE(as<std::string>{}, "", "avx2");  // as above
  kernels::Context ctx(kernels::ContextOptions{1, force, ""});
  const AttnOps& ops = attn_ops(ctx);
  CAPTURE(force, ops.name);
  std::mt19937 rng(2);
  std::normal_distribution<float> df(0.0f, 4.0f);
  for (const int n : {1, 7, 8, 9, 768, 1003}) {
    CAPTURE(n);
    std::vector<float> g(static_cast<size_t>(n)), u(g.size());
    for (auto& x : g) x = df(rng);
    for (auto& x : u) x = df(rng);
    // Past both clamps, at them, at floor's integer boundaries, and signed zeros.
    const float special[] = {-200.0f, 200.0f, -88.723f, 88.723f, -88.0f,  87.9f, 0.0f,
                             -0.0f,   0.5f,   -0.5f,    1e-30f,  -1e-30f, 3.0f,  -64.0f};
    for (size_t i = 0; i < std::size(special) && i < g.size(); ++i) g[i] = special[i];
    std::vector<float> a = g, b = g;
    ops.swiglu(a.data(), u.data(), n);
    kAttnOpsPortable.swiglu(b.data(), u.data(), n);
    for (size_t i = 0; i < g.size(); ++i) {
      CAPTURE(i, g[i]);
      CHECK(std::bit_cast<uint32_t>(a[i]) == std::bit_cast<uint32_t>(b[i]));
    }
  }
}

}  // namespace
}  // namespace hilq::runtime
