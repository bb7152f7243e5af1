// Do two settings of one model choose the same next token? Both are packed the way the search
// packs candidates (HostScorer::pack) and run by the runtime on a split's LM windows (teacher
// forcing: every position sees the true prefix); the greedy (argmax) token of each position is
// compared, with each setting's perplexity beside it. Used for the quantized LM head: W4A4-E8
// against W4A4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/setting.h"
#include "search/scorer.h"

namespace hilq::search {

struct SettingScore {
  std::string label;
  double perplexity = 0;
  int64_t memory_bytes = 0;
};

struct GreedyAgreement {
  std::string split;
  int64_t positions = 0;  // windows x seq
  int64_t same = 0;       // positions whose argmax tokens are equal
  SettingScore a, b;
  double agreement() const { return positions ? static_cast<double>(same) / positions : 0; }
  // (b - a) / a of the perplexity.
  double perplexity_change() const { return a.perplexity ? b.perplexity / a.perplexity - 1 : 0; }
};

// The argmax of each vocab-long row (ties to the lower token id).
std::vector<int32_t> greedy_tokens(const std::vector<float>& logprobs, int vocab);

// Throws ConfigError for a baseline or as-stored setting (the search packs quantized ones), or a
// classifier model.
GreedyAgreement greedy_agreement(HostScorer& scorer, const model::Setting& a,
                                 const model::Setting& b, const std::string& split,
                                 int threads = 2);

}  // namespace hilq::search
