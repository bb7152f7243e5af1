// Host scoring on the micro LM: score_lm against a plain per-row oracle (within the float exp's
// error; bit for bit across thread counts and with or without the reference's cached
// probabilities), the log-softmax paths, the PTQ step cache, and bench_scoring's rows.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "kernels/isa.h"
#include "kernels/mkmp.h"
#include "qat/checkpoint.h"
#include "qat/data.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "search/log_softmax.h"
#include "search/scorer.h"
#include "search/scoring_bench.h"
#include "tests/search/micro_lm.h"

namespace fs = std::filesystem;
using namespace hilq;
using search::testing::micro_lm_path;

namespace {

// Random windows of the model's vocabulary.
search::TokenWindows random_windows(int count, int seq, int vocab, uint32_t seed) {
  search::TokenWindows w{"test", seq, {}};
  std::mt19937 rng(seed);
  for (int i = 0; i < count * (seq + 1); ++i)
    w.tokens.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  return w;
}

// score_lm as first written: one session, window by window, row by row, every sum in order, the
// Prefills each window with all logits on one thread and hands every position to `at(pos, logits,
// next id)`, which returns the next token's log-probability and the position's KL term; the sums
// run in window and token order, as score_lm's do.
template <class At>
search::LmScore score_positions(const runtime::Model& model, const search::TokenWindows& windows,
                                bool with_kl, At at) {
  const int n = windows.count(), seq = windows.seq;
  const auto row = static_cast<size_t>(model.arch().vocab_size);
  kernels::ContextOptions co;
  co.threads = 1;
  kernels::Context ctx(co);
  runtime::SessionOptions so;
  so.max_context = seq;
  so.all_logits = true;
  runtime::Session session(model, ctx, so);
  double nll_sum = 0, kl_sum = 0;
  for (int w = 0; w < n; ++w) {
    const int32_t* ids = windows.tokens.data() + static_cast<size_t>(w) * (seq + 1);
    session.reset();
    const auto logits = session.prefill({ids, static_cast<size_t>(seq)}, true);
    double nll = 0, kl = 0;
    for (int t = 0; t < seq; ++t) {
      const size_t pos = static_cast<size_t>(w) * seq + static_cast<size_t>(t);
      const auto [logprob, k] = at(pos, logits.data() + static_cast<size_t>(t) * row, ids[t + 1]);
      nll -= logprob;
      kl += k;
    }
    nll_sum += nll;
    kl_sum += kl;
  }
  const double positions = static_cast<double>(n) * seq;
  return {std::exp(nll_sum / positions), with_kl ? kl_sum / positions : 0.0, {}};
}

// log-softmax with glibc's double exp (scorer version 1).
search::LmScore oracle(const runtime::Model& model, const search::TokenWindows& windows,
                       const std::vector<float>* ref, std::vector<float>* out) {
  const int vocab = model.arch().vocab_size;
  const auto row = static_cast<size_t>(vocab);
  if (out) out->assign(static_cast<size_t>(windows.count()) * windows.seq * row, 0);
  std::vector<float> lp(row);
  return score_positions(model, windows, ref != nullptr,
                         [&](size_t pos, const float* x, int32_t next) {
                           float* dst = out ? out->data() + pos * row : lp.data();
                           double max = x[0];
                           for (int i = 1; i < vocab; ++i) max = std::max<double>(max, x[i]);
                           double sum = 0;
                           for (int i = 0; i < vocab; ++i)
                             sum += std::exp(static_cast<double>(x[i]) - max);
                           const double lse = max + std::log(sum);
                           for (int i = 0; i < vocab; ++i)
                             dst[i] = static_cast<float>(static_cast<double>(x[i]) - lse);
                           double k = 0;
                           if (ref) {
                             const float* r = ref->data() + pos * row;
                             for (size_t v = 0; v < row; ++v)
                               k += std::exp(static_cast<double>(r[v])) * (r[v] - dst[v]);
                           }
                           return std::pair<double, double>{dst[next], k};
                         });
}

// score_lm's arithmetic written plainly (its own code before the KL rows went to SIMD paths and
// the reference was prefetched): the portable log-softmax, each KL row one scalar sum in
// vocabulary order, the window's sums in token order. score_lm must give these bits: the scores
// cached under kScorerVersion depend on them.
search::LmScore plain(const runtime::Model& model, const search::TokenWindows& windows,
                      const std::vector<float>* ref, const std::vector<float>* probs) {
  const int vocab = model.arch().vocab_size;
  const auto row = static_cast<size_t>(vocab);
  std::vector<float> lp(row);
  return score_positions(
      model, windows, ref != nullptr, [&](size_t pos, const float* x, int32_t next) {
        search::log_softmax(search::log_softmax_portable(), x, vocab, lp.data());
        double k = 0;
        if (ref) {
          const float* r = ref->data() + pos * row;
          for (size_t v = 0; v < row; ++v) {
            const float p = probs ? (*probs)[pos * row + v]
                                  : static_cast<float>(std::exp(static_cast<double>(r[v])));
            k += static_cast<double>(p) * (r[v] - lp[v]);
          }
        }
        return std::pair<double, double>{lp[static_cast<size_t>(next)], k};
      });
}

runtime::Model load(const std::string& setting) {
  runtime::LoadOptions lo;
  if (setting == "FP32")
    lo.weights = runtime::WeightsMode::kFp32;
  else
    lo.setting = model::Setting::parse(setting);
  return runtime::Model::load(micro_lm_path(), lo);
}

}  // namespace

