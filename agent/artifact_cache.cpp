// Content-addressed artifact cache (see artifact_cache.h).
#include "agent/artifact_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "model/sha256.h"

namespace hilq::agent {
namespace {

namespace fs = std::filesystem;

}  // namespace

ArtifactCache::ArtifactCache(std::string dir, int64_t limit_bytes)
    : dir_(std::move(dir)), limit_bytes_(limit_bytes) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (!fs::is_directory(dir_))
    throw ArtifactError("cannot create the artifact cache folder " + dir_ + ": " + ec.message());
}

std::string ArtifactCache::default_dir() {
  if (const char* d = std::getenv("HILQ_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/hilq/artifacts";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/hilq/artifacts";
  return "/tmp/hilq-artifacts-" + std::to_string(getuid());
}

std::optional<std::string> ArtifactCache::lookup(const std::string& sha256) {
  if (!protocol::is_sha256_hex(sha256)) return std::nullopt;
  const fs::path path = fs::path(dir_) / sha256;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // LRU by mtime
  return path.string();
}

void ArtifactCache::begin(const std::string& sha256) {
  abort();
  if (!protocol::is_sha256_hex(sha256)) throw ArtifactError("'" + sha256 + "' is not a sha256");
  sha_ = sha256;
  received_ = 0;
  expected_total_ = -1;
  partial_.open(fs::path(dir_) / (".partial-" + sha256), std::ios::binary | std::ios::trunc);
  if (!partial_) throw ArtifactError("cannot write into the artifact cache " + dir_);
}

bool ArtifactCache::append(const protocol::ArtifactChunk& c) {
  if (sha_.empty() || c.sha256 != sha_)
    throw ArtifactError("chunk of artifact " + c.sha256.substr(0, 12) + " while downloading " +
                        (sha_.empty() ? "nothing" : sha_.substr(0, 12)));
  if (c.offset != received_)
    throw ArtifactError("chunk at offset " + std::to_string(c.offset) + ", expected " +
                        std::to_string(received_));
  if (expected_total_ >= 0 && c.total_bytes != expected_total_)
    throw ArtifactError("artifact size changed from " + std::to_string(expected_total_) + " to " +
                        std::to_string(c.total_bytes) + " mid-download");
  if (c.total_bytes > limit_bytes_)
    throw ArtifactError("artifact of " + std::to_string(c.total_bytes) +
                        " bytes is larger than the cache limit of " + std::to_string(limit_bytes_));
  if (c.data.empty() && c.offset < c.total_bytes)
    throw ArtifactError("empty chunk before the end of the artifact");
  expected_total_ = c.total_bytes;
  partial_.write(c.data.data(), static_cast<std::streamsize>(c.data.size()));
  if (!partial_) throw ArtifactError("cannot write into the artifact cache " + dir_);
  received_ += static_cast<int64_t>(c.data.size());
  return received_ == expected_total_;
}

std::string ArtifactCache::finish() {
  partial_.close();
  const fs::path partial = fs::path(dir_) / (".partial-" + sha_);
  const std::string got = model::sha256_file(partial.string());
  const std::string want = sha_;
  if (got != want) {
    abort();
    throw ArtifactError("artifact " + want.substr(0, 12) + " failed verification: sha256 " +
                        got.substr(0, 12) + "... of the received bytes");
  }
  const fs::path final_path = fs::path(dir_) / want;
  fs::rename(partial, final_path);
  sha_.clear();
  evict(want);
  return final_path.string();
}

void ArtifactCache::abort() {
  if (partial_.is_open()) partial_.close();
  if (!sha_.empty()) {
    std::error_code ec;
    fs::remove(fs::path(dir_) / (".partial-" + sha_), ec);
  }
  sha_.clear();
  received_ = 0;
}

int64_t ArtifactCache::total_bytes() const {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_regular_file() && protocol::is_sha256_hex(e.path().filename().string()))
      total += static_cast<int64_t>(e.file_size());
  return total;
}

void ArtifactCache::evict(const std::string& keep) {
  struct Entry {
    fs::path path;
    fs::file_time_type mtime;
    int64_t bytes;
  };
  std::vector<Entry> entries;
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (!e.is_regular_file() || !protocol::is_sha256_hex(e.path().filename().string())) continue;
    entries.push_back({e.path(), e.last_write_time(), static_cast<int64_t>(e.file_size())});
    total += entries.back().bytes;
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.mtime < b.mtime; });
  for (const auto& e : entries) {
    if (total <= limit_bytes_) break;
    if (e.path.filename() == keep) continue;
    fs::remove(e.path, ec);
    if (!ec) total -= e.bytes;
  }
}

}  // namespace hilq::agent
