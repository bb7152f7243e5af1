// Greedy-token agreement of two settings (search/agreement.h) on the micro LM.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "qat/data.h"
#include "search/agreement.h"
#include "tests/search/micro_lm.h"

namespace hilq {
namespace {

namespace fs = std::filesystem;
using search::testing::micro_lm_path;

TEST_CASE("greedy tokens are each row's argmax, ties to the lower id", "[search][agreement]") {
  const std::vector<float> lp = {-3, -1, -2, -5, -5, -9, -0.5f, -0.5f, -7};
  CHECK(search::greedy_tokens(lp, 3) == std::vector<int32_t>{1, 0, 0});
  CHECK(search::greedy_tokens(lp, 9) == std::vector<int32_t>{6});
}

TEST_CASE("agreement of a setting with itself is total; a coarser one disagrees somewhere",
          "[search][agreement]") {
  const fs::path dir = fs::temp_directory_path() / ("hilq_agree_" + std::to_string(::getpid()));
  search::ScorerOptions o;
  o.model_path = micro_lm_path();
  o.data_dir = qat::default_data_dir();
  o.cache_dir = (dir / "cache").string();
  o.validation_windows = 4;
  o.max_docs_per_split = search::testing::kMicroDocs;
  search::HostScorer scorer(o, nullptr);
  const auto w8 = model::Setting::parse("W8A8-E8");
  const auto same = search::greedy_agreement(scorer, w8, w8, "validation");
  CHECK(same.positions == 4LL * scorer.arch().max_seq);
  CHECK(same.same == same.positions);
  CHECK(same.perplexity_change() == 0.0);
  const auto w2 = model::Setting::parse("W2A4-E4");
  const auto diff = search::greedy_agreement(scorer, w8, w2, "validation");
  CHECK(diff.agreement() < 1.0);
  CHECK(diff.agreement() > 0.0);
  CHECK(diff.b.perplexity > diff.a.perplexity);
  CHECK(diff.b.memory_bytes < diff.a.memory_bytes);
  // The perplexities are the ones the search scores for the same packed files.
  const auto spec = w2.to_quant_spec(scorer.n_layers());
  const auto scored = scorer.score(spec, scorer.pack(spec), "validation");
  CHECK(diff.b.perplexity == Approx(scored.metric).epsilon(1e-12));
  CHECK_THROWS_WITH(search::greedy_agreement(scorer, model::Setting::fp16(), w8, "validation"),
                    Catch::Contains("FP16") && Catch::Contains("not a quantized setting"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hilq
