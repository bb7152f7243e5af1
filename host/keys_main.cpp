// hil-keys: makes CURVE key pairs for the host and the agents of a board farm.
#include <sys/stat.h>
#include <zmq.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "protocol/board_spec.h"
#include "protocol/curve_keys.h"

namespace {

constexpr const char* kUsage = R"(usage: hil-keys generate NAME [--dir DIR]
       hil-keys public KEYFILE

generate  writes DIR/NAME.key (the key pair, mode 0600: keep it on the machine that uses it)
          and DIR/NAME.pub (one line '<public key> NAME'); DIR defaults to the current folder.
          Refuses to overwrite an existing key.
public    prints the allow-list line of a key file.

A farm: `hil-keys generate host`, `hil-keys generate pi5-01`, ...; append the agents' .pub
lines to an allow-list file; run `hil-search --curve-key host.key --allow allow.txt` and
`hil-agent --curve-key pi5-01.key --server-key host.pub`.
)";

namespace proto = hilq::protocol;
namespace fs = std::filesystem;

int generate(const std::string& name, const std::string& dir) {
  if (name.empty() || name.find_first_of("/ \t") != std::string::npos) {
    std::fprintf(stderr, "hil-keys: NAME must be a non-empty word, not '%s'\n", name.c_str());
    return 2;
  }
  if (!zmq_has("curve")) {
    std::fprintf(stderr, "hil-keys: this libzmq was built without CURVE support\n");
    return 1;
  }
  const fs::path key = fs::path(dir) / (name + ".key"), pub = fs::path(dir) / (name + ".pub");
  if (fs::exists(key)) {
    std::fprintf(stderr, "hil-keys: %s exists; not overwriting a key\n", key.c_str());
    return 1;
  }
  char public_z85[41] = {0}, secret_z85[41] = {0};
  if (zmq_curve_keypair(public_z85, secret_z85) != 0) {
    std::fprintf(stderr, "hil-keys: zmq_curve_keypair failed: %s\n", zmq_strerror(zmq_errno()));
    return 1;
  }
  {
    const mode_t old = umask(077);
    std::ofstream out(key);
    out << proto::format_key_file({public_z85, secret_z85}, name);
    umask(old);
    if (!out) {
      std::fprintf(stderr, "hil-keys: cannot write %s\n", key.c_str());
      return 1;
    }
  }
  chmod(key.c_str(), 0600);
  std::ofstream(pub) << proto::format_public_line(public_z85, name);
  std::printf("%s\n%s\n", key.c_str(), pub.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "--help" || cmd == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (cmd == "generate" && (argc == 3 || (argc == 5 && std::string(argv[3]) == "--dir")))
      return generate(argv[2], argc == 5 ? argv[4] : ".");
    if (cmd == "public" && argc == 3) {
      const proto::KeyPair keys = proto::load_key_file(argv[2]);
      std::fputs(
          proto::format_public_line(keys.public_z85, fs::path(argv[2]).stem().string()).c_str(),
          stdout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-keys: %s\n", e.what());
    return 1;
  }
  std::fputs(kUsage, stderr);
  return 2;
}
