// The agent's on-disk artifact cache: files named by their sha256, filled from ARTIFACT chunks,
// hashed once on arrival (then trusted: jobs never hash them again), kept under a size limit by
// evicting the least recently used. A partial or corrupt download never replaces a good file.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include "protocol/message.h"

namespace hilq::agent {

class ArtifactError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ArtifactCache {
 public:
  // Creates dir if needed; throws ArtifactError when it cannot.
  ArtifactCache(std::string dir, int64_t limit_bytes);

  // Path of a cached, verified artifact (and marks it recently used), or nullopt.
  std::optional<std::string> lookup(const std::string& sha256);

  // Download of one artifact at a time: begin, append chunks in order, then finish().
  void begin(const std::string& sha256);
  // Returns true when the chunk completed the file. Throws ArtifactError on a chunk for another
  // artifact, a gap or overlap, or a size that changed mid-way.
  bool append(const protocol::ArtifactChunk& chunk);
  int64_t received_bytes() const { return received_; }
  const std::string& downloading() const { return sha_; }
  // Verifies the sha256, moves the file into place, evicts to the limit; returns its path.
  // Throws ArtifactError (and deletes the partial file) on a hash mismatch.
  std::string finish();
  void abort();

  int64_t total_bytes() const;  // bytes of verified files in the cache
  const std::string& dir() const { return dir_; }

  static std::string default_dir();

 private:
  void evict(const std::string& keep);
  std::string dir_;
  int64_t limit_bytes_;
  std::string sha_;
  std::ofstream partial_;
  int64_t received_ = 0;
  int64_t expected_total_ = -1;
};

}  // namespace hilq::agent
