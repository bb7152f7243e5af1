// The architecture (model/architecture.h): its JSON as model files carry it, the fields a model
// file must have, a config file's defaults, and the rules.
#include <catch2/catch.hpp>
#include <string>

#include "base/error.h"
#include "model/architecture.h"

namespace hilq::model {
namespace {

// As qat/export.cpp writes it (tests/runtime/runtime_test_util.h writes the same form).
const char* kArch =
    R"({"d_ff":96,"d_model":64,"dropout":0.0,"ffn":"swiglu","kind":"classifier","max_seq":32,)"
    R"("n_classes":3,"n_heads":2,"n_layers":2,"name":"test","norm":"rmsnorm","norm_eps":1e-05,)"
    R"("pooling":"mean","rope":"interleaved","rope_theta":10000.0,"tied_embeddings":true,)"
    R"("vocab_size":61})";

TEST_CASE("a model file's architecture reads and writes back", "[model][architecture]") {
  const Architecture a = Architecture::from_json(kArch, "architecture");
  CHECK(a.kind == ModelKind::kClassifier);
  CHECK(a.name == "test");
  CHECK(a.vocab_size == 61);
  CHECK(a.d_model == 64);
  CHECK(a.n_layers == 2);
  CHECK(a.n_heads == 2);
  CHECK(a.head_dim() == 32);
  CHECK(a.d_ff == 96);
  CHECK(a.max_seq == 32);
  CHECK(a.n_classes == 3);
  CHECK(a.rope_theta == 10000.0f);
  CHECK(a.norm_eps == 1e-5f);
  const std::string j = a.to_json();
  CHECK(j.find("\"kind\":\"classifier\"") != std::string::npos);
  CHECK(j.find("\"tied_embeddings\":true") != std::string::npos);
  CHECK(j.find(' ') == std::string::npos);
  CHECK(Architecture::from_json(j, "again").to_json() == j);
  CHECK(std::string(kind_name(ModelKind::kCausalLm)) == "causal_lm");
  CHECK(std::string(kind_name(ModelKind::kClassifier)) == "classifier");
  // 61x64 embedding + final norm, 2 layers of 4 d^2 + 3 d ff + 2 norms, a 3-class head.
  CHECK(a.parameter_count() ==
        61 * 64 + 64 + 2 * (4 * 64 * 64 + 3 * 64 * 96 + 2 * 64) + 3 * 64 + 3);
}

TEST_CASE("a model file's architecture must name its kind and sizes", "[model][architecture]") {
  CHECK_THROWS_WITH(Architecture::from_json(R"({"kind":"causal_lm"})", "architecture"),
                    Catch::Contains("architecture") && Catch::Contains("is missing"));
  CHECK_THROWS_WITH(
      Architecture::from_json(R"({"vocab_size":61,"d_model":64,"n_layers":2,"n_heads":2,)"
                              R"("d_ff":96,"max_seq":32})",
                              "architecture"),
      Catch::Contains("kind is missing"));
}

TEST_CASE("a config file's absent fields keep the defaults given", "[model][architecture]") {
  Architecture base;
  base.vocab_size = 512, base.d_model = 64, base.n_layers = 2, base.n_heads = 2;
  base.d_ff = 176, base.max_seq = 64;
  const Architecture a = Architecture::from_json(R"({"n_layers":3})", "m.json", base);
  CHECK(a.n_layers == 3);
  CHECK(a.d_model == 64);
  CHECK(a.kind == ModelKind::kCausalLm);
}

TEST_CASE("an architecture that breaks a rule is refused naming the field",
          "[model][architecture]") {
  Architecture base;
  base.vocab_size = 512, base.d_model = 64, base.n_layers = 2, base.n_heads = 2;
  base.d_ff = 176, base.max_seq = 64;
  auto error = [&](const std::string& text) {
    try {
      Architecture::from_json(text, "m.json", base);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error(R"({"n_heads":3})"), Catch::Contains("m.json") && Catch::Contains("n_heads") &&
                                            Catch::Contains("must divide d_model"));
  CHECK_THAT(error(R"({"layers":4})"), Catch::Contains("unknown field 'layers'"));
  CHECK_THAT(error(R"({"kind":"seq2seq"})"), Catch::Contains("'kind' = \"seq2seq\""));
  CHECK_THAT(error(R"({"norm":"layernorm"})"),
             Catch::Contains("norm") && Catch::Contains("rmsnorm"));
  CHECK_THAT(error(R"({"d_model":"64"})"),
             Catch::Contains("'d_model' = \"64\": must be an integer"));
  CHECK_THAT(error(R"({"vocab_size":8})"), Catch::Contains("vocab_size"));
  CHECK_THAT(error(R"({"n_classes":1})"), Catch::Contains("n_classes"));
  CHECK_THAT(error(R"({"rope_theta":0.5})"), Catch::Contains("rope_theta"));
  CHECK_THAT(error(R"({"name":7})"), Catch::Contains("'name' = 7: must be a string"));
  CHECK_THAT(error("{"), Catch::Contains("not valid JSON"));
  CHECK(error(R"({"dropout":0.1})").empty());  // qat's training field is accepted
}

}  // namespace
}  // namespace hilq::model
