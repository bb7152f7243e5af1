// The quant config (model/quant_spec.h): canonical JSON byte for byte, its hash, the validation
// rules, the unit list and the activation points both qat and the runtime use.
#include <catch2/catch.hpp>
#include <string>

#include "base/error.h"
#include "model/quant_spec.h"
#include "model/setting.h"
#include "model/sha256.h"

namespace hilq::model {
namespace {

TEST_CASE("the quant config serialises canonically and rejects broken rules", "[model][quant]") {
  QuantSpec a = QuantSpec::uniform(2, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5});
  const std::string j = a.to_json();
  const QuantSpec b = QuantSpec::from_json(j);
  REQUIRE(b.to_json() == j);
  REQUIRE(quant_label(b, 2) == "W4A4-TA8/4");
  REQUIRE(quant_label(QuantSpec::uniform(2, 8, 8), 2) == "W8A8");
  REQUIRE(j.find(' ') == std::string::npos);
  REQUIRE(j.find("\"layers.0.attn.k\":{\"a_bits\":4,\"group\":0,\"w_bits\":4}") !=
          std::string::npos);
  auto broken = [](const std::string& text) {
    QuantSpec::from_json(text, "t.json").validate(2, "t.json");
  };
  REQUIRE_THROWS_WITH(broken(R"({"units":{"layers.0.attn.q":{"w_bits":5}}})"),
                      Catch::Contains("w_bits 5"));
  REQUIRE_THROWS_WITH(broken(R"({"units":{"layers.9.attn.q":{"w_bits":4}}})"),
                      Catch::Contains("does not exist"));
  REQUIRE_THROWS_WITH(broken(R"({"units":{"layers.0.attn.q":{"a_bits":8}}})"),
                      Catch::Contains("share a_bits"));
  REQUIRE_THROWS_WITH(broken(R"({"units":{"embed":{"w_bits":4,"group":32}}})"),
                      Catch::Contains("per row"));
  REQUIRE_THROWS_WITH(broken(R"({"units":{},"token_adaptive":{"high_bits":4,"low_bits":8}})"),
                      Catch::Contains("high_bits > low_bits"));
  REQUIRE_THROWS_WITH(broken(R"({"units":{"embed":{"bits":4}}})"),
                      Catch::Contains("unknown field 'units.embed.bits'"));
  REQUIRE_THROWS_AS(broken("{"), ConfigError);
}

TEST_CASE("the canonical JSON is the bytes model files already hold", "[model][quant]") {
  QuantSpec s;
  s.units["embed"] = UnitSpec{8, 8, 0};
  s.units["layers.0.mlp.down"] = UnitSpec{3, 0, 32};
  s.token_adaptive = TokenAdaptivePolicy{8, 4, 0.25};
  s.act_scale = ActScaleMode::kDynamic;
  const std::string want =
      R"({"activation_scale":"dynamic","token_adaptive":{"high_bits":8,"high_fraction":0.25,)"
      R"("low_bits":4},"units":{"embed":{"a_bits":8,"group":0,"w_bits":8},)"
      R"("layers.0.mlp.down":{"a_bits":0,"group":32,"w_bits":3}}})";
  CHECK(s.to_json() == want);
  CHECK(QuantSpec::from_json(want, "pinned") == s);
  CHECK(QuantSpec{}.to_json() == R"({"activation_scale":"lsq","token_adaptive":null,"units":{}})");
  // Absent fields take their defaults; key order and whitespace do not matter.
  const QuantSpec loose = QuantSpec::from_json(
      R"({ "units": {"embed": {"w_bits": 8, "a_bits": 8}} , "token_adaptive": {"high_fraction": 0.25}})",
      "loose");
  CHECK(loose.unit("embed") == UnitSpec{8, 8, 0});
  CHECK(loose.token_adaptive == TokenAdaptivePolicy{8, 4, 0.25});
  CHECK(loose.act_scale == ActScaleMode::kLsq);
  CHECK_THROWS_WITH(QuantSpec::from_json(R"({"units":{},"bits":4})", "x.json"),
                    Catch::Contains("x.json") && Catch::Contains("unknown field 'bits'"));
  CHECK_THROWS_WITH(QuantSpec::from_json(R"({"units":{},"activation_scale":"minmax"})", "x.json"),
                    Catch::Contains("'activation_scale' = \"minmax\"") &&
                        Catch::Contains("must be \"lsq\" or \"dynamic\""));
  CHECK_THROWS_WITH(QuantSpec::from_json(R"({"units":{"embed":{"w_bits":"8"}}})", "x.json"),
                    Catch::Contains("field 'units.embed.w_bits' = \"8\": must be an integer"));
}

TEST_CASE("the hash is the SHA-256 of the canonical JSON", "[model][quant]") {
  const QuantSpec a = QuantSpec::uniform(2, 4, 8);
  CHECK(a.hash() == sha256_hex(a.to_json()));
  CHECK(a.hash().size() == 64);
  CHECK(QuantSpec::from_json(a.to_json()).hash() == a.hash());
  QuantSpec b = a;
  b.units["layers.1.mlp.down"].w_bits = 8;
  CHECK(b.hash() != a.hash());
  b = a;
  b.act_scale = ActScaleMode::kDynamic;
  CHECK(b.hash() != a.hash());
}

TEST_CASE("units and activation points follow one list", "[model][quant]") {
  const auto units = unit_names(2);
  REQUIRE(units.size() == 15);
  CHECK(units.front() == "layers.0.attn.q");
  CHECK(units[6] == "layers.0.mlp.down");
  CHECK(units.back() == "embed");
  const auto points = activation_points(1);
  REQUIRE(points.size() == 7);
  const char* names[] = {"attn.qkv.in", "attn.q.out",     "attn.k.out", "attn.v.out",
                         "attn.o.in",   "mlp.gate_up.in", "mlp.down.in"};
  const char* unit_of[] = {"attn.q", "attn.q",   "attn.k",  "attn.v",
                           "attn.o", "mlp.gate", "mlp.down"};
  for (size_t i = 0; i < points.size(); ++i) {
    CAPTURE(i);
    CHECK(points[i].name == std::string("layers.1.") + names[i]);
    CHECK(points[i].unit == std::string("layers.1.") + unit_of[i]);
    CHECK(points[i].prev_mask == (i < 3));  // qkv.in, q.out, k.out follow the previous map
  }
  CHECK(head_activation_point().name == "head.in");
  CHECK(head_activation_point().unit == "embed");
  CHECK_FALSE(head_activation_point().prev_mask);
}

TEST_CASE("a policy applies to the units whose a_bits is its low width", "[model][quant]") {
  QuantSpec s = QuantSpec::uniform(1, 4, 4, 0, TokenAdaptivePolicy{8, 4, 0.5});
  CHECK(s.adaptive(UnitSpec{4, 4, 0}));
  CHECK_FALSE(s.adaptive(UnitSpec{4, 8, 0}));
  CHECK_FALSE(s.adaptive(UnitSpec{4, 0, 0}));
  s.token_adaptive.reset();
  CHECK_FALSE(s.adaptive(UnitSpec{4, 4, 0}));
  CHECK(s.unit("layers.0.attn.q") == UnitSpec{4, 4, 0});
  CHECK(s.unit("embed") == UnitSpec{});  // not listed: float
}

}  // namespace
}  // namespace hilq::model
