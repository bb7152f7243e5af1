// The corpora of doc/data.md with their exact splits: State of the Union addresses for
// language modelling (document-level split by sorted .txt index) and the UCI sentiment sentences
// (amazon + yelp + 600 imdb train, 400 imdb test, stratified, fixed seed; dev out of train).
// Everything comes from the folders scripts/setup.sh fills; absent data is a DataError that says
// so.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "qat/errors.h"

namespace hilq::qat {

// The compiled-in data folder (HILQ_DATA_DIR), overridable with the HILQ_DATA_DIR environment.
std::string default_data_dir();

struct LmCorpus {
  // Document texts and their file names, in sorted-name order within each split.
  std::vector<std::string> train, validation, test;
  std::vector<std::string> train_names, validation_names, test_names;
};

// Reads data_dir/sotu/package/data/*.txt; index i of the sorted names goes to validation when
// i % 10 == 8, test when i % 10 == 9, else train. max_docs_per_split > 0 keeps only the first
// documents of each split (test slices).
LmCorpus load_lm_corpus(const std::string& data_dir, int max_docs_per_split = 0);

// Names of the sentiment classes by class id (the UCI files' "class": 0 negative, 1 positive);
// the exporter writes them into a classifier's model file so hil-run can print the name.
constexpr std::array<const char*, 2> kSentimentLabels = {"negative", "positive"};

struct Sentence {
  std::string text;
  int label = 0;       // index into kSentimentLabels
  std::string source;  // amazon | yelp | imdb
};

struct SentimentSplits {
  std::vector<Sentence> train, dev, test;
  int dropped_empty = 0;  // records with empty text and null class (one per file)
};

// Seeded and stratified: imdb's test half is 200 negative + 200 positive; dev takes
// dev_fraction of each class of the remaining train set.
SentimentSplits load_sentiment(const std::string& data_dir, uint64_t seed = 20240611,
                               double dev_fraction = 0.1);

// Fold `fold` (0-based) of a k-fold cross-validation over every labelled sentence of `all`
// (train, dev and test pooled in that order): each class is shuffled (seeded) and dealt to the
// folds in turn, so the folds are stratified and differ in size by at most one per class. The
// result's test is the fold, its train the other folds (in pooled order), its dev empty. Throws
// ConfigError unless 2 <= folds <= the smaller class's count and 0 <= fold < folds.
SentimentSplits sentiment_fold(const SentimentSplits& all, int folds, int fold,
                               uint64_t seed = 20240611);

// Deterministic Fisher-Yates shuffle driven by splitmix64 (identical on every platform).
void seeded_shuffle(std::vector<int>* v, uint64_t seed);

}  // namespace hilq::qat
