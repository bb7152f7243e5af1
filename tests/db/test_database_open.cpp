// Opening a file safely (issue 14, item 7): quick_check names a corrupt file, the busy timeout
// rides out another connection's lock, a read-only open writes nothing, a run left running by a
// host that is gone is marked interrupted, agents still connected at the end are recorded left.
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "db/database.h"
#include "db/migrations.h"
#include "db/run_store.h"

namespace db = hilq::db;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("hilq_db_open_" + std::to_string(::getpid()) + "_" + std::to_string(rand()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs one statement on a raw connection (what another process would do).
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(raw);
  REQUIRE(rc == SQLITE_OK);
}

// A file with one run and some rows in it, closed.
std::string make_file(const TempDir& tmp, const std::string& name = "hil.db") {
  const std::string path = (tmp.path / name).string();
  db::Database d(path);
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search --boards local", std::nullopt);
  for (int i = 0; i < 200; ++i)
    store.insert_job({"j" + std::to_string(i), run, std::nullopt, "local", "noop",
                      R"({"sleep_ms": 0, "padding": ")" + std::string(200, 'p') + "\"}", "queued",
                      0, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  store.finish_run(run, "completed");
  return path;
}

}  // namespace

TEST_CASE("A file that is not a database is refused by name before anything is written",
          "[db][fault]") {
  TempDir tmp;
  const std::string path = (tmp.path / "garbage.db").string();
  std::ofstream(path) << std::string(8192, 'G');
  const std::string before = slurp(path);
  CHECK_THROWS_WITH(db::Database(path),
                    Contains("garbage.db") && Contains("corrupt") && Contains("backup"));
  CHECK(slurp(path) == before);
  CHECK_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("A database with a damaged page fails quick_check with a clear error naming the file",
          "[db][fault]") {
  TempDir tmp;
  const std::string path = make_file(tmp);
  raw_exec(path, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE");
  {
    // Scribble over the middle of the file: b-tree pages that no longer parse.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    const std::string junk(4096, '\x7f');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  CHECK_THROWS_WITH(db::Database(path), Contains("hil.db") && Contains("corrupt"));
  CHECK_THROWS_WITH(db::Database(path, db::OpenMode::kReadOnly),
                    Contains("hil.db") && Contains("corrupt"));
}

TEST_CASE("A write waits out another connection's lock instead of failing at once", "[db]") {
  // Well above the 5 s it once was: a backup or a checkpoint of a large file holds a lock that
  // long.
  STATIC_REQUIRE(db::Database::kBusyTimeoutMs >= 10000);
  TempDir tmp;
  const std::string path = make_file(tmp);
  db::Database d(path);
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  std::thread holder([other] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  const auto t0 = std::chrono::steady_clock::now();
  db::RunStore store(d);
  CHECK_NOTHROW(store.create_run("second", std::nullopt));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  holder.join();
  sqlite3_close(other);
  CHECK(waited >= 1.0);
}

TEST_CASE("A read-only open writes nothing: no WAL switch, no migration, reads work", "[db]") {
  TempDir tmp;
  const std::string path = make_file(tmp);
  raw_exec(path, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE");
  const std::string before = slurp(path);
  {
    db::Database d(path, db::OpenMode::kReadOnly);
    CHECK(d.read_only());
    db::RunStore store(d);
    REQUIRE(store.latest_run_id());
    CHECK(store.jobs(*store.latest_run_id()).size() == 200);
    db::Statement mode(d, "PRAGMA journal_mode");
    REQUIRE(mode.step());
    CHECK(mode.column_text(0) == "delete");
    CHECK_THROWS_AS(store.create_run("x", std::nullopt), hilq::DbError);
  }
  CHECK(slurp(path) == before);
  CHECK_FALSE(fs::exists(path + "-wal"));
  CHECK_THROWS_WITH(db::Database((tmp.path / "missing.db").string(), db::OpenMode::kReadOnly),
                    Contains("missing.db"));
  CHECK_FALSE(fs::exists(tmp.path / "missing.db"));
}

TEST_CASE("A read-only open of an older schema says so and leaves the file as it was", "[db]") {
  TempDir tmp;
  const std::string path = (tmp.path / "v2.db").string();
  raw_exec(path, db::migration_sql(1) + db::migration_sql(2) + "PRAGMA user_version = 2;");
  const std::string before = slurp(path);
  CHECK_THROWS_WITH(db::Database(path, db::OpenMode::kReadOnly),
                    Contains("v2.db") && Contains("schema version 2") && Contains("older") &&
                        Contains("migrate"));
  CHECK(slurp(path) == before);
}

TEST_CASE("A run left running by a host that is gone is marked interrupted; a live one is not",
          "[db][fault]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  // Run 1: its host died an hour ago (started and last touched a job then).
  const int64_t dead = store.create_run("hil-search dead", std::nullopt);
  store.insert_job({"d1", dead, std::nullopt, "local", "noop", "{}", "queued", 0, std::nullopt,
                    std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  store.job_started("d1", "local-1", "2000-01-01T00:10:00Z");
  d.exec("UPDATE runs SET started_at = '2000-01-01T00:00:00.000Z' WHERE id = " +
         std::to_string(dead));
  d.exec("UPDATE jobs SET updated_at = '2000-01-01T00:00:05.000Z' WHERE run_id = " +
         std::to_string(dead));
  // Run 2: started long ago, but a job of it was touched just now (a live host).
  const int64_t live = store.create_run("hil-search live", std::nullopt);
  store.insert_job({"l1", live, std::nullopt, "local", "noop", "{}", "queued", 0, std::nullopt,
                    std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  d.exec("UPDATE runs SET started_at = '2000-01-01T00:00:00.000Z' WHERE id = " +
         std::to_string(live));
  store.job_started("l1", "local-1", "2999-01-01T00:00:00Z");
  // Run 3: just started, no job yet (a search in its host phase).
  const int64_t fresh = store.create_run("hil-search fresh", std::nullopt);
  // Run 4: dead too, but it is the run being resumed.
  const int64_t resumed = store.create_run("hil-search resumed", std::nullopt);
  d.exec("UPDATE runs SET started_at = '2000-01-01T00:00:00.000Z' WHERE id = " +
         std::to_string(resumed));

  const auto marked = store.interrupt_abandoned_runs(600, resumed);
  REQUIRE(marked == std::vector<int64_t>{dead});
  const auto run = store.run(dead);
  CHECK(run->status == "interrupted");
  CHECK_THAT(run->message.value_or(""), Contains("gone") && Contains("job lease of 600 s") &&
                                            Contains("--resume " + std::to_string(dead)));
  CHECK(run->finished_at.has_value());
  CHECK(store.jobs(dead)[0].state == "queued");  // --resume finds it again
  CHECK(store.run(live)->status == "running");
  CHECK(store.run(fresh)->status == "running");
  CHECK(store.run(resumed)->status == "running");
  CHECK(store.interrupt_abandoned_runs(600, resumed).empty());  // once is enough
}

TEST_CASE("At the end of a run every agent still connected is recorded left", "[db]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search", std::nullopt);
  store.upsert_agent({run, "a", "local", std::nullopt, "connected", std::nullopt});
  store.upsert_agent({run, "b", "local", std::nullopt, "lost", std::string("missed 5 beats")});
  store.upsert_agent({run, "c", "local", std::nullopt, "quarantined", std::string("wrong")});
  CHECK(store.agents_left(run, "the run ended") == 1);
  const auto agents = store.agents(run);
  REQUIRE(agents.size() == 3);
  CHECK(agents[0].status == "left");
  CHECK(agents[0].reason == std::string("the run ended"));
  CHECK(agents[1].status == "lost");
  CHECK(agents[2].status == "quarantined");
}
