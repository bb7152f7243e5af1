// Loading and splitting of the LM and sentiment corpora exactly as doc/data.md fixes them.
#include "qat/data.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hilq::qat {
namespace {

namespace fs = std::filesystem;
constexpr const char* kFetch = "; fetch the data with scripts/setup.sh";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw DataError("cannot read " + p.string() + kFetch);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::string default_data_dir() {
  if (const char* env = std::getenv("HILQ_DATA_DIR"); env && *env) return env;
#ifdef HILQ_DATA_DIR
  return HILQ_DATA_DIR;
#else
  return "data";
#endif
}

void seeded_shuffle(std::vector<int>* v, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = v->size(); i > 1; --i) {
    s = mix(s);
    const auto j = static_cast<size_t>(s % i);
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

LmCorpus load_lm_corpus(const std::string& data_dir, int max_docs_per_split) {
  const fs::path dir = fs::path(data_dir) / "sotu" / "package" / "data";
  if (!fs::is_directory(dir)) throw DataError(dir.string() + " does not exist" + kFetch);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".txt") {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) throw DataError(dir.string() + " holds no .txt files" + kFetch);
  LmCorpus c;
  for (size_t i = 0; i < names.size(); ++i) {
    auto& docs = i % 10 == 8 ? c.validation : i % 10 == 9 ? c.test : c.train;
    auto& ns = i % 10 == 8 ? c.validation_names : i % 10 == 9 ? c.test_names : c.train_names;
    if (max_docs_per_split > 0 && static_cast<int>(docs.size()) >= max_docs_per_split) continue;
    docs.push_back(slurp(dir / names[i]));
    ns.push_back(names[i]);
  }
  return c;
}

SentimentSplits load_sentiment(const std::string& data_dir, uint64_t seed, double dev_fraction) {
  const fs::path dir = fs::path(data_dir) / "sentiment" / "package" / "test" / "fixtures";
  SentimentSplits out;
  auto load = [&](const std::string& source) {
    const fs::path p = dir / (source + ".json");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(slurp(p));
    } catch (const nlohmann::json::exception& e) {
      throw DataError(p.string() + ": not valid JSON: " + e.what());
    }
    std::vector<Sentence> rows;
    for (size_t i = 0; i < j.size(); ++i) {
      const auto& r = j[i];
      const std::string text = r.value("text", "");
      if (text.empty() || !r.contains("class") || r["class"].is_null()) {
        ++out.dropped_empty;
        continue;
      }
      const int label = r["class"].get<int>();
      if (label != 0 && label != 1) {
        throw DataError(p.string() + ": record " + std::to_string(i) + " has class " +
                        std::to_string(label) + ", expected 0 or 1");
      }
      rows.push_back({text, label, source});
    }
    return rows;
  };
  // Stratified pick of k per class from rows (seeded); returns (picked, rest) in stable order.
  auto stratify = [](const std::vector<Sentence>& rows, int per_class, uint64_t s,
                     std::vector<Sentence>* picked, std::vector<Sentence>* rest) {
    std::vector<bool> take(rows.size(), false);
    for (int label = 0; label < 2; ++label) {
      std::vector<int> idx;
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].label == label) idx.push_back(static_cast<int>(i));
      }
      seeded_shuffle(&idx, s + static_cast<uint64_t>(label));
      for (int k = 0; k < per_class && k < static_cast<int>(idx.size()); ++k) {
        take[static_cast<size_t>(idx[static_cast<size_t>(k)])] = true;
      }
    }
    for (size_t i = 0; i < rows.size(); ++i) (take[i] ? picked : rest)->push_back(rows[i]);
  };
  std::vector<Sentence> train = load("amazon");
  for (auto& s : load("yelp")) train.push_back(std::move(s));
  std::vector<Sentence> imdb_train;
  stratify(load("imdb"), 200, seed, &out.test, &imdb_train);
  for (auto& s : imdb_train) train.push_back(std::move(s));
  const auto positives =
      std::count_if(train.begin(), train.end(), [](const Sentence& s) { return s.label == 1; });
  const auto smaller = std::min<int64_t>(positives, static_cast<int64_t>(train.size()) - positives);
  const auto per_class_dev =
      static_cast<int>(std::lround(static_cast<double>(smaller) * dev_fraction));
  stratify(train, per_class_dev, seed ^ 0xDE5, &out.dev, &out.train);
  return out;
}

SentimentSplits sentiment_fold(const SentimentSplits& all, int folds, int fold, uint64_t seed) {
  std::vector<const Sentence*> pool;
  for (const auto* split : {&all.train, &all.dev, &all.test})
    for (const auto& s : *split) pool.push_back(&s);
  if (folds < 2) throw ConfigError("--folds " + std::to_string(folds) + ": need at least 2");
  std::vector<int> fold_of(pool.size(), 0);
  size_t smaller = pool.size();
  for (int label = 0; label < 2; ++label) {
    std::vector<int> idx;
    for (size_t i = 0; i < pool.size(); ++i)
      if (pool[i]->label == label) idx.push_back(static_cast<int>(i));
    smaller = std::min(smaller, idx.size());
    seeded_shuffle(&idx, seed ^ (0xF01Dull + static_cast<uint64_t>(label)));
    for (size_t k = 0; k < idx.size(); ++k)
      fold_of[static_cast<size_t>(idx[k])] = static_cast<int>(k % static_cast<size_t>(folds));
  }
  if (static_cast<size_t>(folds) > smaller) {
    throw ConfigError("--folds " + std::to_string(folds) + ": need 2 .. " +
                      std::to_string(smaller) + " (the smaller class's sentences)");
  }
  if (fold < 0 || fold >= folds) {
    throw ConfigError("--fold " + std::to_string(fold) + ": need 0 .. " +
                      std::to_string(folds - 1));
  }
  SentimentSplits out;
  out.dropped_empty = all.dropped_empty;
  for (size_t i = 0; i < pool.size(); ++i)
    (fold_of[i] == fold ? out.test : out.train).push_back(*pool[i]);
  return out;
}

}  // namespace hilq::qat
