// Packed weight format: exact round trips for every width and group, the shared quantizer, the
// model-file buffers and binary16 conversion.
#include <catch2/catch.hpp>
#include <cstring>
#include <random>

#include "kernel_test_util.h"
#include "kernels/pack.h"
#include "kernels/quantize.h"

using namespace hilq::kernels;

TEST_CASE("packing and unpacking are exact inverses for every width, group and odd shape",
          "[pack]") {
  std::mt19937 rng(1);
  const int bits = GENERATE(2, 3, 4, 6, 8);
  const int group = GENERATE(0, 32, 64, 128);
  for (auto [rows, cols] : {std::pair{1, 1}, {3, 5}, {17, 33}, {32, 128}, {33, 129}, {70, 300}}) {
    CAPTURE(bits, group, rows, cols);
    const auto q = test::random_codes(rng, static_cast<size_t>(rows) * cols, bits);
    const int groups = group ? (cols + group - 1) / group : 1;
    std::vector<float> s(static_cast<size_t>(rows) * groups);
    for (size_t i = 0; i < s.size(); ++i) s[i] = 0.5f + static_cast<float>(i);
    const PackedWeights w = pack_weights(q.data(), s.data(), rows, cols, bits, group);
    REQUIRE(w.data.size() == static_cast<size_t>(w.layout.data_bytes()));
    REQUIRE(w.layout.data_bytes() * 8 == int64_t{w.layout.rows_pad()} * w.layout.cols_pad() * bits);
    std::vector<int8_t> q2(q.size());
    std::vector<float> s2(s.size());
    unpack_weights(w, q2.data(), s2.data());
    REQUIRE(q2 == q);
    REQUIRE(s2 == s);
    // Padding holds q = 0.
    std::vector<int8_t> panel(static_cast<size_t>(kPanelRows) * w.layout.cols_pad());
    unpack_panel(w.layout, w.data.data() + (w.layout.panels() - 1) * w.layout.panel_bytes(),
                 panel.data());
    if (rows % kPanelRows || w.layout.cols_pad() != cols) REQUIRE(panel.back() == 0);
  }
}

TEST_CASE("quantize_pack uses the shared quantizer, with absmax or given scales", "[pack]") {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int bits = GENERATE(2, 3, 4, 6, 8);
  const int group = GENERATE(0, 32);
  const int rows = 5, cols = 70;
  std::vector<float> w(rows * cols);
  for (auto& x : w) x = d(rng);
  const PackedWeights p = quantize_pack(w.data(), rows, cols, bits, group);
  const int groups = group ? (cols + group - 1) / group : 1;
  std::vector<int8_t> q(w.size());
  std::vector<float> s(static_cast<size_t>(rows) * groups);
  unpack_weights(p, q.data(), s.data());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const int g = group ? c / group : 0;
      const int n = group ? std::min(group, cols - g * group) : cols;
      const float scale = absmax_scale(&w[r * cols + g * (group ? group : 0)], n, bits);
      REQUIRE(s[r * groups + g] == scale);
      REQUIRE(q[r * cols + c] == quantize_value(w[r * cols + c], scale, bits));
    }
  // Given scales are used as they are (LSQ scales from QAT can make q hit qmin).
  std::vector<float> given(s.size(), 0.1f);
  const PackedWeights p2 = quantize_pack(w.data(), rows, cols, bits, group, given.data());
  unpack_weights(p2, q.data(), s.data());
  REQUIRE(s == given);
  for (int i = 0; i < rows * cols; ++i) REQUIRE(q[i] == quantize_value(w[i], 0.1f, bits));
  std::vector<float> deq(w.size());
  dequantize_weights(p2, deq.data());
  for (int i = 0; i < rows * cols; ++i) REQUIRE(deq[i] == 0.1f * static_cast<float>(q[i]));
}

TEST_CASE("packed weights rebuild from model-file buffers and reject mismatches", "[pack]") {
  std::mt19937 rng(3);
  const PackedWeights w = test::random_weights(rng, 40, 96, 3, 32);
  PackedWeights back;
  std::string err;
  REQUIRE(packed_from_buffers(w.layout, w.data.data(), w.layout.data_bytes(), w.scales.data(),
                              w.layout.scale_count(), &back, &err));
  REQUIRE(std::memcmp(back.data.data(), w.data.data(), w.data.size()) == 0);
  REQUIRE_FALSE(packed_from_buffers(w.layout, w.data.data(), w.layout.data_bytes() - 1,
                                    w.scales.data(), w.layout.scale_count(), &back, &err));
  REQUIRE(err.find("bytes") != std::string::npos);
  PackedLayout bad = w.layout;
  bad.w_bits = 5;
  REQUIRE_FALSE(packed_from_buffers(bad, w.data.data(), w.layout.data_bytes(), w.scales.data(),
                                    w.layout.scale_count(), &back, &err));
  REQUIRE(err.find("w_bits 5") != std::string::npos);
}

TEST_CASE("binary16 conversion rounds to nearest even and round-trips every half", "[pack]") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (f != f) continue;  // NaN
    REQUIRE(float_to_half(f) == h);
  }
  REQUIRE(float_to_half(65520.0f) == 0x7c00);  // tie above the largest half -> inf
  REQUIRE(float_to_half(65519.0f) == 0x7bff);
  REQUIRE(float_to_half(1.0f + 1.0f / 2048) == 0x3c00);  // tie to even
  REQUIRE(float_to_half(1.0f + 3.0f / 2048) == 0x3c02);
  REQUIRE(float_to_half(2.9802322e-8f) == 0);  // 2^-25: tie to even zero
  REQUIRE(float_to_half(-1e-30f) == 0x8000);
}
