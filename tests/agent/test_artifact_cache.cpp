// The agent's artifact cache: chunked download, sha256 verification, LRU eviction by size.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/artifact_cache.h"
#include "model/sha256.h"

using namespace hilq::agent;
namespace proto = hilq::protocol;
namespace model = hilq::model;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("hilq_cache_" + std::to_string(getpid()));
  TempDir() { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string fill(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 31);
  return s;
}

void download(ArtifactCache& cache, const std::string& content, const std::string& sha,
              size_t chunk = 1000) {
  cache.begin(sha);
  for (size_t off = 0; off < content.size() || off == 0; off += chunk) {
    const bool done =
        cache.append({sha, static_cast<int64_t>(off), static_cast<int64_t>(content.size()),
                      content.substr(off, chunk)});
    if (done) break;
  }
  cache.finish();
}

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 examples", "[artifact]") {
  CHECK(model::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(model::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(model::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(model::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("A chunked download is verified before it enters the cache", "[artifact]") {
  TempDir dir;
  ArtifactCache cache(dir.path.string(), 1 << 20);
  const std::string content = fill(4500, 'a');
  const std::string sha = model::sha256_hex(content);
  CHECK_FALSE(cache.lookup(sha));
  download(cache, content, sha);
  const auto path = cache.lookup(sha);
  REQUIRE(path);
  CHECK(model::sha256_file(*path) == sha);

  // Corrupt bytes: rejected, and nothing is left behind.
  std::string bad = content;
  bad[100] ^= 1;
  const std::string claimed = model::sha256_hex(fill(4500, 'b'));
  cache.begin(claimed);
  REQUIRE(cache.append({claimed, 0, 4500, bad.substr(0, 4500)}));
  CHECK_THROWS_WITH(cache.finish(), Contains("failed verification"));
  CHECK_FALSE(cache.lookup(claimed));
  for (const auto& e : fs::directory_iterator(dir.path))
    CHECK(e.path().filename().string().rfind(".partial", 0) != 0);

  // Out-of-order chunks are refused.
  cache.begin(claimed);
  CHECK_THROWS_WITH(cache.append({claimed, 1000, 4500, "x"}), Contains("expected 0"));
}

TEST_CASE("The cache stays under its size limit by evicting the least recently used",
          "[artifact]") {
  TempDir dir;
  ArtifactCache cache(dir.path.string(), 10000);
  std::vector<std::string> shas;
  for (char seed : {'a', 'b', 'c'}) {
    const std::string content = fill(4000, seed);
    shas.push_back(model::sha256_hex(content));
    download(cache, content, shas.back());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // distinct mtimes
    if (seed == 'b') CHECK(cache.lookup(shas[0]));  // 'a' used again: 'b' is now the oldest
  }
  CHECK(cache.total_bytes() <= 10000);
  CHECK(cache.lookup(shas[0]));
  CHECK_FALSE(cache.lookup(shas[1]));
  CHECK(cache.lookup(shas[2]));
  // Larger than the whole cache: refused up front.
  cache.begin(shas[1]);
  CHECK_THROWS_WITH(cache.append({shas[1], 0, 20000, "x"}),
                    Contains("larger than the cache limit"));
}
