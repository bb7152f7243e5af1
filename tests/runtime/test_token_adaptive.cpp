// Squat's token-adaptive activation bits in the runtime: the QAT engine's prefill rule (top
// ceil(f n) by attention to the first token, ties to the earlier token, layer 0 all high), the
// decode rule of doc/token_adaptive.md, and that the decisions reach the kernels.
#include <catch2/catch.hpp>

#include "runtime/act_quant.h"
#include "runtime/bench.h"
#include "runtime/session.h"
#include "tests/runtime/runtime_test_util.h"

namespace hilq::runtime {
namespace {

test::TestModel adaptive_model(double fraction) {
  test::TestModel m;
  m.q.w_bits = 4;
  m.q.a_bits = 4;
  m.q.adaptive = true;
  m.q.fraction = fraction;
  m.layers = 3;
  return m;
}

TEST_CASE("high_count rounds up like the QAT engine", "[runtime][adaptive]") {
  CHECK(high_count(0.5, 5) == 3);
  CHECK(high_count(0.5, 4) == 2);
  CHECK(high_count(0.3, 10) == 3);  // 0.3 * 10 is 3.0000000000000004 in double
  CHECK(high_count(0.0, 7) == 0);
  CHECK(high_count(1.0, 7) == 7);
  CHECK(high_count(0.5, 1) == 1);
}

TEST_CASE("the prefill rule keeps the top scores and breaks ties toward earlier tokens",
          "[runtime][adaptive]") {
  const float s[5] = {0.1f, 0.5f, 0.5f, 0.2f, 0.9f};
  uint8_t h[5];
  top_fraction_mask(s, 5, 0.5, h);
  CHECK(std::vector<uint8_t>(h, h + 5) == std::vector<uint8_t>{0, 1, 1, 0, 1});
  top_fraction_mask(s, 5, 0.4, h);  // two: 0.9, then the earlier 0.5
  CHECK(std::vector<uint8_t>(h, h + 5) == std::vector<uint8_t>{0, 1, 0, 0, 1});
  const float ties[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  top_fraction_mask(ties, 4, 0.5, h);
  CHECK(std::vector<uint8_t>(h, h + 4) == std::vector<uint8_t>{1, 1, 0, 0});
  top_fraction_mask(s, 5, 0.0, h);
  CHECK(std::vector<uint8_t>(h, h + 5) == std::vector<uint8_t>{0, 0, 0, 0, 0});
}

TEST_CASE("the decode rule compares a new score with the quantile of the scores so far",
          "[runtime][adaptive]") {
  // Seen (new one last): 5 scores, fraction 0.5 -> the 3 largest are high.
  const float a[5] = {0.9f, 0.1f, 0.5f, 0.3f, 0.4f};
  CHECK(decode_high(a, 5, 0.4f, 0.5));  // above it: 0.9, 0.5
  const float b[5] = {0.9f, 0.1f, 0.5f, 0.3f, 0.2f};
  CHECK_FALSE(decode_high(b, 5, 0.2f, 0.5));  // above it: 0.9, 0.5, 0.3
  const float c[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  CHECK(decode_high(c, 4, 0.5f, 0.5));  // "at or above": ties are high
  const float d[1] = {0.0f};
  CHECK(decode_high(d, 1, 0.0f, 0.5));  // the first token of a sequence is high
  CHECK_FALSE(decode_high(d, 1, 0.0f, 0.0));
}

TEST_CASE("prefill and decode decisions follow the rules in every layer; layer 0 runs high",
          "[runtime][adaptive]") {
  const Model m = test::make_model(adaptive_model(0.5));
  REQUIRE(m.policy().any_adaptive);
  const Layer& L0 = m.layers()[0];
  for (const ActQuant* p :
       {&L0.qkv_in, &L0.q_out, &L0.k_out, &L0.v_out, &L0.o_in, &L0.gate_up_in, &L0.down_in}) {
    CHECK(p->bits == 8);
    CHECK_FALSE(p->adaptive());
  }
  CHECK(m.layers()[1].qkv_in.adaptive());
  CHECK(m.layers()[1].qkv_in.prev_mask);
  CHECK_FALSE(m.layers()[1].v_out.prev_mask);
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  Session s(m, ctx);
  const int n = 13;
  const auto prompt = bench_prompt(n, m.arch().vocab_size, 11);
  auto logits = s.prefill(prompt);
  for (int l = 0; l < 3; ++l) {
    CAPTURE(l);
    std::vector<float> score(n);
    int high = 0;
    for (int t = 0; t < n; ++t) {
      score[static_cast<size_t>(t)] = s.token_score(l, t);
      high += s.token_high(l, t);
    }
    CHECK(high == high_count(0.5, n));
    std::vector<uint8_t> want(n);
    top_fraction_mask(score.data(), n, 0.5, want.data());
    for (int t = 0; t < n; ++t) CHECK(s.token_high(l, t) == (want[static_cast<size_t>(t)] != 0));
    CHECK(s.token_score(l, 0) == 1.0f);  // the first token attends only to itself
  }
  for (int i = 0; i < 8; ++i) {
    logits = s.decode(argmax(logits.data(), m.arch().vocab_size));
    const int t = s.position() - 1;
    for (int l = 0; l < 3; ++l) {
      std::vector<float> seen(static_cast<size_t>(t + 1));
      for (int j = 0; j <= t; ++j) seen[static_cast<size_t>(j)] = s.token_score(l, j);
      CHECK(s.token_high(l, t) == decode_high(seen.data(), t + 1, seen.back(), 0.5));
    }
  }
}

TEST_CASE(
    "the decisions reach the kernels: fraction 1 runs only A8, fraction 0 runs A4 past layer 0",
    "[runtime][adaptive]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  const auto prompt = bench_prompt(9, 61, 3);
  auto kernels_of = [&](double f) {
    const Model m = test::make_model(adaptive_model(f));
    Session s(m, ctx);
    s.prefill(prompt);
    s.decode(5);
    return s.kernels_joined();
  };
  const std::string all_high = kernels_of(1.0), all_low = kernels_of(0.0), half = kernels_of(0.5);
  CAPTURE(all_high, all_low, half);
  CHECK(all_high.find("w4a4") == std::string::npos);
  CHECK(all_high.find("w4a8") != std::string::npos);
  CHECK(all_low.find("w4a4") != std::string::npos);
  CHECK(all_low.find("w4a8") != std::string::npos);  // layer 0
  CHECK(half.find("w4a4") != std::string::npos);
}

}  // namespace
}  // namespace hilq::runtime
