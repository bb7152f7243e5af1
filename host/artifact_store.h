// The host's artifacts (model files, kernel configs), content-addressed by sha256: jobs name an
// artifact by its hash, and agents that lack it FETCH it in chunks of at most 1 MiB.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "protocol/message.h"

namespace hilq::host {

class ArtifactStore {
 public:
  // Hashes the file and registers it; returns the sha256. Throws std::runtime_error when the
  // file cannot be read.
  std::string add_file(const std::string& path);
  bool has(const std::string& sha256) const { return files_.count(sha256) != 0; }
  // The chunk at offset (at most max_bytes), or nullopt for an unknown artifact or an offset past
  // its end. Throws std::runtime_error when the file changed or vanished since add_file().
  std::optional<protocol::ArtifactChunk> chunk(const std::string& sha256, int64_t offset,
                                               int64_t max_bytes) const;

 private:
  struct File {
    std::string path;
    int64_t bytes = 0;
  };
  std::map<std::string, File> files_;
};

}  // namespace hilq::host
