// A report from a file it may not write (issue 14, item 7): opened read-only, the database file
// is byte for byte what it was, no WAL file appears, and the report is the same as read-write.
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "db/database.h"
#include "reports/run_report.h"
#include "tests/reports/known_run.h"

namespace db = hilq::db;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("A report reads a database opened read-only and changes nothing in the file",
          "[reports]") {
  const fs::path dir = fs::temp_directory_path() / ("hilq_report_ro_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "hil.db").string();
  int64_t run = 0;
  {
    db::Database d(path);
    run = hilq::test::record_known_run(d);
  }
  // As a copied or archived file is: rollback journal, no -wal/-shm next to it.
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(raw);
  const std::string before = slurp(path);

  std::string rw_csv;
  {
    db::Database d(path, db::OpenMode::kReadOnly);
    const auto files = hilq::reports::write_run_report(d, run, (dir / "ro").string());
    CHECK(files.paths.size() >= 3);
  }
  CHECK(slurp(path) == before);
  CHECK_FALSE(fs::exists(path + "-wal"));
  const std::string ro_csv = slurp(dir / "ro" / "measurements.csv");
  CHECK_THAT(ro_csv, Contains("run_id,board,agent,job_id"));
  {
    db::Database d(path);  // read-write, as before the change
    hilq::reports::write_run_report(d, run, (dir / "rw").string());
  }
  CHECK(ro_csv == slurp(dir / "rw" / "measurements.csv"));
  fs::remove_all(dir);
}
