// Board file parsing and the HELLO-versus-board check (see board_spec.h).
#include "protocol/board_spec.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace hilq::protocol {
namespace {

using nlohmann::json;

const std::set<std::string> kArchs = {"x86_64", "aarch64"};
const std::set<std::string> kPowerBackends = {"rapl", "hwmon", "pi5-pmic", "android", "none"};
const std::set<std::string> kFields = {"name",   "arch",    "features", "cores",    "memory_mb",
                                       "power",  "threads", "launch",   "emulated", "description",
                                       "agents", "pin",     "idle_s"};

[[noreturn]] void fail(const std::string& source, const std::string& field,
                       const std::string& rule) {
  throw ConfigError(source + ": field '" + field + "' " + rule);
}

const json& require(const json& j, const std::string& source, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) fail(source, name, "is missing");
  return *it;
}

std::string require_string(const json& j, const std::string& source, const char* name) {
  const json& v = require(j, source, name);
  if (!v.is_string() || v.get<std::string>().empty())
    fail(source, name, "must be a non-empty string");
  return v.get<std::string>();
}

int require_int(const json& j, const std::string& source, const char* name, int lo, int hi) {
  const json& v = require(j, source, name);
  if (!v.is_number_integer()) fail(source, name, "must be an integer");
  const auto x = v.get<long long>();
  if (x < lo || x > hi)
    fail(source, name,
         "is " + std::to_string(x) + ", outside [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
  return static_cast<int>(x);
}

}  // namespace

BoardSpec parse_board_spec(const json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": a board file must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (!kFields.count(key)) fail(source, key, "is not a board field (typo?)");
  BoardSpec b;
  b.name = require_string(j, source, "name");
  b.arch = require_string(j, source, "arch");
  if (!kArchs.count(b.arch))
    fail(source, "arch", "must be x86_64 or aarch64, not '" + b.arch + "'");
  const json& features = require(j, source, "features");
  if (!features.is_array()) fail(source, "features", "must be an array of strings");
  for (const json& f : features) {
    if (!f.is_string()) fail(source, "features", "must be an array of strings");
    b.features.push_back(f.get<std::string>());
  }
  b.cores = require_int(j, source, "cores", 1, 4096);
  b.memory_mb = require_int(j, source, "memory_mb", 1, 1 << 24);
  const json& power = require(j, source, "power");
  if (!power.is_object()) fail(source, "power", "must be an object with a 'backend'");
  auto backend = power.find("backend");
  if (backend == power.end() || !backend->is_string())
    fail(source, "power.backend", "is missing (rapl, hwmon, pi5-pmic, android or none)");
  b.power.backend = backend->get<std::string>();
  if (!kPowerBackends.count(b.power.backend))
    fail(source, "power.backend",
         "must be one of rapl, hwmon, pi5-pmic, android, none, not '" + b.power.backend + "'");
  b.power.options = power;
  b.power.options.erase("backend");
  b.threads = require_int(j, source, "threads", 1, 4096);
  if (auto it = j.find("launch"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>().empty())
      fail(source, "launch", "must be a non-empty command string");
    b.launch = it->get<std::string>();
  }
  if (auto it = j.find("emulated"); it != j.end()) {
    if (!it->is_boolean()) fail(source, "emulated", "must be true or false");
    b.emulated = it->get<bool>();
  }
  if (j.contains("agents")) b.agents = require_int(j, source, "agents", 1, 256);
  if (auto it = j.find("pin"); it != j.end()) {
    if (!it->is_string()) fail(source, "pin", "must be a CPU list string such as \"2-3\"");
    b.pin = it->get<std::string>();
  }
  if (auto it = j.find("idle_s"); it != j.end()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 10)
      fail(source, "idle_s", "must be a number of seconds in [0, 10]");
    b.idle_s = it->get<double>();
  }
  if (auto it = j.find("description"); it != j.end()) {
    if (!it->is_string()) fail(source, "description", "must be a string");
    b.description = it->get<std::string>();
  }
  return b;
}

BoardSpec load_board_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open board file");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ConfigError(path + ": not valid JSON");
  BoardSpec b = parse_board_spec(j, path);
  const std::string stem = std::filesystem::path(path).stem().string();
  if (b.name != stem) fail(path, "name", "is '" + b.name + "' but the file is named " + stem);
  return b;
}

json agent_settings(const BoardSpec& board) {
  json power = board.power.options;
  power["backend"] = board.power.backend;
  return {{"power", power}, {"pin", board.pin}, {"idle_s", board.idle_s}};
}

std::vector<std::string> list_boards(const std::string& boards_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(boards_dir, ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

BoardSpec load_board(const std::string& boards_dir, const std::string& name) {
  const auto known = list_boards(boards_dir);
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw ConfigError("unknown board '" + name + "'; known boards in " + boards_dir + ": " +
                      (list.empty() ? "(none)" : list));
  }
  return load_board_file((std::filesystem::path(boards_dir) / (name + ".json")).string());
}

std::optional<std::string> check_agent_against_board(const BoardSpec& board,
                                                     const std::string& arch,
                                                     const std::vector<std::string>& features,
                                                     int cores, long long memory_bytes) {
  if (arch != board.arch)
    return "agent runs on " + arch + " but board '" + board.name + "' is " + board.arch;
  std::string missing;
  for (const auto& f : board.features)
    if (std::find(features.begin(), features.end(), f) == features.end())
      missing += (missing.empty() ? "" : ", ") + f;
  if (!missing.empty())
    return "agent's CPU lacks features the board file '" + board.name + "' expects: " + missing;
  if (cores < board.cores)
    return "agent reports " + std::to_string(cores) + " cores, board '" + board.name +
           "' expects at least " + std::to_string(board.cores);
  const long long expected = static_cast<long long>(board.memory_mb) * 1024 * 1024 * 85 / 100;
  if (memory_bytes < expected)
    return "agent reports " + std::to_string(memory_bytes >> 20) + " MiB of memory, board '" +
           board.name + "' expects about " + std::to_string(board.memory_mb) + " MiB";
  return std::nullopt;
}

}  // namespace hilq::protocol
