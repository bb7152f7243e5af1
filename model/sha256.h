// SHA-256 (FIPS 180-4): model-file integrity checks and content-addressed artifacts (the host names
// each artifact by the hash of its bytes; the agent verifies what it received). No dependency
// beyond the C++ library, so everything above it stays cross-compilable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace hilq::model {

class Sha256 {
 public:
  // accelerated: use the CPU's SHA extensions when it has them (x86 SHA-NI); the digest is the
  // same either way (false: the portable code, for tests).
  explicit Sha256(bool accelerated = true);
  // Whether this CPU runs the accelerated path.
  static bool cpu_accelerated();
  void update(const void* data, size_t n);
  std::array<uint8_t, 32> digest();  // finishes the hash; call once
  std::string hex();                 // digest() as 64 lowercase hex digits

 private:
  void blocks(const uint8_t* p, size_t count);
  void block(const uint8_t* p);
  uint32_t h_[8];
  bool sha_ni_ = false;
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, size_t n);
std::string sha256_hex(const std::string& bytes);
// Throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace hilq::model
