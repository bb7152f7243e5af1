// Key file and allow-list parsing (see curve_keys.h).
#include "protocol/curve_keys.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "protocol/board_spec.h"

namespace hilq::protocol {
namespace {

constexpr const char* kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the key file (" + std::strerror(errno) + ")");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string w;
  // '#' starts a comment, unless the word is a key (Z85 uses '#' too).
  while (in >> w) {
    if (w[0] == '#' && !is_z85_key(w)) break;
    out.push_back(w);
  }
  return out;
}

}  // namespace

bool is_z85_key(const std::string& text) {
  if (text.size() != 40) return false;
  for (char c : text)
    if (c == '\0' || !std::strchr(kZ85Alphabet, c)) return false;
  return true;
}

KeyPair load_key_file(const std::string& path) {
  KeyPair keys;
  const auto lines = read_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto w = words(lines[i]);
    if (w.empty()) continue;
    if (w.size() != 3 || w[1] != "=" || (w[0] != "public" && w[0] != "secret"))
      throw ConfigError(path + ":" + std::to_string(i + 1) +
                        ": expected 'public = KEY' or 'secret = KEY'");
    if (!is_z85_key(w[2]))
      throw ConfigError(path + ":" + std::to_string(i + 1) + ": " + w[0] +
                        " key is not 40 characters of Z85");
    (w[0] == "public" ? keys.public_z85 : keys.secret_z85) = w[2];
  }
  if (keys.public_z85.empty() || keys.secret_z85.empty())
    throw ConfigError(path +
                      ": a key file needs both 'public =' and 'secret =' lines "
                      "(make one with hil-keys)");
  return keys;
}

std::string load_public_key(const std::string& key_or_path) {
  if (is_z85_key(key_or_path)) return key_or_path;
  const auto lines = read_lines(key_or_path);
  for (const auto& line : lines) {
    const auto w = words(line);
    if (w.size() == 3 && w[0] == "public" && w[1] == "=" && is_z85_key(w[2])) return w[2];
    if (!w.empty() && is_z85_key(w[0])) return w[0];
  }
  throw ConfigError(key_or_path +
                    ": no public key in it (expected a .pub or .key file from "
                    "hil-keys, or 40 characters of Z85)");
}

std::vector<AllowedKey> load_allow_list(const std::string& path) {
  std::vector<AllowedKey> out;
  const auto lines = read_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto w = words(lines[i]);
    if (w.empty()) continue;
    if (!is_z85_key(w[0]) || w.size() > 2)
      throw ConfigError(path + ":" + std::to_string(i + 1) +
                        ": expected '<40-character Z85 public key> [name]'");
    out.push_back({w[0], w.size() == 2 ? w[1] : w[0].substr(0, 8)});
  }
  return out;
}

std::string format_key_file(const KeyPair& keys, const std::string& name) {
  return "# hilq CURVE key pair '" + name + "', made by hil-keys: keep this file secret\n" +
         "public = " + keys.public_z85 + "\nsecret = " + keys.secret_z85 + "\n";
}

std::string format_public_line(const std::string& public_z85, const std::string& name) {
  return public_z85 + " " + name + "\n";
}

}  // namespace hilq::protocol

namespace hilq::protocol {

std::string format_session_keys(const SessionKeys& keys) {
  return keys.agent.public_z85 + " " + keys.agent.secret_z85 + " " + keys.server_public_z85;
}

SessionKeys parse_session_keys(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> w;
  for (std::string word; in >> word;) w.push_back(word);
  if (w.size() != 3 || !is_z85_key(w[0]) || !is_z85_key(w[1]) || !is_z85_key(w[2]))
    throw ConfigError(std::string(kSessionKeysEnv) +
                      ": expected three 40-character Z85 keys (agent public, agent secret, host "
                      "public)");
  return {{w[0], w[1]}, w[2]};
}

}  // namespace hilq::protocol
