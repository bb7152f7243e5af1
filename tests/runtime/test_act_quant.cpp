// The runtime's row quantizers against the shared quantizer (kernels/quantize.h): bit-identical
// codes, scales and code sums, for learned and dynamic scales, 4 and 8 bits, hostile inputs.
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/mkmp.h"
#include "kernels/quantize.h"
#include "runtime/act_quant.h"
#include "runtime/exp_poly.h"

namespace hilq::runtime {
namespace {

namespace k = hilq::kernels;

std::vector<float> hostile_row(std::mt19937& rng, int n, float scale) {
  std::normal_distribution<float> d(0.0f, 40.0f * scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = d(rng);
  // Exact ties at +-k.5 steps, the clamp edges, signed zeros and non-finite values.
  const float specials[] = {0.5f * scale,
                            -0.5f * scale,
                            2.5f * scale,
                            -3.5f * scale,
                            127.5f * scale,
                            -128.5f * scale,
                            7.5f * scale,
                            -8.5f * scale,
                            0.0f,
                            -0.0f,
                            1e30f,
                            -1e30f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::nanf(""),
                            1e-30f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0] && i < x.size(); ++i)
    x[i * 3 % x.size()] = specials[i];
  return x;
}

TEST_CASE("quantize_row gives kernels::quantize_value's codes bit for bit",
          "[runtime][act_quant]") {
  std::mt19937 rng(3);
  for (int bits : {4, 8}) {
    for (float scale : {0.01f, 0.37f, 3.0f, 1e-8f}) {
      for (int cols : {1, 31, 64, 200}) {
        CAPTURE(bits, scale, cols);
        const auto x = hostile_row(rng, cols, scale);
        const int pad = (cols + 127) / 128 * 128;
        std::vector<int8_t> q(static_cast<size_t>(pad), 99);
        std::vector<int32_t> sums(static_cast<size_t>(pad / 32 + 1));
        const float s = quantize_row(x.data(), cols, pad, bits, scale, q.data(), sums.data());
        REQUIRE(s == scale);
        int32_t total = 0;
        for (int c = 0; c < pad; ++c) {
          const int want = c < cols ? k::quantize_value(x[static_cast<size_t>(c)], scale, bits) : 0;
          REQUIRE(int{q[static_cast<size_t>(c)]} == want);
          total += want;
        }
        REQUIRE(sums.back() == total);
      }
    }
  }
}

TEST_CASE("the selected row quantizer equals quantize_row bit for bit, ties and extremes included",
          "[runtime][act_quant]") {
  // The best path, and AVX2 forced (the portable quantizer): on an AVX-512 machine the AVX-512
  // one is checked against it.
  const std::string force = GENERATE(as<std::string>{}, "", "avx2");
  k::Context ctx(k::ContextOptions{1, force, ""});
  const RowQuantFn quant = row_quantizer(ctx);
  CAPTURE(force, k::isa_name(ctx.isa()));
  if (ctx.isa() == k::Isa::kAvx512Vnni) CHECK(quant != &quantize_row);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> frac(-0.5f, 0.5f);
  for (int bits : {4, 8}) {
    for (float scale : {0.0f, 0.01f, 0.1f, 0.37f, 3.0f, 1e-8f, 1e-39f, 3e38f}) {
      for (int cols : {1, 15, 16, 17, 31, 64, 200, 768}) {
        CAPTURE(bits, scale, cols);
        auto x = hostile_row(rng, cols, scale > 0.0f ? scale : 0.05f);
        // Near ties: quotients a few ulp either side of k + 0.5, where a product with the
        // reciprocal could round the other way.
        for (int c = 1; c < cols; c += 5) {
          const float s = scale > 0.0f ? scale : 0.05f;
          const float tie = (std::floor(frac(rng) * 40.0f) + 0.5f) * s;
          x[static_cast<size_t>(c)] = std::nextafter(tie, (c / 5) % 2 ? 1e30f : -1e30f);
        }
        const int pad = (cols + 127) / 128 * 128;
        std::vector<int8_t> a(static_cast<size_t>(pad), 99), b = a;
        std::vector<int32_t> sa(static_cast<size_t>(pad / 32 + 1)), sb = sa;
        const float fa = quant(x.data(), cols, pad, bits, scale, a.data(), sa.data());
        const float fb = quantize_row(x.data(), cols, pad, bits, scale, b.data(), sb.data());
        CHECK(std::bit_cast<uint32_t>(fa) == std::bit_cast<uint32_t>(fb));
        CHECK(a == b);
        CHECK(sa == sb);
        // Without padding or sums (Q, K, V codes).
        std::vector<int8_t> c1(static_cast<size_t>(cols)), c2 = c1;
        quant(x.data(), cols, cols, bits, scale, c1.data(), nullptr);
        quantize_row(x.data(), cols, cols, bits, scale, c2.data(), nullptr);
        CHECK(c1 == c2);
      }
    }
  }
}

TEST_CASE("dynamic rows equal the kernels' absmax activation quantizer", "[runtime][act_quant]") {
  std::mt19937 rng(5);
  const int n = 5, cols = 200;
  std::vector<float> x;
  for (int t = 0; t < n; ++t) {
    auto r = hostile_row(rng, cols, 0.1f);
    for (auto& v : r) v = std::isfinite(v) ? v : 1.0f;  // absmax of a non-finite row is not defined
    x.insert(x.end(), r.begin(), r.end());
  }
  std::fill(x.begin() + 3 * cols, x.begin() + 4 * cols, 0.0f);  // a zero row: scale 1
  const std::vector<uint8_t> bits{8, 4, 8, 4, 8}, high{1, 0, 1, 0, 1};
  k::QuantizedActivations want;
  k::quantize_activations_ref(x.data(), n, cols, cols, bits.data(), &want);
  ActQuant p;
  p.bits = 8;
  p.low_bits = 4;
  p.dynamic = true;
  k::QuantizedActivations got;
  reserve_acts(8, 256, &got);
  quantize_rows(p, x.data(), n, cols, cols, high.data(), &got);
  REQUIRE(got.cols_pad == want.cols_pad);
  for (int t = 0; t < n; ++t) {
    CAPTURE(t);
    REQUIRE(got.bits[static_cast<size_t>(t)] == want.bits[static_cast<size_t>(t)]);
    REQUIRE(got.scales[static_cast<size_t>(t)] == want.scales[static_cast<size_t>(t)]);
    for (int c = 0; c < got.cols_pad; ++c) {
      REQUIRE(got.q[static_cast<size_t>(t * got.cols_pad + c)] ==
              want.q[static_cast<size_t>(t * want.cols_pad + c)]);
    }
    for (int64_t i = 0; i < got.sum_stride(); ++i) {
      REQUIRE(got.sums[static_cast<size_t>(t * got.sum_stride() + i)] ==
              want.sums[static_cast<size_t>(t * want.sum_stride() + i)]);
    }
  }
}

TEST_CASE("a dynamic row's scale is the absmax of its values wherever the largest and NaNs sit",
          "[runtime][act_quant]") {
  // The vector absmax runs 16 values at a time in four accumulators, then 4 at a time, then one
  // by one: the largest value and NaNs (skipped, as kernels::absmax_scale's fmax skips them) in
  // each part, and signed zeros, give the scalar loop's scale and codes.
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int cols : {3, 4, 16, 20, 37, 64, 200, 1024}) {
    for (int at = 0; at < cols; at += std::max(1, cols / 9)) {
      CAPTURE(cols, at);
      std::vector<float> x(static_cast<size_t>(cols));
      for (auto& v : x) v = d(rng);
      x[static_cast<size_t>(at)] = -9.5f;  // the largest magnitude, negative
      x[static_cast<size_t>((at + 5) % cols)] = std::nanf("");
      if (cols > 8) x[static_cast<size_t>((at + 7) % cols)] = -0.0f;
      for (int bits : {4, 8}) {
        const int pad = (cols + 127) / 128 * 128;
        std::vector<int8_t> q(static_cast<size_t>(pad));
        std::vector<int32_t> sums(static_cast<size_t>(pad / 32 + 1));
        const float s = quantize_row(x.data(), cols, pad, bits, 0.0f, q.data(), sums.data());
        float m = 0.0f;
        for (float v : x) m = std::fmax(m, std::fabs(v));
        CHECK(m == 9.5f);
        REQUIRE(s == k::absmax_scale(x.data(), cols, bits));
        int32_t total = 0;
        for (int c = 0; c < pad; ++c) {
          const int want = c < cols ? k::quantize_value(x[static_cast<size_t>(c)], s, bits) : 0;
          REQUIRE(int{q[static_cast<size_t>(c)]} == want);
          total += want;
        }
        REQUIRE(sums.back() == total);
      }
    }
  }
}

TEST_CASE("learned scales pick the scale of each token's width group", "[runtime][act_quant]") {
  ActQuant p;
  p.bits = 8;
  p.low_bits = 4;
  p.scale_hi = 0.02f;
  p.scale_lo = 0.3f;
  const std::vector<float> x{0.5f, -1.0f, 2.0f, 0.25f, 0.5f, -1.0f, 2.0f, 0.25f};
  const uint8_t high[2] = {0, 1};
  int8_t q[8];
  float s[2];
  quantize_codes(p, x.data(), 2, 4, 4, high, q, 4, s);
  CHECK(s[0] == 0.3f);
  CHECK(s[1] == 0.02f);
  for (int c = 0; c < 4; ++c) {
    CHECK(int{q[c]} == k::quantize_value(x[static_cast<size_t>(c)], 0.3f, 4));
    CHECK(int{q[4 + c]} == k::quantize_value(x[static_cast<size_t>(c)], 0.02f, 8));
  }
  std::vector<float> y(8);
  fake_quantize(p, x.data(), 2, 4, 4, high, y.data(), 4);
  for (int c = 0; c < 4; ++c) {
    CHECK(y[static_cast<size_t>(c)] == 0.3f * static_cast<float>(q[c]));
    CHECK(y[static_cast<size_t>(4 + c)] == 0.02f * static_cast<float>(q[4 + c]));
  }
  // Without a mask (or on a non-adaptive point) every token is high.
  quantize_codes(p, x.data(), 2, 4, 4, nullptr, q, 4, s);
  CHECK(s[0] == 0.02f);
}

TEST_CASE("exp_poly stays within 2 ulp of std::exp over SiLU's range", "[runtime][act_quant]") {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const double got = exp_poly(x);
    worst = std::max(worst, std::fabs(got - want) / want);
  }
  CAPTURE(worst);
  CHECK(worst < 2.5e-7);  // 2 ulp of float
  CHECK(exp_poly(-1000.0f) >= 0.0f);
  CHECK(exp_poly(-1000.0f) < 1e-37f);
  CHECK(exp_poly(1000.0f) > 1e38f);  // FLT_MAX or inf: silu then gives 0, as it should
  CHECK(exp_poly(0.0f) == 1.0f);
}

}  // namespace
}  // namespace hilq::runtime
