// A tokenizer built from trained parts (model/tokenizer.h from_parts, what qat/bpe_train.cpp
// produces): it encodes with its merges, survives JSON, and refuses parts that do not fit.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace hilq::model {
namespace {

std::vector<std::string> bytes_then(std::vector<std::string> more) {
  std::vector<std::string> t;
  for (int b = 0; b < 256; ++b) t.emplace_back(1, static_cast<char>(b));
  t.insert(t.end(), more.begin(), more.end());
  return t;
}

TEST_CASE("a tokenizer from parts encodes with its merges in rank order", "[model][tokenizer]") {
  const int32_t a = 'a', b = 'b', c = 'c';
  const BpeTokenizer t = BpeTokenizer::from_parts(bytes_then({"ab", "abc", "<|end|>"}),
                                                  {{a, b, 256}, {256, c, 257}}, {{"<|end|>", 258}});
  CHECK(t.vocab_size() == 259);
  CHECK(t.num_merges() == 2);
  CHECK(t.special_id("<|end|>") == 258);
  CHECK(t.encode("abc") == std::vector<int32_t>{257});
  CHECK(t.encode("abab") == std::vector<int32_t>{256, 256});
  CHECK(t.decode({257, 258}) == "abc<|end|>");
  const BpeTokenizer r = BpeTokenizer::from_json(t.to_json());
  CHECK(r.to_json() == t.to_json());
  CHECK(r.encode("cabc") == t.encode("cabc"));
}

TEST_CASE("parts that do not fit are refused naming the part", "[model][tokenizer]") {
  const int32_t a = 'a', b = 'b';
  CHECK_THROWS_WITH(BpeTokenizer::from_parts(bytes_then({"ba"}), {{a, b, 256}}, {}),
                    Catch::Contains("does not spell"));
  CHECK_THROWS_WITH(BpeTokenizer::from_parts(bytes_then({"ab"}), {{a, b, 300}}, {}),
                    Catch::Contains("merge"));
  CHECK_THROWS_WITH(BpeTokenizer::from_parts(bytes_then({"x"}), {}, {{"<|end|>", 256}}),
                    Catch::Contains("special <|end|>"));
  CHECK_THROWS_WITH(BpeTokenizer::from_parts({"a", "b"}, {}, {}), Catch::Contains("byte 0"));
  CHECK_THROWS_AS(BpeTokenizer::from_parts({}, {}, {}), TokenizerError);
}

}  // namespace
}  // namespace hilq::model
