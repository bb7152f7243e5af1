// The strict JSON reader: every accessor checks presence, type and range and names the field, the
// value and the rule; the error class follows the reader's category.
#include <catch2/catch.hpp>

#include "base/json_reader.h"

using Catch::Matchers::Contains;
using hilq::ErrorCategory;
using hilq::JsonReader;
using nlohmann::json;

TEST_CASE("Fields of the right type and range are read; optional ones fall back", "[json]") {
  const json j = {{"cores", 4},
                  {"ratio", 0.5},
                  {"name", "pi5"},
                  {"on", true},
                  {"power", {{"backend", "rapl"}}},
                  {"features", {"neon", "dotprod"}}};
  const JsonReader r(j, "boards/pi5.json");
  CHECK(r.integer("cores", 1, 4096) == 4);
  CHECK(r.number("ratio", 0, 1) == 0.5);
  CHECK(r.number("cores") == 4.0);  // an integer is a number
  CHECK(r.string("name") == "pi5");
  CHECK(r.boolean("on"));
  CHECK(r.object("power").string("backend") == "rapl");
  CHECK(r.object("power").path() == "power.");
  CHECK_THROWS_WITH(r.object("power").integer("backend"),
                    "boards/pi5.json: field 'power.backend' = \"rapl\": must be an integer in "
                    "[-9223372036854775808, 9223372036854775807]");
  CHECK(r.array("features").size() == 2);
  CHECK(r.integer_or("agents", 1, 1, 256) == 1);
  CHECK(r.number_or("idle_s", 0.2) == 0.2);
  CHECK(r.string_or("launch", "") == "");
  CHECK_FALSE(r.boolean_or("emulated", false));
  CHECK_NOTHROW(r.reject_unknown({"cores", "ratio", "name", "on", "power", "features"}));
}

TEST_CASE("A missing, mistyped or out-of-range field names the field, the value and the rule",
          "[json]") {
  const json j = {
      {"cores", -1}, {"name", 7}, {"ratio", 2.5}, {"big", 1e300}, {"huge", 18446744073709551615ull},
      {"frac", 1.5}, {"x", 1}};
  const JsonReader r(j, "boards/pi5.json");
  CHECK_THROWS_AS(r.integer("cores", 1, 4096), hilq::ConfigError);
  CHECK_THROWS_WITH(r.integer("cores", 1, 4096),
                    "boards/pi5.json: field 'cores' = -1: must be an integer in [1, 4096]");
  CHECK_THROWS_WITH(r.integer("absent"), "boards/pi5.json: field 'absent': is missing");
  CHECK_THROWS_WITH(r.string("name"), Contains("field 'name' = 7: must be a string"));
  CHECK_THROWS_WITH(r.number("ratio", 0, 1), Contains("'ratio' = 2.5: must be a finite number"));
  CHECK_THROWS_WITH(r.integer("big"), Contains("must be an integer"));   // never UB on 1e300
  CHECK_THROWS_WITH(r.integer("huge"), Contains("must be an integer"));  // above INT64_MAX
  CHECK_THROWS_WITH(r.integer("frac"), Contains("must be an integer"));
  CHECK_THROWS_WITH(r.integer_or("cores", 2, 1, 8), Contains("'cores' = -1"));  // present: checked
  CHECK_THROWS_WITH(r.object("x"), Contains("must be an object"));
  CHECK_THROWS_WITH(r.reject_unknown({"cores", "name", "ratio", "big", "huge", "frac"}),
                    "boards/pi5.json: unknown field 'x'");
  CHECK_THROWS_WITH(JsonReader(json::array(), "HELLO"), Contains("HELLO: expected a JSON object"));
}

TEST_CASE("The reader's category picks the error class; hostile values are escaped and cut",
          "[json]") {
  const json j = {{"id", std::string("a\nFAKE LOG LINE\x1b[31m") + std::string(500, 'x')}};
  const JsonReader r(j, "HELLO", ErrorCategory::kProtocol);
  try {
    r.integer("id");
    FAIL("no error");
  } catch (const hilq::ProtocolError& e) {
    const std::string what = e.what();
    CHECK(what.find('\n') == std::string::npos);
    CHECK(what.find('\x1b') == std::string::npos);
    CHECK(what.size() < 200);
    CHECK(e.category() == ErrorCategory::kProtocol);
  }
  CHECK_THROWS_AS(JsonReader(j, "m.safetensors", ErrorCategory::kModel).integer("id"),
                  hilq::ModelError);
  CHECK(std::string(hilq::error_category_name(ErrorCategory::kProtocol)) == "protocol");
}
