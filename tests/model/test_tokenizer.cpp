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

TEST_CASE("a normalization lowercases and prefixes a space before encoding, and is saved",
          "[model][tokenizer]") {
  const Normalization both = Normalization::parse("prefix-space,lowercase", "--normalize");
  CHECK(both.lowercase);
  CHECK(both.prefix_space);
  CHECK(both.to_string() == "lowercase,prefix-space");
  CHECK(Normalization::parse("none", "x").none());
  CHECK(Normalization::parse(both.to_string(), "x") == both);
  CHECK(Normalization::parse("lowercase", "x").to_string() == "lowercase");
  CHECK_THROWS_WITH(Normalization::parse("lowercase,upper", "--normalize"),
                    Catch::Contains("--normalize") && Catch::Contains("'upper'"));
  CHECK_THROWS_AS(Normalization::parse("", "x"), TokenizerError);
  CHECK(both.apply("Great FOOD, 10/10!") == " great food, 10/10!");
  CHECK(both.apply(" Already") == " already");
  CHECK(both.apply("").empty());  // an empty text stays empty (its encoding is the caller's)
  CHECK(both.apply("\xC3\x89T\xC3\x89") == " \xC3\x89t\xC3\x89");  // only ASCII letters change

  const int32_t a = 'a', b = 'b', sp = ' ';
  BpeTokenizer t =
      BpeTokenizer::from_parts(bytes_then({" a", " ab"}), {{sp, a, 256}, {256, b, 257}}, {});
  const std::string plain_json = t.to_json();
  CHECK(t.encode("AB") == std::vector<int32_t>{'A', 'B'});
  t.set_normalization(both);
  CHECK(t.encode("AB") == std::vector<int32_t>{257});
  CHECK(t.encode("AB") == t.encode(" ab"));
  CHECK(plain_json.find("normalize") == std::string::npos);  // earlier files keep their bytes
  const BpeTokenizer r = BpeTokenizer::from_json(t.to_json());
  CHECK(r.normalization() == both);
  CHECK(r.encode("aB") == std::vector<int32_t>{257});
  std::string bad = t.to_json();
  bad.replace(bad.find("\"lowercase\""), 11, "\"uppercase\"");
  CHECK_THROWS_WITH(BpeTokenizer::from_json(bad), Catch::Contains("'uppercase'"));
}

}  // namespace
}  // namespace hilq::model
