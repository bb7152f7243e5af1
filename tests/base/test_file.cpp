// Files replaced in one step: the new bytes exactly, no temporary left behind, and on a failed
// write the old file untouched and an error that names the path.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "base/file.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using hilq::write_file_atomically;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("hilq_file_" + std::to_string(getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("A file is written, then replaced by shorter bytes, with no temporary left", "[file]") {
  ScratchDir dir;
  const std::string path = (dir.path / "results.json").string();
  const std::string first = "{\"runs\": [1, 2, 3]}\n";
  REQUIRE(write_file_atomically(path, first).empty());
  CHECK(read_all(path) == first);
  // Binary content, a NUL included, and shorter than before: nothing of the old file remains.
  const std::string second("a\0b", 3);
  REQUIRE(write_file_atomically(path, second).empty());
  CHECK(read_all(path) == second);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  REQUIRE(write_file_atomically(path, "").empty());
  CHECK(fs::file_size(path) == 0);
}

TEST_CASE("A write that cannot finish leaves the old file as it was and names the path", "[file]") {
  ScratchDir dir;
  const std::string path = (dir.path / "results.json").string();
  REQUIRE(write_file_atomically(path, "kept").empty());
  // The temporary's name is taken by a directory, so the new bytes cannot be written.
  fs::create_directory(path + ".tmp");
  const std::string err = write_file_atomically(path, "lost");
  CHECK_THAT(err, Contains(path) && Contains(".tmp"));
  CHECK(read_all(path) == "kept");

  const std::string nowhere = (dir.path / "missing" / "results.json").string();
  CHECK_THAT(write_file_atomically(nowhere, "x"), Contains(nowhere));
  CHECK_FALSE(fs::exists(nowhere));
}
