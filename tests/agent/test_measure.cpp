// Latency statistics of the agent against hand-computed values.
#include <catch2/catch.hpp>

#include "agent/measure.h"

TEST_CASE("Latency statistics match hand-computed order statistics", "[measure]") {
  const auto s = hilq::agent::latency_stats({5, 1, 4, 2, 3, 100, 6, 7, 8, 9, 10});
  CHECK(s.count == 11);
  CHECK(s.median_ns == Approx(6));
  CHECK(s.min_ns == 1);
  CHECK(s.max_ns == 100);
  CHECK(s.p10_ns == Approx(2));   // position 1.0 of 0..10
  CHECK(s.p90_ns == Approx(10));  // position 9.0
  CHECK(s.mad_ns == Approx(3));   // |x-6| sorted: 0 1 1 2 2 3 3 4 4 5 94 -> 3
  CHECK(s.mean_ns == Approx(155.0 / 11));
  const auto empty = hilq::agent::latency_stats({});
  CHECK(empty.count == 0);
}

TEST_CASE("Peak RSS grows when the process touches more memory", "[measure]") {
  const bool reset = hilq::agent::reset_peak_rss();
  const auto before = hilq::agent::read_peak_rss(reset);
  std::vector<char> block(64 << 20, 1);
  const auto after = hilq::agent::read_peak_rss(reset);
  CHECK(block[12345] == 1);
  CHECK(after.bytes >= before.bytes + (60 << 20));
  CHECK(hilq::agent::online_cores() >= 1);
  CHECK(hilq::agent::total_memory_bytes() > (64 << 20));
}
