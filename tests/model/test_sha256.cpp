// SHA-256 (model/sha256.h) against the FIPS 180-4 test vectors.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "model/sha256.h"

namespace hilq {
namespace {

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[model][sha256]") {
  CHECK(model::sha256_hex("", 0) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(model::sha256_hex("abc", 3) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(model::sha256_hex(two.data(), two.size()) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  model::Sha256 h;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(a.data(), a.size());
  CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 gives the same digest on the accelerated and the portable path",
          "[model][sha256]") {
  INFO("this CPU's accelerated path: " << (model::Sha256::cpu_accelerated() ? "SHA-NI" : "none"));
  std::mt19937 rng(5);
  std::vector<uint8_t> data(5000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  // Lengths around the block and padding boundaries, fed in uneven pieces.
  for (size_t n : {0, 1, 55, 56, 63, 64, 65, 119, 128, 1000, 4999}) {
    for (size_t piece : {1, 7, 64, 100, 5000}) {
      CAPTURE(n, piece);
      model::Sha256 fast, slow(false);
      for (size_t at = 0; at < n; at += piece) {
        fast.update(data.data() + at, std::min(piece, n - at));
        slow.update(data.data() + at, std::min(piece, n - at));
      }
      CHECK(fast.hex() == slow.hex());
    }
  }
  model::Sha256 slow(false);
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) slow.update(a.data(), a.size());
  CHECK(slow.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace hilq
