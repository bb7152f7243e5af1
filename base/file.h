// Files that hold state a later run reads back (checkpoints, an experiment's results.json): a
// crash or a kill mid-write must leave the old file or the new one, never a truncated one.
#pragma once

#include <string>
#include <string_view>

namespace hilq {

// Writes `bytes` to `path` through `path`.tmp and a rename, which replaces the old file in one
// step. Returns "" on success, else an error that names the path; `path` is then unchanged.
std::string write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace hilq
