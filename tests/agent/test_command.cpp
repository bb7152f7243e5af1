// Sensor commands run as a fixed argv: shell syntax in a word is just text, never executed.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "agent/command.h"

using namespace hilq::agent;
using Catch::Matchers::Contains;

TEST_CASE("A command's words reach the program as they are, with no shell in between",
          "[command]") {
  const auto marker =
      std::filesystem::temp_directory_path() / ("hilq-command-marker-" + std::to_string(getpid()));
  std::filesystem::remove(marker);
  const auto out = run_command_argv({"echo", "a; touch " + marker.string(), "$(id)", "|", "b"});
  CHECK(out.exit_code == 0);
  CHECK(out.output == "a; touch " + marker.string() + " $(id) | b\n");
  CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE("A command's exit code and stderr come back; a missing program or a hang is an error",
          "[command]") {
  const auto failed = run_command_argv({"ls", "/hilq-no-such-dir"});
  CHECK(failed.exit_code != 0);
  CHECK_THAT(failed.output, Contains("hilq-no-such-dir"));
  CHECK_THROWS_WITH(run_command_argv({"hilq-no-such-program"}), Contains("could not be run"));
  CHECK_THROWS_WITH(run_command_argv({"sleep", "5"}, 200), Contains("killed"));
  const auto big = run_command_argv({"head", "-c", "100000", "/dev/zero"}, 5000, 1000);
  CHECK(big.output.size() == 1000);
}

TEST_CASE("A board-side command flag splits on blanks only", "[command]") {
  CHECK(split_command_words("vcgencmd  pmic_read_adc") ==
        std::vector<std::string>{"vcgencmd", "pmic_read_adc"});
  CHECK(split_command_words("a;b c") == std::vector<std::string>{"a;b", "c"});
  CHECK_THROWS(split_command_words("  "));
}
