// Quantizers: round trips through the kernels' quantizer, LSQ gradients against the formula,
// token-adaptive masks and dynamic scales (the quant config itself: tests/model).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "kernels/quantize.h"
#include "qat/quant.h"
#include "tests/qat/grad_check.h"

namespace hilq::qat {
namespace {

namespace k = hilq::kernels;
using model::QuantSpec;
using model::TokenAdaptivePolicy;
using testing::random_mat;

TEST_CASE("fake quantization equals the kernels' quantizer bit for bit", "[quant]") {
  for (int bits : {2, 3, 4, 6, 8}) {
    CAPTURE(bits);
    const Mat w = random_mat(8, 64, 100 + static_cast<uint32_t>(bits));
    Mat step(8, 2);
    for (int r = 0; r < 8; ++r) step.row(r) << 0.01f * (r + 1), 0.013f * (r + 1);
    const Mat out = lsq_weight(constant(w), constant(step), bits, 32)->value;
    for (int r = 0; r < 8; ++r) {
      for (int c = 0; c < 64; ++c) {
        const float s = step(r, c / 32);
        const int32_t q = k::quantize_value(w(r, c), s, bits);
        REQUIRE(q >= k::qmin(bits));
        REQUIRE(q <= k::qmax(bits));
        REQUIRE(out(r, c) == s * static_cast<float>(q));  // exact, not approximate
      }
    }
  }
}

TEST_CASE("LSQ on long rows equals the scalar definitions, edge values included", "[quant]") {
  // 700 columns cross the 256-value chunks of the vectorized loops and leave a tail; groups of 96
  // cross chunks as well. Edge values: a result that rounds to -0 must come out +0 (the integer
  // round trip's), NaN quantizes to 0, infinities and huge values clamp, halves round to even.
  const int cols = 700, bits = 4, group = 96;
  const int groups = (cols + group - 1) / group;
  Mat w = random_mat(3, cols, 41, -2, 2);
  const float edges[] = {-0.01f,    -0.0f, 0.0f,   NAN,   INFINITY,
                         -INFINITY, 1e30f, -1e30f, 0.25f, 0.75f};
  for (int i = 0; i < 10; ++i) w(1, 250 + i) = edges[i];
  Mat step(3, groups);
  for (int r = 0; r < 3; ++r)
    for (int g = 0; g < groups; ++g) step(r, g) = 0.1f + 0.01f * static_cast<float>(r + g);
  auto wv = parameter(w);
  auto sv = parameter(step);
  Var y = lsq_weight(wv, sv, bits, group);
  const Mat up = random_mat(3, cols, 42);
  backward(sum(mul(y, constant(up))));
  const float lo = k::qmin(bits), hi = k::qmax(bits);
  for (int r = 0; r < 3; ++r) {
    for (int g = 0; g < groups; ++g) {
      double ds = 0, magnitude = 0;
      for (int c = g * group; c < std::min(cols, (g + 1) * group); ++c) {
        CAPTURE(r, c, w(r, c));
        const float s = step(r, g);
        const float want = k::dequantize_value(k::quantize_value(w(r, c), s, bits), s);
        REQUIRE(std::memcmp(&y->value(r, c), &want, sizeof want) == 0);  // bits, zero sign too
        const float v = w(r, c) / s;
        const bool inside = !(v < lo) && !(v > hi);
        REQUIRE(wv->grad(r, c) == (inside ? up(r, c) : 0.0f));
        const double term = up(r, c) * (v < lo ? lo : v > hi ? hi : std::nearbyint(v) - v);
        ds += term;
        magnitude += std::fabs(term);
      }
      // Float sums of terms of both signs: the tolerance follows the terms' magnitude.
      const double gscale = 1.0 / std::sqrt(group * hi);
      if (r != 1) REQUIRE(sv->grad(r, g) == Approx(ds * gscale).margin(1e-6 * magnitude * gscale));
    }
  }
  // Activations: one step per token class; the same edges in a long row.
  Mat x = random_mat(2, cols, 43, -1, 1);
  for (int i = 0; i < 10; ++i) x(0, 500 + i) = edges[i];
  const float sa = 0.05f;
  const Mat ya = lsq_activation(constant(x), scalar_constant(sa), 8, nullptr, 0, {})->value;
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < cols; ++c) {
      const float want = k::dequantize_value(k::quantize_value(x(r, c), sa, 8), sa);
      REQUIRE(std::memcmp(&ya(r, c), &want, sizeof want) == 0);
    }
  }
}

