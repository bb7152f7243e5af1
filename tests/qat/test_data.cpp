// The corpora's splits as doc/data.md fixes them: document split by sorted index, sentiment split
// sizes, stratification, dropped empty records and determinism.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>

#include "qat/data.h"

namespace hilq::qat {
namespace {

TEST_CASE("the LM corpus splits documents by sorted index modulo 10", "[data]") {
  const LmCorpus c = load_lm_corpus(default_data_dir());
  const size_t total = c.train.size() + c.validation.size() + c.test.size();
  REQUIRE(total == 233);
  REQUIRE(c.validation.size() == 23);  // indices 8, 18, ..., 228
  REQUIRE(c.test.size() == 23);        // indices 9, 19, ..., 229
  REQUIRE(c.train_names.front() == "1790_george_washington_n.txt");
  REQUIRE(c.validation_names.front() == "1798_john_adams_f.txt");  // index 8
  REQUIRE(std::is_sorted(c.train_names.begin(), c.train_names.end()));
  const LmCorpus slice = load_lm_corpus(default_data_dir(), 2);
  REQUIRE(slice.train.size() == 2);
  REQUIRE(slice.test_names ==
          std::vector<std::string>(c.test_names.begin(), c.test_names.begin() + 2));
}

TEST_CASE("the sentiment split is stratified, seeded and drops the empty records", "[data]") {
  const SentimentSplits s = load_sentiment(default_data_dir());
  REQUIRE(s.dropped_empty == 3);
  REQUIRE(s.test.size() == 400);
  REQUIRE(s.train.size() + s.dev.size() == 2600);
  REQUIRE(s.dev.size() == 260);
  int pos = 0;
  for (const auto& x : s.test) {
    REQUIRE(x.source == "imdb");
    pos += x.label;
  }
  REQUIRE(pos == 200);
  size_t imdb_train = 0;
  for (const auto& x : s.train) imdb_train += x.source == "imdb";
  for (const auto& x : s.dev) imdb_train += x.source == "imdb";
  REQUIRE(imdb_train == 600);
  const SentimentSplits again = load_sentiment(default_data_dir());
  REQUIRE(again.test[17].text == s.test[17].text);
  REQUIRE(load_sentiment(default_data_dir(), 7).test[0].text != s.test[0].text);
}

TEST_CASE("the sentiment folds cover every sentence once, stratified and seeded", "[data]") {
  const SentimentSplits all = load_sentiment(default_data_dir());
  const size_t total = all.train.size() + all.dev.size() + all.test.size();
  int positives = 0;
  for (const auto* split : {&all.train, &all.dev, &all.test})
    for (const auto& x : *split) positives += x.label;
  std::map<std::string, int> held_out;  // text + source -> times in a fold's test
  size_t tested = 0;
  for (int f = 0; f < 5; ++f) {
    const SentimentSplits s = sentiment_fold(all, 5, f);
    REQUIRE(s.dev.empty());
    REQUIRE(s.train.size() + s.test.size() == total);
    int pos = 0;
    for (const auto& x : s.test) {
      pos += x.label;
      ++held_out[x.source + "\t" + x.text + "\t" + std::to_string(x.label)];
    }
    tested += s.test.size();
    // Stratified: each class dealt in turn, so a fold holds a fifth of each, give or take one.
    REQUIRE(std::abs(pos * 5 - positives) <= 5);
    REQUIRE(std::abs(static_cast<int>(s.test.size() - pos) * 5 -
                     static_cast<int>(total - static_cast<size_t>(positives))) <= 5);
  }
  REQUIRE(tested == total);  // every sentence is held out exactly once (duplicates aside)
  int repeated = 0;
  for (const auto& [key, n] : held_out) repeated += n - 1;
  std::map<std::string, int> pooled;
  for (const auto* split : {&all.train, &all.dev, &all.test})
    for (const auto& x : *split)
      ++pooled[x.source + "\t" + x.text + "\t" + std::to_string(x.label)];
  int dup = 0;
  for (const auto& [key, n] : pooled) dup += n - 1;
  REQUIRE(repeated == dup);
  REQUIRE(sentiment_fold(all, 5, 2).test[0].text == sentiment_fold(all, 5, 2).test[0].text);
  REQUIRE(sentiment_fold(all, 5, 2, 9).test[0].text != sentiment_fold(all, 5, 2).test[0].text);
  REQUIRE_THROWS_WITH(sentiment_fold(all, 1, 0), Catch::Contains("--folds 1"));
  REQUIRE_THROWS_WITH(sentiment_fold(all, 5, 5), Catch::Contains("--fold 5"));
}

TEST_CASE("absent data fails with the command that fetches it", "[data]") {
  REQUIRE_THROWS_WITH(load_lm_corpus("/nonexistent"), Catch::Contains("scripts/setup.sh"));
  REQUIRE_THROWS_WITH(load_sentiment("/nonexistent"), Catch::Contains("scripts/setup.sh"));
}

}  // namespace
}  // namespace hilq::qat