// The scorer's log-softmax (log_softmax.h) sums float exp_poly terms (about 1 ulp, 1.2e-7
// relative, plus the rounding of x - max to float: 6e-8 x |x - max| relative, on terms that
// weigh e^-|x - max|) in double, so its log-sum-exp is within a few 1e-7 of the exact one; each
// log-probability is then rounded to float (0.5 ulp of |out|, 6e-8 relative) as the oracle's
// is. A log-probability may thus differ from the oracle's by ~3e-7 + 1.2e-7 |out|; an NLL or KL
// average of such shifts by at most the same absolute amount, so 2e-6 (relative for perplexity,
// absolute for KL) is a safe bound that a real change of the arithmetic would still break.
constexpr double kOracleTolerance = 2e-6;

TEST_CASE("score_lm matches the per-row oracle within the float exp's error at every thread count",
          "[search][scoring]") {
  const runtime::Model fp = load("FP32");
  const int seq = fp.arch().max_seq;
  // 5 windows: uneven over 2 and 3 threads; a seq not a multiple of the 4 KL rows summed together.
  const search::TokenWindows w = random_windows(5, seq - 1, fp.arch().vocab_size, 3);
  std::vector<float> ref, ref_oracle, ref3;
  const search::LmScore f = search::score_lm(fp, w, 2, nullptr, &ref);
  const search::LmScore fo = oracle(fp, w, nullptr, &ref_oracle);
  CHECK(std::fabs(f.perplexity / fo.perplexity - 1) <= kOracleTolerance);
  REQUIRE(ref.size() == ref_oracle.size());
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::fabs(double{ref[i]} - ref_oracle[i]) /
                                (3e-7 + 1.2e-7 * std::fabs(ref_oracle[i])));
  CHECK(worst <= 1.0);
  // Bit for bit at another thread count.
  search::score_lm(fp, w, 3, nullptr, &ref3);
  CHECK(ref3 == ref);
  const std::vector<float> probs = search::reference_probabilities(ref);
  for (const char* setting : {"W4A8", "W4A4-TA8/4", "W8A8-E8"}) {
    INFO(setting);
    const runtime::Model m = load(setting);
    const search::LmScore want = oracle(m, w, &ref, nullptr);
    REQUIRE(want.output_kl > 0);
    const search::LmScore one = search::score_lm(m, w, 1, &ref);
    CHECK(std::fabs(one.perplexity / want.perplexity - 1) <= kOracleTolerance);
    CHECK(std::fabs(one.output_kl - want.output_kl) <= kOracleTolerance);
    for (int threads : {1, 2, 3}) {
      INFO(threads << " threads");
      const search::LmScore a = search::score_lm(m, w, threads, &ref);
      const search::LmScore b = search::score_lm(m, w, threads, &ref, nullptr, &probs);
      CHECK(a.perplexity == one.perplexity);
      CHECK(a.output_kl == one.output_kl);
      CHECK(b.perplexity == one.perplexity);
      CHECK(b.output_kl == one.output_kl);
    }
  }
  // The same bits as the plain computation, with 33 and 63 tokens per window (a last KL group of 1
  // and of 7 rows).
  for (const int s : {33, 63}) {
    INFO(s << " tokens per window");
    const search::TokenWindows ws = random_windows(3, s, fp.arch().vocab_size, 5);
    std::vector<float> lp;
    const search::LmScore fs = search::score_lm(fp, ws, 1, nullptr, &lp);
    CHECK(fs.perplexity == plain(fp, ws, nullptr, nullptr).perplexity);
    const std::vector<float> p = search::reference_probabilities(lp);
    for (const char* setting : {"W4A8", "W4A4-TA8/4", "W8A8-E8"}) {
      INFO(setting);
      const runtime::Model m = load(setting);
      const search::LmScore want = plain(m, ws, &lp, &p);
      REQUIRE(want.output_kl > 0);
      for (const std::vector<float>* with : {&p, static_cast<const std::vector<float>*>(nullptr)}) {
        const search::LmScore got = search::score_lm(m, ws, 2, &lp, nullptr, with);
        CHECK(got.perplexity == want.perplexity);
        CHECK(got.output_kl == want.output_kl);
      }
    }
  }
  std::vector<float> short_probs(probs.begin(), probs.end() - 1);
  CHECK_THROWS_WITH(search::score_lm(fp, w, 1, &ref, nullptr, &short_probs),
                    Catch::Contains("reference probabilities do not match"));
}

