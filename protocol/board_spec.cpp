// Board file parsing and the HELLO-versus-board check (see board_spec.h).
#include "protocol/board_spec.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/json_reader.h"

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

std::string non_empty_string(const JsonReader& r, const char* name, const char* rule) {
  std::string s = r.string(name);
  if (s.empty()) r.fail(name, rule);
  return s;
}

}  // namespace

BoardSpec parse_board_spec(const json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": a board file must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (!kFields.count(key)) fail(source, key, "is not a board field (typo?)");
  const JsonReader r(j, source);
  BoardSpec b;
  b.name = non_empty_string(r, "name", "must be a non-empty string");
  b.arch = r.string("arch");
  if (!kArchs.count(b.arch)) r.fail("arch", "must be x86_64 or aarch64");
  for (const json& f : r.array("features", 256)) {
    if (!f.is_string()) r.fail("features", "must be an array of strings");
    b.features.push_back(f.get<std::string>());
  }
  b.cores = static_cast<int>(r.integer("cores", 1, 4096));
  b.memory_mb = static_cast<int>(r.integer("memory_mb", 1, 1 << 24));
  const JsonReader power = r.object("power");
  if (!power.has("backend"))
    fail(source, "power.backend", "is missing (rapl, hwmon, pi5-pmic, android or none)");
  b.power.backend = power.string("backend");
  if (!kPowerBackends.count(b.power.backend))
    power.fail("backend", "must be one of rapl, hwmon, pi5-pmic, android, none");
  b.power.options = power.json();
  b.power.options.erase("backend");
  b.threads = static_cast<int>(r.integer("threads", 1, 4096));
  if (r.has("launch"))
    b.launch = non_empty_string(r, "launch", "must be a non-empty command string");
  b.emulated = r.boolean_or("emulated", b.emulated);
  b.agents = static_cast<int>(r.integer_or("agents", b.agents, 1, 256));
  b.pin = r.string_or("pin", b.pin);
  b.idle_s = r.number_or("idle_s", b.idle_s, 0, 10);
  b.description = r.string_or("description", b.description);
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