TEST_CASE("quantizer round trips: grid points survive, others land within half a step", "[quant]") {
  for (int bits : {2, 3, 4, 6, 8}) {
    const float s = 0.37f;
    for (int q = k::qmin(bits); q <= k::qmax(bits); ++q) {
      REQUIRE(k::quantize_value(s * static_cast<float>(q), s, bits) == q);
    }
    const Mat x = random_mat(1, 200, 7, -1, 1) * (s * static_cast<float>(k::qmax(bits)));
    const Mat y = lsq_activation(constant(x), scalar_constant(s), bits, nullptr, 0, {})->value;
    REQUIRE((x - y).cwiseAbs().maxCoeff() <= s / 2 + 1e-6f);
    // Fake quantization is idempotent.
    const Mat z = lsq_activation(constant(y), scalar_constant(s), bits, nullptr, 0, {})->value;
    REQUIRE(z == y);
  }
  // Round half to even, as the kernels do.
  REQUIRE(k::quantize_value(2.5f, 1.0f, 8) == 2);
  REQUIRE(k::quantize_value(3.5f, 1.0f, 8) == 4);
  REQUIRE(k::quantize_value(-2.5f, 1.0f, 8) == -2);
}

TEST_CASE("LSQ gradients follow the formula, with gradient scaling and STE", "[quant]") {
  const int bits = 4;  // qmin -8, qmax 7
  const float s = 0.5f;
  // Inside, below and above the clipping range.
  Mat x(1, 4);
  x << 1.3f, -0.2f, -6.0f, 9.0f;
  auto xv = parameter(x);
  auto sv = parameter(Mat::Constant(1, 1, s));
  Var y = lsq_activation(xv, sv, bits, nullptr, 0, {});
  Mat up(1, 4);
  up << 1.0f, 2.0f, 3.0f, 4.0f;
  backward(sum(mul(y, constant(up))));
  // dx: pass-through inside, zero outside.
  REQUIRE(xv->grad(0, 0) == 1.0f);
  REQUIRE(xv->grad(0, 1) == 2.0f);
  REQUIRE(xv->grad(0, 2) == 0.0f);
  REQUIRE(xv->grad(0, 3) == 0.0f);
  // ds = g * sum(up * d), d = round(v) - v inside, qmin below, qmax above; g = 1/sqrt(N * qmax).
  const double v0 = 1.3 / 0.5, v1 = -0.2 / 0.5;
  const double d = 1 * (std::nearbyint(v0) - v0) + 2 * (std::nearbyint(v1) - v1) + 3 * (-8) + 4 * 7;
  const double g = 1.0 / std::sqrt(4.0 * 7);
  REQUIRE(sv->grad(0, 0) == Approx(d * g).epsilon(1e-5));
  // Weights: one step per row, N = the row's length.
  Mat w(2, 3);
  w << 0.3f, -0.7f, 0.05f, 2.0f, -0.4f, 0.9f;
  auto wv = parameter(w);
  auto st = parameter((Mat(2, 1) << 0.1f, 0.2f).finished());
  backward(sum(lsq_weight(wv, st, 3, 0)));  // qmin -4, qmax 3
  for (int r = 0; r < 2; ++r) {
    double acc = 0;
    for (int c = 0; c < 3; ++c) {
      const double v = static_cast<double>(w(r, c) / st->value(r, 0));
      acc += v < -4 ? -4 : v > 3 ? 3 : std::nearbyint(v) - v;
    }
    REQUIRE(st->grad(r, 0) == Approx(acc / std::sqrt(3.0 * 3)).epsilon(1e-5));
  }
}

