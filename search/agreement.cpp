#include "search/agreement.h"

#include <algorithm>

#include "base/error.h"
#include "runtime/model.h"

namespace hilq::search {

std::vector<int32_t> greedy_tokens(const std::vector<float>& logprobs, int vocab) {
  const size_t row = static_cast<size_t>(vocab), rows = logprobs.size() / row;
  std::vector<int32_t> out(rows);
  for (size_t r = 0; r < rows; ++r) {
    const float* p = logprobs.data() + r * row;
    out[r] = static_cast<int32_t>(std::max_element(p, p + row) - p);
  }
  return out;
}

namespace {

struct Run {
  SettingScore score;
  std::vector<int32_t> tokens;
};

Run run(HostScorer& scorer, const model::Setting& s, const std::string& split, int threads) {
  if (!s.is_quantized())
    throw ConfigError("agreement: setting " + s.label() +
                      " is not a quantized setting (W<w>A<a>...); the search packs only those");
  const model::QuantSpec spec = s.to_quant_spec(scorer.n_layers());
  const PackedCandidate packed = scorer.pack(spec);
  const runtime::Model m = runtime::Model::load(packed.path);
  std::vector<float> lp;
  const LmScore ls = score_lm(m, scorer.lm_windows(split), threads, nullptr, &lp);
  return {{s.label(), ls.perplexity, packed.memory_bytes},
          greedy_tokens(lp, scorer.arch().vocab_size)};
}

}  // namespace

GreedyAgreement greedy_agreement(HostScorer& scorer, const model::Setting& a,
                                 const model::Setting& b, const std::string& split, int threads) {
  if (scorer.higher_is_better())
    throw ConfigError("agreement compares next-token choices: it needs a causal LM (task lm)");
  const Run ra = run(scorer, a, split, threads), rb = run(scorer, b, split, threads);
  GreedyAgreement g;
  g.split = split;
  g.a = ra.score;
  g.b = rb.score;
  g.positions = static_cast<int64_t>(ra.tokens.size());
  for (size_t i = 0; i < ra.tokens.size(); ++i) g.same += ra.tokens[i] == rb.tokens[i];
  return g;
}

}  // namespace hilq::search
