// The setting grammar (model/setting.h): label <-> parse round trips for every form, the quant
// config a setting stands for, the label of any quant config, and the errors a user sees.
#include <catch2/catch.hpp>
#include <string>

#include "base/error.h"
#include "model/quant_spec.h"
#include "model/setting.h"

namespace hilq::model {
namespace {

TEST_CASE("every form of setting survives label -> parse -> label", "[model][setting]") {
  const char* labels[] = {
      "FP32",
      "FP16",
      "as-stored",
      "W8A8",
      "W4A8",
      "W3A4",
      "W2A8g64",
      "W4A8g32",
      "W4Afp",
      "WfpA8",
      "W4A4-TA8/4",
      "W8A4-TA8/4",
      "W4A4-TA8/4@0.25",
      "W2A4g64-TA8/4@0.1",
      "W4A4-TA8/4@1",
      "W4A4-TA8/4@0",
      "W4A8-E8",
      "W4A8-E4",
      "W4Afp-E8",
      "W2A8g128-E6",
      "W4A4-TA8/4-E8",
      "W8A4g32-TA8/4@0.75-E3",
  };
  for (const char* label : labels) {
    CAPTURE(label);
    const Setting s = Setting::parse(label);
    CHECK(s.label() == label);
    CHECK(Setting::parse(s.label()) == s);
    if (!s.is_quantized()) continue;
    // The quant config of a 3-layer model labels back to the setting, through JSON too and with
    // either scale mode.
    for (ActScaleMode mode : {ActScaleMode::kDynamic, ActScaleMode::kLsq}) {
      const QuantSpec spec = s.to_quant_spec(3, mode);
      CHECK(spec.act_scale == mode);
      CHECK(quant_label(spec, 3) == label);
      CHECK(Setting::of(spec, 3) == s);
      CHECK(quant_label(QuantSpec::from_json(spec.to_json(), "round trip"), 3) == label);
    }
  }
}

TEST_CASE("a setting name becomes the uniform config whose label it is", "[model][setting]") {
  for (const char* name : {"W8A8", "W4A8", "W4A4-TA8/4", "W2A8g64", "W3A4", "W8A4-TA8/4"}) {
    CAPTURE(name);
    const QuantSpec s = Setting::parse(name).to_quant_spec(3);
    CHECK(s.units.size() == 21);  // 7 linears x 3 layers, the embedding stays float
    CHECK(s.dynamic());
    CHECK(quant_label(s, 3) == name);
    CHECK(QuantSpec::from_json(s.to_json(), "round trip") == s);
  }
  const QuantSpec ta = Setting::parse("W4A4-TA8/4@0.25").to_quant_spec(2);
  REQUIRE(ta.token_adaptive);
  CHECK(ta.token_adaptive->high_fraction == 0.25);
  CHECK_THROWS_WITH(Setting::parse("W4"), Catch::Contains("'W4'") && Catch::Contains("W<w>A<a>"));
  CHECK_THROWS_WITH(Setting::parse("W5A8"), Catch::Contains("w_bits 5"));
  CHECK_THROWS_WITH(Setting::parse("W4A8g48"), Catch::Contains("group 48"));
}

TEST_CASE("a quantized embedding is -E<bits>: its weights at <bits>, its input int8",
          "[model][setting]") {
  const Setting s = Setting::parse("W4A8-E8");
  CHECK(s.embed_bits() == 8);
  const QuantSpec spec = s.to_quant_spec(2);
  CHECK(spec.units.size() == 15);
  CHECK(spec.unit("embed") == UnitSpec{8, 8, 0});
  CHECK(spec.unit("layers.1.mlp.up") == UnitSpec{4, 8, 0});
  CHECK(quant_label(spec, 2) == "W4A8-E8");
  CHECK(Setting::parse("W4Afp-E4").to_quant_spec(1).unit("embed") == UnitSpec{4, 0, 0});
  // A4 linears keep an int8 head input, token-adaptive or not; the label reads back.
  const QuantSpec a4 = Setting::parse("W4A4-E8").to_quant_spec(2);
  CHECK(a4.unit("embed") == UnitSpec{8, 8, 0});
  CHECK(a4.unit("layers.0.attn.q") == UnitSpec{4, 4, 0});
  CHECK(quant_label(a4, 2) == "W4A4-E8");
  const QuantSpec ta = Setting::parse("W4A4-TA8/4-E4").to_quant_spec(2);
  CHECK(ta.unit("embed") == UnitSpec{4, 8, 0});
  CHECK_FALSE(ta.adaptive(ta.unit("embed")));
  CHECK(quant_label(ta, 2) == "W4A4-TA8/4-E4");
  // A head reading the linears' 4-bit input is not a setting's, so it is mixed.
  QuantSpec head4 = QuantSpec::uniform(2, 4, 4);
  head4.units["embed"] = UnitSpec{8, 4, 0};
  CHECK(quant_label(head4, 2) == "mixed");
  // The qat engine's config with an int8 LM head is the same setting.
  QuantSpec head = QuantSpec::uniform(2, 8, 8);
  head.units["embed"] = UnitSpec{8, 8, 0};
  CHECK(quant_label(head, 2) == "W8A8-E8");
}

TEST_CASE("baselines and as-stored are settings without a quant config of their own",
          "[model][setting]") {
  CHECK(Setting::parse("FP32").kind() == SettingKind::kFp32);
  CHECK(Setting::parse("FP32").is_baseline());
  CHECK(Setting::parse("FP16").kind() == SettingKind::kFp16);
  CHECK(Setting::parse("FP16").is_baseline());
  CHECK(Setting::parse("as-stored").kind() == SettingKind::kAsStored);
  CHECK_FALSE(Setting::parse("as-stored").is_baseline());
  CHECK_FALSE(Setting::parse("W4A8").is_baseline());
  CHECK(Setting::parse("W4A8").kind() == SettingKind::kQuantized);
  CHECK(Setting() == Setting::fp32());
  CHECK(Setting::parse("FP32").to_quant_spec(2).empty());
  CHECK(Setting::parse("FP16").to_quant_spec(2).empty());
  CHECK_THROWS_WITH(Setting::parse("as-stored").to_quant_spec(2), Catch::Contains("as-stored"));
  CHECK(Setting::quantized(UnitSpec{4, 4, 0}, TokenAdaptivePolicy{8, 4, 0.5}, 8).label() ==
        "W4A4-TA8/4-E8");
  CHECK_THROWS_AS(Setting::quantized(UnitSpec{5, 8, 0}), ConfigError);
}

TEST_CASE("other spellings of a setting parse to their canonical label", "[model][setting]") {
  CHECK(Setting::parse("W4A0").label() == "W4Afp");
  CHECK(Setting::parse("W0A8").label() == "WfpA8");
  CHECK(Setting::parse("W4A4-TA8/4@0.5").label() == "W4A4-TA8/4");
  CHECK(Setting::parse("W4A4-TA8/4@.25").label() == "W4A4-TA8/4@0.25");
  CHECK(Setting::parse("W4A4-TA8/4@0.250").label() == "W4A4-TA8/4@0.25");
  CHECK(Setting::parse("W4A8g0").label() == "W4A8");
}

TEST_CASE("any quant config has a label: FP32, its setting's, or mixed", "[model][setting]") {
  CHECK(quant_label(QuantSpec{}, 2) == "FP32");
  QuantSpec zeros;
  for (const auto& u : unit_names(2)) zeros.units[u] = UnitSpec{};
  CHECK(quant_label(zeros, 2) == "FP32");
  QuantSpec one = QuantSpec::uniform(2, 4, 8);
  one.units["layers.1.mlp.down"] = UnitSpec{8, 8, 0};
  CHECK(quant_label(one, 2) == "mixed");
  QuantSpec missing = QuantSpec::uniform(2, 4, 8);
  missing.units.erase("layers.0.attn.o");
  CHECK(quant_label(missing, 2) == "mixed");
  CHECK(quant_label(QuantSpec::uniform(2, 4, 8), 3) == "mixed");  // layer 2 stays float
  QuantSpec weight_only_head = QuantSpec::uniform(2, 4, 8);
  weight_only_head.units["embed"] = UnitSpec{4, 0, 0};
  CHECK(quant_label(weight_only_head, 2) == "mixed");
  QuantSpec head_only;
  head_only.units["embed"] = UnitSpec{8, 8, 0};
  CHECK(quant_label(head_only, 2) == "mixed");
  // A policy that applies to no unit is not part of the label.
  CHECK(quant_label(QuantSpec::uniform(2, 4, 8, 0, TokenAdaptivePolicy{8, 4, 0.5}), 2) == "W4A8");
  CHECK(quant_label(QuantSpec::uniform(2, 4, 4, 32, TokenAdaptivePolicy{8, 4, 0.5}), 2) ==
        "W4A4g32-TA8/4");
}

TEST_CASE("a setting that breaks a rule names itself, the rule and the grammar",
          "[model][setting]") {
  CHECK_THROWS_WITH(Setting::parse("fp32"),
                    Catch::Contains("'fp32'") && Catch::Contains("FP32, FP16, as-stored"));
  CHECK_THROWS_WITH(Setting::parse(""), Catch::Contains("W<w>A<a>"));
  CHECK_THROWS_WITH(Setting::parse("W4A8 "), Catch::Contains("'W4A8 '"));
  CHECK_THROWS_WITH(Setting::parse("W4A8-TA8/4"),
                    Catch::Contains("'W4A8-TA8/4'") && Catch::Contains("a_bits 4"));
  CHECK_THROWS_WITH(Setting::parse("W4A4-TA4/8"), Catch::Contains("high_bits > low_bits"));
  CHECK_THROWS_WITH(Setting::parse("W4A4-TA8/4@1.5"), Catch::Contains("not in [0, 1]"));
  CHECK_THROWS_WITH(Setting::parse("W4A4-TA8/4@0.2.5"), Catch::Contains("W<w>A<a>"));
  CHECK_THROWS_WITH(Setting::parse("WfpAfp"), Catch::Contains("nothing is quantized"));
  CHECK_THROWS_WITH(Setting::parse("W4A8-E0"), Catch::Contains("-E0"));
  CHECK_THROWS_WITH(Setting::parse("W4A8-E5"),
                    Catch::Contains("embedding") && Catch::Contains("w_bits 5"));
  CHECK_THROWS_WITH(Setting::parse("W4A6"), Catch::Contains("a_bits 6"));
  CHECK_THROWS_WITH(Setting::parse("W99999999999A8"), Catch::Contains("W<w>A<a>"));
  CHECK_THROWS_AS(Setting::parse("W16A8"), ConfigError);
}

}  // namespace
}  // namespace hilq::model
