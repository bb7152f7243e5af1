// Board files: the shipped ones parse; a missing or wrong field names the file and the field.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "protocol/board_spec.h"

namespace proto = hilq::protocol;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

json valid_board() {
  return {{"name", "toy"}, {"arch", "aarch64"}, {"features", {"neon", "dotprod"}},
          {"cores", 4},    {"memory_mb", 8192}, {"power", {{"backend", "none"}}},
          {"threads", 4},  {"emulated", false}};
}

}  // namespace

TEST_CASE("Every shipped board file is valid", "[boards]") {
  const std::string dir = HILQ_SOURCE_DIR "/boards";
  const auto names = proto::list_boards(dir);
  for (const char* expected : {"local", "pi5", "pixel", "pi5-qemu"})
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  for (const auto& name : names) {
    CAPTURE(name);
    const proto::BoardSpec b = proto::load_board(dir, name);
    CHECK(b.name == name);
    CHECK(b.threads >= 1);
  }
  CHECK(proto::load_board(dir, "pi5-qemu").emulated);
  CHECK_FALSE(proto::load_board(dir, "pi5").emulated);
}

TEST_CASE("A board file with a missing or wrong field is rejected naming file and field",
          "[boards]") {
  const std::string src = "boards/toy.json";
  CHECK_NOTHROW(proto::parse_board_spec(valid_board(), src));
  for (const char* field : {"name", "arch", "features", "cores", "memory_mb", "power", "threads"}) {
    CAPTURE(field);
    json j = valid_board();
    j.erase(field);
    CHECK_THROWS_WITH(proto::parse_board_spec(j, src),
                      Contains(src) && Contains(std::string("'") + field + "'"));
  }
  json j = valid_board();
  j["arch"] = "riscv64";
  CHECK_THROWS_WITH(proto::parse_board_spec(j, src), Contains("'arch'"));
  j = valid_board();
  j["cores"] = "4";
  CHECK_THROWS_WITH(proto::parse_board_spec(j, src), Contains("'cores'"));
  j = valid_board();
  j["power"] = {{"backend", "multimeter"}};
  CHECK_THROWS_WITH(proto::parse_board_spec(j, src), Contains("power.backend"));
  j = valid_board();
  j["featrues"] = json::array();
  CHECK_THROWS_WITH(proto::parse_board_spec(j, src), Contains("'featrues'"));
  j = valid_board();
  j["emulated"] = "yes";
  CHECK_THROWS_WITH(proto::parse_board_spec(j, src), Contains("'emulated'"));
}

TEST_CASE("An unknown board name lists the known boards", "[boards]") {
  CHECK_THROWS_WITH(proto::load_board(HILQ_SOURCE_DIR "/boards", "pi4"),
                    Contains("unknown board 'pi4'") && Contains("pi5") && Contains("local"));
}

TEST_CASE("A board file whose name differs from its file name is rejected", "[boards]") {
  const auto dir = std::filesystem::temp_directory_path() / "hilq_test_boards";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "other.json") << valid_board().dump();
  CHECK_THROWS_WITH(proto::load_board_file((dir / "other.json").string()),
                    Contains("other.json") && Contains("'name'"));
  std::ofstream(dir / "broken.json") << "{\"name\": ";
  CHECK_THROWS_WITH(proto::load_board_file((dir / "broken.json").string()),
                    Contains("broken.json") && Contains("not valid JSON"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("An agent's HELLO is checked against its board file", "[boards]") {
  const proto::BoardSpec b = proto::parse_board_spec(valid_board(), "toy.json");
  const long long gib8 = 8ll << 30;
  CHECK_FALSE(proto::check_agent_against_board(b, "aarch64", {"neon", "dotprod", "i8mm"}, 4, gib8));
  CHECK(
      proto::check_agent_against_board(b, "x86_64", {"neon", "dotprod"}, 4, gib8)->find("x86_64") !=
      std::string::npos);
  CHECK(proto::check_agent_against_board(b, "aarch64", {"neon"}, 4, gib8)->find("dotprod") !=
        std::string::npos);
  CHECK(
      proto::check_agent_against_board(b, "aarch64", {"neon", "dotprod"}, 2, gib8)->find("cores") !=
      std::string::npos);
  CHECK(proto::check_agent_against_board(b, "aarch64", {"neon", "dotprod"}, 4, 1ll << 30)
            ->find("memory") != std::string::npos);
}

TEST_CASE("Board files may set agents, pin and idle_s; WELCOME carries them to the agent",
          "[boards]") {
  using Catch::Matchers::Contains;
  nlohmann::json j = {
      {"name", "farm"}, {"arch", "x86_64"}, {"features", nlohmann::json::array()},
      {"cores", 1},     {"memory_mb", 1},   {"power", {{"backend", "hwmon"}, {"device", "ina219"}}},
      {"threads", 1},   {"agents", 4},      {"pin", "2-3"},
      {"idle_s", 0.5}};
  const auto b = hilq::protocol::parse_board_spec(j, "farm.json");
  CHECK(b.agents == 4);
  CHECK(b.pin == "2-3");
  const auto settings = hilq::protocol::agent_settings(b);
  CHECK(settings["power"]["backend"] == "hwmon");
  CHECK(settings["power"]["device"] == "ina219");
  CHECK(settings["idle_s"] == 0.5);
  j["agents"] = 0;
  CHECK_THROWS_WITH(hilq::protocol::parse_board_spec(j, "farm.json"), Contains("'agents'"));
}
