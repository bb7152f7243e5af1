// SHA-256 for content-addressed artifacts: the host names each artifact by the hash of its bytes,
// and the agent verifies what it received before caching it. The hash itself is the runtime's
// (kernels/runtime/sha256.h), which also checks model files.
#pragma once

#include <string>

#include "kernels/runtime/sha256.h"

namespace hilq::protocol {

using runtime::Sha256;

std::string sha256_hex(const std::string& bytes);
// Throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace hilq::protocol
