// Small slices of the real corpora for the qat tests: a 512-token BPE trained on 4 LM train
// documents, their token streams, and 120 sentiment sentences per split at most.
#pragma once

#include "model/tokenizer.h"
#include "qat/bpe_train.h"
#include "qat/data.h"
#include "qat/model.h"
#include "qat/train.h"

namespace hilq::qat::testing {

struct MicroWorld {
  model::BpeTokenizer tok;
  TaskData data;
};

inline const MicroWorld& micro_world() {
  static const MicroWorld w = [] {
    MicroWorld m;
    const LmCorpus c = load_lm_corpus(default_data_dir(), 4);
    std::vector<std::string_view> texts(c.train.begin(), c.train.end());
    m.tok = train_bpe(texts, 512, hilq_specials());
    m.data = tokenize_lm(c, m.tok);
    SentimentSplits s = load_sentiment(default_data_dir());
    s.train.resize(120);
    s.dev.resize(60);
    s.test.resize(60);
    tokenize_cls(s, m.tok, &m.data);
    return m;
  }();
  return w;
}

inline ModelConfig micro_config(ModelKind kind) {
  return ModelConfig::preset("micro", kind, micro_world().tok.vocab_size());
}

inline TrainConfig micro_train(int steps) {
  TrainConfig c;
  c.steps = steps;
  c.batch = 8;
  c.seq = 32;
  c.lr = 3e-3f;
  c.warmup = 5;
  c.log_every = 0;
  c.seed = 11;
  return c;
}

}  // namespace hilq::qat::testing