TEST_CASE("every log-softmax path gives the portable one's bits, within 3e-7 of the exact one",
          "[search][scoring]") {
  namespace k = kernels;
  const k::CpuFeatures& f = k::cpu_features();
  std::vector<const search::LogSoftmaxOps*> paths{&search::log_softmax_portable()};
  for (k::Isa isa : {k::Isa::kAvx2, k::Isa::kAvx512Vnni})
    if (k::isa_compiled(isa) && k::isa_supported(isa, f)) {
      paths.push_back(&search::log_softmax_ops(static_cast<int>(isa)));
      // A compiled path the CPU has must not fall back to a lower one.
      CHECK(paths.back()->name == std::string(isa == k::Isa::kAvx2 ? "avx2" : "avx512"));
    }
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0.0f, 4.0f);
  for (int n : {1, 2, 7, 8, 15, 16, 17, 31, 33, 100, 4096, 4099}) {
    CAPTURE(n);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = d(rng);
    if (n > 2) x[1] = x[0] - 120.0f;  // below exp_poly's clamp: a term of ~1e-39, not 0
    double max = x[0];
    for (float v : x) max = std::max<double>(max, v);
    double sum = 0;
    for (float v : x) sum += std::exp(double{v} - max);
    const double lse = max + std::log(sum);
    std::vector<float> want(x.size());
    search::log_softmax(search::log_softmax_portable(), x.data(), n, want.data());
    for (int i = 0; i < n; ++i) {
      const double exact = double{x[static_cast<size_t>(i)]} - lse;
      CAPTURE(i, exact);
      REQUIRE(std::fabs(want[static_cast<size_t>(i)] - exact) <= 3e-7 + 1.2e-7 * std::fabs(exact));
    }
    for (const auto* ops : paths) {
      CAPTURE(ops->name);
      std::vector<float> got(x.size(), 5.0f);
      search::log_softmax(*ops, x.data(), n, got.data());
      CHECK(got == want);
    }
  }
  // Signed zeros as the maximum, a NaN past the first element (skipped by the maximum, NaN in
  // its own output), -inf and a NaN first (every output NaN): the same bits on every path.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> rows;
  rows.emplace_back(37, -0.0f);
  for (size_t i = 0; i < rows[0].size(); i += 3) rows[0][i] = 0.0f;
  rows.emplace_back(21, -1.5f);
  rows[1][5] = nan;
  rows[1][9] = -inf;
  rows[1][20] = 2.0f;
  rows.emplace_back(19, 1.0f);
  rows[2][0] = nan;
  rows.push_back({-0.0f, 0.0f, -0.0f});
  // Longer rows: a NaN starting one of the maximum's 8 lanes hides that lane's later values (here
  // the largest, at 11), NaNs further in, signed zeros as the maximum, a NaN first.
  rows.emplace_back(130, -2.0f);
  rows.back()[3] = nan;
  rows.back()[11] = 7.0f;
  rows.back()[77] = 3.0f;
  rows.emplace_back(200, -2.0f);
  rows.back()[40] = nan;
  rows.back()[150] = 1.0f;
  rows.emplace_back(100, -2.0f);
  rows.back()[90] = nan;
  rows.back()[65] = 4.0f;
  rows.emplace_back(200, -1.0f);
  for (size_t i = 0; i < 200; i += 7) rows.back()[i] = i % 2 ? 0.0f : -0.0f;
  rows.emplace_back(64, 1.0f);
  rows.back()[0] = nan;
  for (const auto& x : rows) {
    CAPTURE(x.size());
    const int n = static_cast<int>(x.size());
    std::vector<float> want(x.size());
    search::log_softmax(search::log_softmax_portable(), x.data(), n, want.data());
    // The maximum itself: a NaN in the row makes every output NaN whatever the maximum was, so
    // the outputs alone would not see a path that skips NaNs differently.
    const float want_max = search::log_softmax_portable().max(x.data(), n);
    for (const auto* ops : paths) {
      CAPTURE(ops->name);
      const float got_max = ops->max(x.data(), n);
      CHECK(std::memcmp(&got_max, &want_max, sizeof(float)) == 0);
      std::vector<float> got(x.size(), 5.0f);
      search::log_softmax(*ops, x.data(), n, got.data());
      CHECK(std::memcmp(got.data(), want.data(), x.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("every KL path gives the plain row sums' bits", "[search][scoring]") {
  namespace k = kernels;
  const k::CpuFeatures& f = k::cpu_features();
  std::vector<const search::LogSoftmaxOps*> paths{&search::log_softmax_portable()};
  for (k::Isa isa : {k::Isa::kAvx2, k::Isa::kAvx512Vnni})
    if (k::isa_compiled(isa) && k::isa_supported(isa, f))
      paths.push_back(&search::log_softmax_ops(static_cast<int>(isa)));
  std::mt19937 rng(4);
  std::normal_distribution<float> d(-8.0f, 6.0f);
  for (int n : {1, 3, 4, 7, 8, 9, 15, 16, 17, 100, 4096, 4099}) {
    CAPTURE(n);
    std::vector<std::vector<float>> ref(8), p(8), dst(8);
    for (int r = 0; r < 8; ++r) {
      for (int i = 0; i < n; ++i) {
        ref[r].push_back(d(rng));
        p[r].push_back(static_cast<float>(std::exp(static_cast<double>(ref[r].back()))));
        dst[r].push_back(d(rng));
      }
      // Terms whose sums depend on the order: tiny and huge magnitudes, a subnormal weight, zeros.
      if (n > 3) {
        p[r][1] = 1e-40f;
        p[r][2] = 0.0f;
        dst[r][3] = -3e4f;
        p[r][3] = 1.0f;
      }
    }
    const float* rp[8];
    const float* pp[8];
    const float* dp[8];
    double want[8];
    for (int r = 0; r < 8; ++r) {
      rp[r] = ref[r].data();
      pp[r] = p[r].data();
      dp[r] = dst[r].data();
      want[r] = 0;
      for (int i = 0; i < n; ++i)
        want[r] += static_cast<double>(p[r][i]) * static_cast<double>(ref[r][i] - dst[r][i]);
    }
    for (const auto* ops : paths) {
      CAPTURE(ops->name);
      double got[8];
      ops->kl8(rp, pp, dp, n, got);
      for (int r = 0; r < 8; ++r) CHECK(got[r] == want[r]);  // no NaN, no zero sum
    }
  }
}

TEST_CASE("the PTQ step cache gives the steps a fresh search gives and is used when found",
          "[search][scoring]") {
  const qat::LoadedCheckpoint c = qat::load_checkpoint(micro_lm_path());
  const int layers = c.model->config().n_layers;
  const auto spec = model::Setting::parse("W4A8g32-E8").to_quant_spec(layers);
  const auto weights = c.model->unit_weights();
  qat::QuantState plain(spec, layers), cached(spec, layers), again(spec, layers);
  plain.init_weight_steps(weights, qat::QuantState::Init::kPtq);
  qat::QuantState::WeightStepCache cache;
  cached.init_weight_steps(weights, qat::QuantState::Init::kPtq, &cache);
  REQUIRE(cache.size() == plain.weights().size());
  for (const auto& [unit, wp] : plain.weights()) {
    INFO(unit);
    REQUIRE(cached.weights().at(unit).step);
    CHECK(cached.weights().at(unit).step->value == wp.step->value);
    CHECK(cache.count({unit, unit == "embed" ? 8 : 4, unit == "embed" ? 0 : 32,
                       qat::QuantState::Init::kPtq}) == 1);
  }
  // A found entry is taken as it is (here a marked one), not searched again.
  auto& entry = cache.at({"embed", 8, 0, qat::QuantState::Init::kPtq});
  entry(0, 0) = 0.125f;
  again.init_weight_steps(weights, qat::QuantState::Init::kPtq, &cache);
  CHECK(again.weights().at("embed").step->value(0, 0) == 0.125f);
  CHECK(again.weights().at("layers.0.attn.q").step->value ==
        plain.weights().at("layers.0.attn.q").step->value);
}

// Hidden from the search suite: ctest search.bench_scoring (label bench) runs it.
TEST_CASE("bench_scoring scores every setting at every thread count with the same values",
          "[.bench_scoring]") {
  const fs::path dir =
      fs::temp_directory_path() / ("hilq_bench_scoring_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  search::ScoringBenchOptions o;
  o.scorer.model_path = micro_lm_path();
  o.scorer.data_dir = qat::default_data_dir();
  o.scorer.cache_dir = dir.string();
  o.scorer.calibration_windows = 2;
  o.scorer.validation_windows = 3;
  o.scorer.test_windows = 1;
  o.scorer.max_docs_per_split = search::testing::kMicroDocs;
  o.settings = {model::Setting::fp32(), model::Setting::parse("W4A8")};
  o.thread_counts = {1, 2};
  o.repeats = 2;
  const search::ScoringBench b = search::bench_scoring(o);
  fs::remove_all(dir);
  REQUIRE(b.rows.size() == 4);
  CHECK(b.calibration_windows == 2);
  CHECK(b.validation_windows == 3);
  for (const auto& r : b.rows) {
    INFO(r.setting << " " << r.threads);
    CHECK(r.calibration_tokens == int64_t{2} * b.seq);
    CHECK(r.validation_tokens == int64_t{3} * b.seq);
    CHECK(r.calibration > 0);
    CHECK(r.validation > 0);
    CHECK(r.candidates_per_s() > 0);
    CHECK(std::isfinite(r.validation_perplexity));
    // The phases are parts of the validation scoring (summed over its threads).
    CHECK(r.forward_us > 0);
    CHECK(r.log_softmax_us > 0);
    CHECK(r.kl_us > 0);  // FP32 too: against the reference, its KL is 0 but computed
    CHECK((r.forward_us + r.log_softmax_us + r.kl_us) * 1e-6 *
              static_cast<double>(r.validation_tokens) <=
          r.validation * r.threads * 1.05);
  }
  CHECK(b.rows[0].setting == "FP32");
  CHECK(b.rows[0].validation_kl == 0);  // the float model against itself
  CHECK(b.rows[1].validation_kl > 0);
  for (int i = 0; i < 2; ++i) {  // thread counts give the same scores
    CHECK(b.rows[static_cast<size_t>(i)].calibration_perplexity ==
          b.rows[static_cast<size_t>(i + 2)].calibration_perplexity);
    CHECK(b.rows[static_cast<size_t>(i)].validation_perplexity ==
          b.rows[static_cast<size_t>(i + 2)].validation_perplexity);
    CHECK(b.rows[static_cast<size_t>(i)].validation_kl ==
          b.rows[static_cast<size_t>(i + 2)].validation_kl);
  }
  o.repeats = 0;
  CHECK_THROWS_WITH(search::bench_scoring(o), Catch::Contains("--repeats"));
  o.repeats = 1;
  o.settings = {model::Setting::fp16()};
  CHECK_THROWS_WITH(search::bench_scoring(o), Catch::Contains("FP16 is not a config"));
}
