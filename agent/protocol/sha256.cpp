// Artifact hashing on top of the runtime's SHA-256 (see sha256.h).
#include "agent/protocol/sha256.h"

#include <fstream>
#include <stdexcept>
#include <vector>

namespace hilq::protocol {

std::string sha256_hex(const std::string& bytes) {
  return runtime::sha256_hex(bytes.data(), bytes.size());
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + " to hash it");
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error("error while reading " + path);
  return h.hex();
}

}  // namespace hilq::protocol
