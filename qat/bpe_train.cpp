// BPE training by incremental pair counts: a max-heap of pair counts with lazy deletion, and per
// pair the words it occurs in, so each merge touches only the words that contain it.
#include "qat/bpe_train.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <queue>
#include <unordered_map>
#include <utility>

namespace hilq::qat {
namespace {

uint64_t key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

model::BpeTokenizer train_bpe(const std::vector<std::string_view>& texts, int vocab_size,
                              const std::vector<std::string>& specials) {
  if (vocab_size < 256 + static_cast<int>(specials.size())) {
    throw model::TokenizerError("BPE vocab_size " + std::to_string(vocab_size) +
                                " is smaller than 256 bytes plus " +
                                std::to_string(specials.size()) + " specials");
  }
  std::vector<std::string> token_bytes;  // id -> bytes: the 256 single bytes first
  token_bytes.reserve(static_cast<size_t>(vocab_size));
  for (int b = 0; b < 256; ++b) token_bytes.emplace_back(1, static_cast<char>(b));
  std::vector<model::BpeTokenizer::MergeRule> merges;
  // Unique pre-tokenized words with their counts, in first-seen order (deterministic).
  std::unordered_map<std::string_view, int32_t> word_index;
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> freq;
  for (std::string_view text : texts) {
    for (const auto& [off, len] : model::pretokenize(text)) {
      const std::string_view piece = text.substr(off, len);
      auto [it, inserted] = word_index.emplace(piece, static_cast<int32_t>(words.size()));
      if (inserted) {
        words.emplace_back(piece.begin(), piece.end());
        for (auto& s : words.back()) s = static_cast<uint8_t>(s);
        freq.push_back(0);
      }
      ++freq[static_cast<size_t>(it->second)];
    }
  }
  std::unordered_map<uint64_t, int64_t> counts;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  for (size_t w = 0; w < words.size(); ++w) {
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = key(words[w][i], words[w][i + 1]);
      counts[k] += freq[w];
      where[k].push_back(static_cast<int32_t>(w));
    }
  }
  // Max-heap on (count, smaller key first) with lazy deletion of stale entries.
  using Entry = std::pair<int64_t, uint64_t>;
  auto worse = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (const auto& [k, c] : counts) heap.emplace(c, k);
  std::vector<int32_t> stamp(words.size(), -1);
  std::vector<uint64_t> touched;
  auto bump = [&](uint64_t k, int64_t d, int32_t w) {
    int64_t& c = counts[k];
    c += d;
    touched.push_back(k);
    if (d > 0) where[k].push_back(w);
  };
  // Two merge paths can spell the same bytes ("ab"+"c", "a"+"bc"): they share one token id, so
  // the vocabulary maps bytes to ids one to one and survives a JSON round trip.
  std::unordered_map<std::string, int32_t> by_bytes;
  for (int b = 0; b < 256; ++b) by_bytes.emplace(token_bytes[static_cast<size_t>(b)], b);
  const size_t target = static_cast<size_t>(vocab_size) - specials.size();
  for (int m = 0; token_bytes.size() < target && !heap.empty();) {
    const auto [c, k] = heap.top();
    heap.pop();
    auto cit = counts.find(k);
    if (cit == counts.end() || cit->second != c || c <= 0) continue;
    const auto a = static_cast<int32_t>(k >> 32), b = static_cast<int32_t>(k & 0xFFFFFFFFu);
    std::string merged = token_bytes[static_cast<size_t>(a)] + token_bytes[static_cast<size_t>(b)];
    auto [bit, fresh] = by_bytes.emplace(merged, static_cast<int32_t>(token_bytes.size()));
    const int32_t id = bit->second;
    if (fresh) token_bytes.push_back(std::move(merged));
    merges.push_back({a, b, id});
    touched.clear();
    const std::vector<int32_t> occurrences = std::move(where[k]);
    where.erase(k);
    for (int32_t w : occurrences) {
      if (stamp[static_cast<size_t>(w)] == m) continue;
      stamp[static_cast<size_t>(w)] = m;
      auto& s = words[static_cast<size_t>(w)];
      const int64_t f = freq[static_cast<size_t>(w)];
      std::vector<int32_t> out;
      out.reserve(s.size());
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          if (!out.empty()) {
            bump(key(out.back(), a), -f, w);
            bump(key(out.back(), id), f, w);
          }
          if (i + 2 < s.size()) {
            bump(key(b, s[i + 2]), -f, w);
            bump(key(id, s[i + 2]), f, w);
          }
          out.push_back(id);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = std::move(out);
    }
    counts.erase(k);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t tk : touched) {
      auto it = counts.find(tk);
      if (it != counts.end() && it->second > 0 && tk != k) heap.emplace(it->second, tk);
    }
    ++m;
  }
  std::map<std::string, int32_t> special_ids;
  for (const auto& s : specials) {
    special_ids[s] = static_cast<int32_t>(token_bytes.size());
    token_bytes.push_back(s);
  }
  return model::BpeTokenizer::from_parts(std::move(token_bytes), merges, std::move(special_ids));
}

}  // namespace hilq::qat
