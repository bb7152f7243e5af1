// SHA-256 (FIPS 180-4) for content-addressed artifacts: the host names each artifact by the hash
// of its bytes, and the agent verifies what it received before caching it.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace hilq::protocol {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(const std::string& bytes) { update(bytes.data(), bytes.size()); }
  // Lowercase hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// Throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace hilq::protocol
