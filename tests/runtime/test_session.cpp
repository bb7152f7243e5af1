// The runtime's forward: KV-cache decode equals a full recompute, chunked prefill equals one
// chunk, baselines and quantized models agree with FP32 as closely as their precision allows,
// decode allocates nothing, memory accounting and error handling.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "runtime/bench.h"
#include "runtime/session.h"
#include "tests/runtime/runtime_test_util.h"

namespace hilq::runtime {
namespace test {
long allocation_count();  // alloc_counter.cpp
}
namespace {

using test::TestModel;

struct Case {
  const char* name;
  test::Uniform q;
};

std::vector<Case> uniform_cases() {
  std::vector<Case> c;
  c.push_back({"FP32", {}});
  c.push_back({"W8A8", {8, 8, 0, false, 0.5, false, false}});
  c.push_back({"W4A8", {4, 8, 0, false, 0.5, false, false}});
  c.push_back({"W4A4", {4, 4, 0, false, 0.5, false, false}});
  c.push_back({"W4A8g32", {4, 8, 32, false, 0.5, false, false}});
  c.push_back({"W8A8 dynamic", {8, 8, 0, false, 0.5, true, false}});
  c.push_back({"W3A8 + int8 embedding", {3, 8, 0, false, 0.5, false, true}});
  c.push_back({"W2A8g64", {2, 8, 64, false, 0.5, false, false}});
  c.push_back({"W6A4", {6, 4, 0, false, 0.5, false, false}});
  c.push_back({"W4A4-E4 (int8 head input)", {4, 4, 0, false, 0.5, false, true}});
  return c;
}

// Tolerance of cache-vs-recompute: the integer sums are exact, but GEMM and GEMV kernels may
// apply the float scales in a different order (last-ulp differences) and an activation code at
// a rounding boundary can then flip by one step.
constexpr double kCacheTol = 2e-3;

TEST_CASE("KV-cache decode equals a full recompute for every uniform config",
          "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  for (const Case& c : uniform_cases()) {
    CAPTURE(c.name);
    TestModel tm;
    tm.q = c.q;
    const Model m = test::make_model(tm);
    const int n = 24, V = m.arch().vocab_size;
    const auto ids = bench_prompt(n, V, 17);
    SessionOptions so;
    so.all_logits = true;
    Session full(m, ctx, so);
    const std::span<const float> ref = full.prefill(ids, true);
    Session inc(m, ctx);
    std::span<const float> out = inc.prefill(std::span<const int32_t>(ids.data(), 5));
    CHECK(test::rel_diff(out.data(), ref.data() + 4 * V, static_cast<size_t>(V)) < kCacheTol);
    for (int t = 5; t < n; ++t) {
      out = inc.decode(ids[static_cast<size_t>(t)]);
      CAPTURE(t);
      CHECK(test::rel_diff(out.data(), ref.data() + int64_t{t} * V, static_cast<size_t>(V)) <
            kCacheTol);
      CHECK(argmax(out.data(), V) == argmax(ref.data() + int64_t{t} * V, V));
    }
  }
}

TEST_CASE("with token-adaptive bits, decode equals a recompute that replays its decisions",
          "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  TestModel tm;
  tm.q = {4, 4, 0, true, 0.5, false, true};  // W4A4-TA8/4-E4: the head reads int8
  tm.layers = 3;
  const Model m = test::make_model(tm);
  const int n = 20, V = m.arch().vocab_size;
  const auto ids = bench_prompt(n, V, 23);
  Session inc(m, ctx);
  inc.prefill(std::span<const int32_t>(ids.data(), 6));
  std::vector<std::vector<float>> logits;
  for (int t = 6; t < n; ++t) {
    const auto out = inc.decode(ids[static_cast<size_t>(t)]);
    logits.emplace_back(out.begin(), out.end());
  }
  std::vector<std::vector<uint8_t>> masks(3, std::vector<uint8_t>(n));
  int low = 0;
  for (int l = 0; l < 3; ++l) {
    for (int t = 0; t < n; ++t) {
      masks[static_cast<size_t>(l)][static_cast<size_t>(t)] = inc.token_high(l, t);
      low += !inc.token_high(l, t);
    }
  }
  CHECK(low > 0);
  SessionOptions so;
  so.all_logits = true;
  Session full(m, ctx, so);
  full.force_masks(masks);
  const auto ref = full.prefill(ids, true);
  for (int t = 6; t < n; ++t) {
    CAPTURE(t);
    const auto& got = logits[static_cast<size_t>(t - 6)];
    CHECK(test::rel_diff(got.data(), ref.data() + int64_t{t} * V, static_cast<size_t>(V)) <
          kCacheTol);
  }
}

// Threads for the multi-threaded checks: $HILQ_TEST_THREADS (the cross build sets 1: this
// machine's qemu-aarch64 7.2 hangs in pthread_create), else 2.
int test_threads() {
  const char* v = std::getenv("HILQ_TEST_THREADS");
  return v && *v ? std::max(1, std::atoi(v)) : 2;
}

TEST_CASE("a prompt prefilled in chunks equals one chunk (uniform bits)", "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  TestModel tm;
  tm.q = {4, 8, 0, false, 0.5, false, false};
  const Model m = test::make_model(tm);
  const auto ids = bench_prompt(30, m.arch().vocab_size, 5);
  Session one(m, ctx);
  const auto a = one.prefill(ids);
  const std::vector<float> want(a.begin(), a.end());
  SessionOptions so;
  so.max_chunk = 7;
  Session chunked(m, ctx, so);
  const auto b = chunked.prefill(ids);
  CHECK(test::rel_diff(b.data(), want.data(), want.size()) < kCacheTol);
  CHECK(chunked.position() == 30);
}

TEST_CASE("splitting matmuls and attention over threads does not change the logits",
          "[runtime][session]") {
  TestModel tm;
  tm.q = {4, 4, 0, true, 0.5, false, false};
  tm.max_seq = 128;
  const Model m = test::make_model(tm);
  const auto ids = bench_prompt(120, m.arch().vocab_size, 8);
  SessionOptions so;
  so.all_logits = true;
  kernels::Context c1(kernels::ContextOptions{1, "", ""});
  Session s1(m, c1, so);
  const auto a = s1.prefill(ids, true);
  const std::vector<float> want(a.begin(), a.end());
  kernels::Context cn(kernels::ContextOptions{test_threads(), "", ""});
  Session sn(m, cn, so);
  const auto b = sn.prefill(ids, true);
  CAPTURE(test_threads());
  CHECK(std::vector<float>(b.begin(), b.end()) == want);
}

TEST_CASE("a decode step split over threads (heads of attention too) equals one thread",
          "[runtime][session]") {
  // Over 1,024 keys x 64 a decode step's attention has enough work to go to both threads.
  for (const bool quantized : {true, false}) {
    CAPTURE(quantized);
    TestModel tm;
    if (quantized) tm.q = {4, 8, 0, false, 0.5, false, true};
    tm.max_seq = 1100;
    const Model m = test::make_model(tm);
    const auto ids = bench_prompt(1030, m.arch().vocab_size, 12);
    kernels::Context c1(kernels::ContextOptions{1, "", ""});
    kernels::Context cn(kernels::ContextOptions{test_threads(), "", ""});
    Session s1(m, c1), sn(m, cn);
    s1.prefill(std::span<const int32_t>(ids.data(), 1025));
    sn.prefill(std::span<const int32_t>(ids.data(), 1025));
    for (size_t t = 1025; t < ids.size(); ++t) {
      const auto a = s1.decode(ids[t]);
      const std::vector<float> want(a.begin(), a.end());
      const auto b = sn.decode(ids[t]);
      CAPTURE(t);
      CHECK(std::vector<float>(b.begin(), b.end()) == want);
    }
  }
}

TEST_CASE("baselines and quantized models stay close to FP32", "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  const auto ids = bench_prompt(16, 61, 9);
  auto last_logits = [&](const TestModel& tm, const LoadOptions& o) {
    const Model m = test::make_model(tm, o);
    Session s(m, ctx);
    const auto out = s.prefill(ids);
    return std::vector<float>(out.begin(), out.end());
  };
  const auto fp32 = last_logits(TestModel{}, {});
  const auto fp16 = last_logits(TestModel{}, test::load_options(WeightsMode::kFp16));
  const auto unfused = last_logits(TestModel{}, test::load_options(WeightsMode::kAsStored, false));
  TestModel w8;
  w8.q = {8, 8, 0, false, 0.5, true, false};
  const auto w8a8 = last_logits(w8, {});
  // fp16 storage rounds weights to 11 significant bits; W8A8 keeps ~7 bits of each operand.
  CHECK(test::rel_diff(fp16.data(), fp32.data(), fp32.size()) < 5e-3);
  CHECK(test::rel_diff(unfused.data(), fp32.data(), fp32.size()) < 1e-5);
  CHECK(test::rel_diff(w8a8.data(), fp32.data(), fp32.size()) < 0.1);
  CHECK(argmax(w8a8.data(), 61) == argmax(fp32.data(), 61));
}

TEST_CASE("decode allocates nothing", "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  for (const Case& c : uniform_cases()) {
    CAPTURE(c.name);
    TestModel tm;
    tm.q = c.q;
    const Model m = test::make_model(tm);
    Session s(m, ctx);
    const auto ids = bench_prompt(8, 61, 1);
    auto out = s.prefill(ids);
    out = s.decode(3);  // first use of the GEMV path may size thread-local scratch
    const long before = test::allocation_count();
    for (int i = 0; i < 20; ++i) out = s.decode(argmax(out.data(), 61));
    const long during = test::allocation_count() - before;
    CHECK(during == 0);
  }
}

