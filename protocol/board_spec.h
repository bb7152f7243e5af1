// Board files (boards/NAME.json): what a board is expected to be, how to power-measure it and how
// to start an agent for it. Parsing is strict: a missing or mistyped field is a ConfigError that
// names the file and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace hilq::protocol {

struct PowerSpec {
  std::string backend;                                // rapl | hwmon | pi5-pmic | android | none
  nlohmann::json options = nlohmann::json::object();  // backend-specific paths
};

struct BoardSpec {
  std::string name;
  std::string arch;                   // x86_64 | aarch64
  std::vector<std::string> features;  // must all be detected by the agent
  int cores = 0;                      // minimum core count the agent must report
  int memory_mb = 0;                  // nominal memory; the agent must report >= 85% of it
  PowerSpec power;
  int threads = 1;                    // threads the kernels use on this board
  std::optional<std::string> launch;  // command template that starts an agent (see boards/README)
  bool emulated = false;              // qemu: timings are never reported as board timings
  int agents = 1;                     // agents the launch command starts ({id} = NAME-1..N)
  std::string pin;                    // CPUs the agent pins measured jobs to ("2-3"), or ""
  double idle_s = 0.2;                // idle power baseline window before each measured job
  std::string description;
};

// The measurement settings an agent gets in WELCOME: {"power": {...}, "pin": .., "idle_s": ..}.
nlohmann::json agent_settings(const BoardSpec& board);

// `source` names the file in error messages.
BoardSpec parse_board_spec(const nlohmann::json& j, const std::string& source);
BoardSpec load_board_file(const std::string& path);

// Boards in a folder, sorted by name; load_board() of an unknown name throws ConfigError listing
// the known ones.
std::vector<std::string> list_boards(const std::string& boards_dir);
BoardSpec load_board(const std::string& boards_dir, const std::string& name);

// Why an agent's HELLO does not match the board file, or nullopt when it does.
std::optional<std::string> check_agent_against_board(const BoardSpec& board,
                                                     const std::string& arch,
                                                     const std::vector<std::string>& features,
                                                     int cores, long long memory_bytes);

}  // namespace hilq::protocol
