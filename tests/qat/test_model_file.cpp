// The safetensors model file: round trips, the exact byte layout, and rejection of malformed files.
#include <catch2/catch.hpp>
#include <cstring>

#include "model/model_file.h"

namespace hilq::model {
namespace {

ModelFile sample() {
  ModelFile f;
  f.metadata["format"] = "hilq.checkpoint.v1";
  f.metadata["architecture"] = "{\"d_model\":8}";
  const float w[6] = {1.5f, -2.0f, 0.0f, 3.25f, -0.125f, 7.0f};
  const int8_t q[4] = {-8, 7, 0, -1};
  f.add_f32("layers.0.w", {2, 3}, w);
  f.add("layers.0.q", DType::kI8, {4}, q);
  f.add("empty", DType::kU8, {0}, nullptr);
  return f;
}

TEST_CASE("a model file round-trips tensors, metadata and order", "[model_file]") {
  std::vector<uint8_t> bytes;
  REQUIRE(serialize_model_file(sample(), &bytes).empty());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  REQUIRE((8 + n) % 8 == 0);  // tensor data starts 8-byte aligned
  REQUIRE(bytes.size() == 8 + n + 24 + 4);
  ModelFile back;
  REQUIRE(parse_model_file(bytes.data(), bytes.size(), &back) == "");
  REQUIRE(back.metadata == sample().metadata);
  REQUIRE(back.tensors.size() == 3);
  REQUIRE(back.tensors[0].name == "layers.0.w");  // file order, not alphabetical
  REQUIRE(back.tensors[1].dtype == DType::kI8);
  std::vector<float> w;
  std::string err;
  REQUIRE(back.get_f32("layers.0.w", &w, &err));
  REQUIRE(w[3] == 3.25f);
  REQUIRE_FALSE(back.get_f32("layers.0.q", &w, &err));
  REQUIRE(err.find("I8") != std::string::npos);
  const std::string path = "/tmp/hilq_test_model_file.safetensors";
  REQUIRE(write_model_file(path, sample()).empty());
  REQUIRE(read_model_file(path, &back).empty());
  REQUIRE(back.find("layers.0.q")->data == sample().find("layers.0.q")->data);
}

TEST_CASE("malformed model files are rejected with a reason", "[model_file]") {
  std::vector<uint8_t> good;
  REQUIRE(serialize_model_file(sample(), &good).empty());
  ModelFile out;
  auto parse = [&](const std::vector<uint8_t>& b) {
    return parse_model_file(b.data(), b.size(), &out);
  };
  auto with_header = [](const std::string& h, size_t data_bytes) {
    std::vector<uint8_t> b(8 + h.size() + data_bytes, 0);
    const uint64_t n = h.size();
    std::memcpy(b.data(), &n, 8);
    std::memcpy(b.data() + 8, h.data(), h.size());
    return b;
  };
  REQUIRE_THAT(parse({1, 2, 3}), Catch::Contains("fewer than"));
  auto truncated = good;
  truncated.pop_back();
  REQUIRE_THAT(parse(truncated), Catch::Contains("tensor"));
  auto huge = good;
  huge[7] = 0x7f;
  REQUIRE_THAT(parse(huge), Catch::Contains("exceeds"));
  auto extra = good;
  extra.push_back(0);
  REQUIRE_THAT(parse(extra), Catch::Contains("no tensor covers"));
  REQUIRE_THAT(parse(with_header("[1,2]", 0)), Catch::Contains("not a JSON object"));
  REQUIRE_THAT(parse(with_header("{not json", 0)), Catch::Contains("not valid JSON"));
  REQUIRE_THAT(parse(with_header(R"({"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", 1)),
               Catch::Contains("unknown dtype"));
  REQUIRE_THAT(parse(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4)),
               Catch::Contains("do not match"));
  REQUIRE_THAT(parse(with_header(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0)),
               Catch::Contains("non-negative"));
  REQUIRE_THAT(parse(with_header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                 R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                                 3)),
               Catch::Contains("gap or overlap"));
  REQUIRE_THAT(parse(with_header(R"({"__metadata__":{"k":1}})", 0)),
               Catch::Contains("not a string"));
  REQUIRE_THAT(parse(with_header(R"({"a":{"dtype":"U8","shape":[1]}})", 1)),
               Catch::Contains("needs dtype"));
  ModelFile dup = sample();
  dup.tensors.push_back(dup.tensors[0]);
  std::vector<uint8_t> b;
  REQUIRE_THAT(serialize_model_file(dup, &b), Catch::Contains("twice"));
  REQUIRE_THAT(read_model_file("/nonexistent/x", &out), Catch::Contains("cannot open"));
}

}  // namespace
}  // namespace hilq::model