TEST_CASE("memory accounting: int8 KV cache for quantized K/V, float otherwise",
          "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  TestModel tm;
  const Model fp = test::make_model(tm);
  tm.q = {4, 8, 0, false, 0.5, false, false};
  const Model q = test::make_model(tm);
  Session a(fp, ctx), b(q, ctx);
  const int64_t N = 32, d = 64, L = 2;
  CHECK(a.memory().kv_cache_bytes == L * 2 * N * d * 4);
  CHECK(b.memory().kv_cache_bytes == L * 2 * (N * d + N * 4));
  CHECK(b.memory().weight_bytes == q.weight_bytes());
  CHECK(q.weight_bytes() < fp.weight_bytes());
  CHECK(a.memory().arena_bytes > 0);
}

TEST_CASE("bad ids, a full context and the wrong model kind are errors", "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  const Model m = test::make_model(TestModel{});
  Session s(m, ctx);
  const std::vector<int32_t> bad{1, 61};
  CHECK_THROWS_WITH(s.prefill(bad), Catch::Contains("outside the vocabulary"));
  CHECK(s.position() == 0);
  const auto ids = bench_prompt(32, 61, 2);
  s.prefill(ids);
  CHECK_THROWS_WITH(s.decode(1), Catch::Contains("context full"));
  CHECK_THROWS_AS(s.classify(ids), RuntimeError);
  CHECK_THROWS_WITH(s.prefill(std::vector<int32_t>{}), Catch::Contains("empty"));
}

TEST_CASE("the classifier returns class probabilities, quantized close to float",
          "[runtime][session]") {
  kernels::Context ctx(kernels::ContextOptions{1, "", ""});
  TestModel tm;
  tm.classifier = true;
  const Model fp = test::make_model(tm);
  tm.q = {8, 8, 0, false, 0.5, false, false};
  const Model q = test::make_model(tm);
  Session a(fp, ctx), b(q, ctx);
  const auto ids = bench_prompt(20, 61, 4);
  const auto pa = a.classify(ids);
  const std::vector<float> first(pa.begin(), pa.end());
  REQUIRE(first.size() == 3);
  CHECK(first[0] + first[1] + first[2] == Approx(1.0f).epsilon(1e-5));
  const auto again = a.classify(ids);  // the cache is reset per sequence
  CHECK(std::vector<float>(again.begin(), again.end()) == first);
  const auto pb = b.classify(ids);
  for (size_t c = 0; c < 3; ++c) CHECK(pb[c] == Approx(first[c]).margin(0.05));
  CHECK_THROWS_AS(a.prefill(ids), RuntimeError);
}

}  // namespace
}  // namespace hilq::runtime