TEST_CASE("LSQ init and the MSE step follow their definitions", "[quant]") {
  const float x[4] = {1, -1, 3, -3};
  REQUIRE(lsq_init_step(x, 4, 4) == Approx(2 * 2.0 / std::sqrt(7.0)));
  // With one outlier the MSE step clips it rather than wasting the grid.
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(static_cast<int>(i % 21) - 10) / 10.0f;
  v[0] = 20.0f;
  REQUIRE(mse_step(v.data(), v.size(), 4) < 20.0f / 7);
}

TEST_CASE("token-adaptive quantization gives high rows more bits", "[quant]") {
  const Mat x = random_mat(4, 32, 3);
  const std::vector<uint8_t> high{1, 0, 1, 0};
  auto y =
      lsq_activation(constant(x), scalar_constant(0.01f), 8, scalar_constant(0.2f), 4, high)->value;
  REQUIRE((y.row(0) - x.row(0)).cwiseAbs().maxCoeff() <= 0.005f + 1e-6f);
  REQUIRE((y.row(1) - x.row(1)).cwiseAbs().maxCoeff() > 0.01f);
  // Dynamic per-token scales: absmax of each row maps to qmax.
  auto d = dynamic_token_quant(constant(x), 8, 4, high)->value;
  REQUIRE(d.row(0).cwiseAbs().maxCoeff() == Approx(x.row(0).cwiseAbs().maxCoeff()));
  const float s1 = k::absmax_scale(x.data() + 32, 32, 4);
  for (int c = 0; c < 32; ++c)
    REQUIRE(d(1, c) == s1 * static_cast<float>(k::quantize_value(x(1, c), s1, 4)));
}

TEST_CASE("token importance ranks tokens by attention to the first token", "[quant]") {
  const AttnShape s{1, 4, 2, 2};
  Mat p = Mat::Zero(8, 4);
  // Head-averaged attention to token 0: token0 1.0, token1 0.2, token2 0.7, token3 0.4.
  const float col0[2][4] = {{1.0f, 0.3f, 0.6f, 0.5f}, {1.0f, 0.1f, 0.8f, 0.3f}};
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) p(h * 4 + i, 0) = col0[h][i];
  }
  REQUIRE(token_importance_mask(p, s, {}, 0.5) == std::vector<uint8_t>{1, 0, 1, 0});
  REQUIRE(token_importance_mask(p, s, {}, 0.75) == std::vector<uint8_t>{1, 0, 1, 1});
  REQUIRE(token_importance_mask(p, s, {3}, 0.5) == std::vector<uint8_t>{1, 0, 1, 0});  // ceil(1.5)
  REQUIRE(token_importance_mask(p, s, {}, 0.0) == std::vector<uint8_t>{0, 0, 0, 0});
}

TEST_CASE("layer 0 runs at the high width and token groups get separate steps", "[quant]") {
  QuantState qs(QuantSpec::uniform(2, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5}), 2);
  REQUIRE(qs.acts().at("layers.0.attn.qkv.in").low_bits == 0);
  REQUIRE(qs.acts().at("layers.0.attn.qkv.in").bits == 8);
  REQUIRE(qs.acts().at("layers.1.mlp.down.in").low_bits == 4);
  REQUIRE(qs.acts().at("layers.1.mlp.down.in").step_lo != nullptr);
  REQUIRE(qs.any_adaptive());
  QuantState plain(QuantSpec::uniform(2, 4, 8), 2);
  REQUIRE_FALSE(plain.any_adaptive());
  REQUIRE(plain.acts().at("layers.1.attn.q.out").bits == 8);
}

}  // namespace
}  // namespace hilq::qat
