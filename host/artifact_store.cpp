// Content-addressed artifact serving (see artifact_store.h).
#include "host/artifact_store.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "base/error.h"
#include "model/sha256.h"

namespace hilq::host {

std::string ArtifactStore::add_file(const std::string& path) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec))
    throw ConfigError("model path '" + path +
                      "' is a directory, not a model file (give the .safetensors file itself)");
  std::string sha = model::sha256_file(path);
  files_[sha] = File{path, static_cast<int64_t>(std::filesystem::file_size(path))};
  return sha;
}

std::optional<protocol::ArtifactChunk> ArtifactStore::chunk(const std::string& sha256,
                                                            int64_t offset,
                                                            int64_t max_bytes) const {
  auto it = files_.find(sha256);
  if (it == files_.end() || offset < 0 || offset > it->second.bytes) return std::nullopt;
  std::ifstream in(it->second.path, std::ios::binary);
  std::error_code ec;
  if (!in ||
      static_cast<int64_t>(std::filesystem::file_size(it->second.path, ec)) != it->second.bytes)
    throw std::runtime_error("artifact " + it->second.path + " vanished or changed size");
  protocol::ArtifactChunk c;
  c.sha256 = sha256;
  c.offset = offset;
  c.total_bytes = it->second.bytes;
  const int64_t n = std::min(max_bytes, it->second.bytes - offset);
  c.data.resize(static_cast<size_t>(n));
  in.seekg(offset);
  in.read(c.data.data(), n);
  if (in.gcount() != n) throw std::runtime_error("short read from artifact " + it->second.path);
  return c;
}

}  // namespace hilq::host
