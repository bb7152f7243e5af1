// hil-keys: makes CURVE key pairs for the host and the agents of a board farm. Parses the
// command line (CLI11): subcommands generate and public.
#include <sys/stat.h>
#include <zmq.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/cli.h"
#include "protocol/curve_keys.h"

namespace {

namespace proto = hilq::protocol;
namespace fs = std::filesystem;

// NAME is a non-empty word (checked by the parser).
int generate(const std::string& name, const std::string& dir) {
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

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Makes CURVE key pairs for the host and the agents of a board farm.", "hil-keys"};
  hilq::cli::configure(app);
  app.require_subcommand(1);
  app.footer(
      R"(A farm: `hil-keys generate host`, `hil-keys generate pi5-01`, ...; append the agents' .pub
lines to an allow-list file; run `hil-search --curve-key host.key --allow allow.txt` and
`hil-agent --curve-key pi5-01.key --server-key host.pub`.)");

  std::string name, dir = ".", key_file;
  CLI::App* gen = app.add_subcommand(
      "generate",
      "writes DIR/NAME.key (the key pair, mode 0600: keep it on the machine that uses it)\n"
      "and DIR/NAME.pub (one line '<public key> NAME'); DIR defaults to the current folder.\n"
      "Refuses to overwrite an existing key.");
  gen->add_option("NAME", name, "the key's name: a non-empty word (host, pi5-01, ...)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            if (value.empty() || value.find_first_of("/ \t") != std::string::npos)
              return "must be a non-empty word, not '" + value + "'";
            return {};
          },
          ""));
  gen->add_option("--dir", dir, "where the files go (default the current folder)")
      ->type_name("DIR");
  CLI::App* pub = app.add_subcommand("public", "prints the allow-list line of a key file.");
  pub->add_option("KEYFILE", key_file, "a key file from hil-keys generate")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  try {
    if (gen->parsed()) return generate(name, dir);
    const proto::KeyPair keys = proto::load_key_file(key_file);
    std::fputs(
        proto::format_public_line(keys.public_z85, fs::path(key_file).stem().string()).c_str(),
        stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-keys: %s\n", e.what());
    return hilq::cli::exit_code(e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-keys", [&] { return run(argc, argv); });
}
