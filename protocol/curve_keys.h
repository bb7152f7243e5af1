// CURVE key files and the farm's allow-list, as text (no sockets here; hil-keys makes the keys).
//
//   NAME.key  (mode 0600)          NAME.pub                 allow-list (host --allow FILE)
//   # hilq CURVE key pair          <public Z85> NAME        <public Z85> pi5-01
//   public = <40 chars of Z85>                              <public Z85> pixel-lab  # comment
//   secret = <40 chars of Z85>
#pragma once

#include <string>
#include <vector>

namespace hilq::protocol {

struct KeyPair {
  std::string public_z85;
  std::string secret_z85;
};

struct AllowedKey {
  std::string public_z85;
  std::string name;  // becomes the agent's authenticated user id
};

bool is_z85_key(const std::string& text);  // 40 characters of the Z85 alphabet

// Each throws ConfigError naming the file and line when it is unreadable or malformed.
KeyPair load_key_file(const std::string& path);
// A Z85 key given directly, or the public key in a .pub or .key file.
std::string load_public_key(const std::string& key_or_path);
std::vector<AllowedKey> load_allow_list(const std::string& path);

std::string format_key_file(const KeyPair& keys, const std::string& name);

// Keys of one run, made by hil-search for an agent it starts on this machine and handed over in
// that agent's environment (never on a command line, which every local user can read):
// "<agent public> <agent secret> <host public>", three Z85 keys.
inline constexpr const char* kSessionKeysEnv = "HILQ_SESSION_KEYS";
struct SessionKeys {
  KeyPair agent;
  std::string server_public_z85;
};
std::string format_session_keys(const SessionKeys& keys);
// Throws ConfigError (naming HILQ_SESSION_KEYS, never echoing the secret) when malformed.
SessionKeys parse_session_keys(const std::string& text);
std::string format_public_line(const std::string& public_z85, const std::string& name);

}  // namespace hilq::protocol
