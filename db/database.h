// RAII wrappers over SQLite: Database (opened in WAL mode with a busy timeout and migrated to the
// current schema), Statement (prepare/bind/step/column) and Transaction (BEGIN IMMEDIATE, rolled
// back unless committed). Every failure is a DbError naming the file and the statement.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace hilq {

class DbError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hilq

namespace hilq::db {

// kReadWrite: create if needed, switch to WAL, migrate (hil-search, hil-train).
// kReadOnly: SQLITE_OPEN_READONLY, nothing written (no WAL switch, no migration), so a report
// can read a file it may not write; a schema older or newer than this build is a DbError that
// says so. Both run PRAGMA quick_check on an existing file first (DbError naming it if corrupt).
enum class OpenMode { kReadWrite, kReadOnly };

class Database {
 public:
  // How long a statement waits for a lock another connection holds (a backup, a report reading
  // a rollback-journal file, a checkpoint) before SQLITE_BUSY: long enough to ride out a backup
  // of a file of a few hundred MB, short enough that a stuck holder is reported.
  static constexpr int kBusyTimeoutMs = 30000;

  // Opens (creating if needed) and migrates. path ":memory:" gives a private in-memory DB.
  explicit Database(const std::string& path, OpenMode mode = OpenMode::kReadWrite);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql);
  int user_version();
  int64_t last_insert_id() const;
  int changes() const;
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  bool read_only() const { return mode_ == OpenMode::kReadOnly; }

 private:
  void open(int flags, const std::string& name);
  void quick_check();
  void check_schema_readable();
  sqlite3* db_ = nullptr;
  std::string path_;
  OpenMode mode_ = OpenMode::kReadWrite;
};

class Statement {
 public:
  Statement(Database& db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, const char* value) { return bind(index, std::string(value)); }
  Statement& bind_null(int index);
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  // Binds every argument in order, starting at parameter 1.
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    int index = 1;
    (bind(index++, args), ...);
    return *this;
  }

  // True while a row is available; false when done.
  bool step();
  // Runs a statement that returns no rows.
  void run();
  void reset();

  bool is_null(int column) const;
  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::optional<int64_t> column_optional_int(int column) const;
  std::optional<double> column_optional_double(int column) const;
  std::optional<std::string> column_optional_text(int column) const;

 private:
  void check(int rc, const char* what) const;
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// Inside another transaction a Transaction becomes a SAVEPOINT, so a store method that commits
// on its own can also run as part of a caller's batch (one commit for many writes).
class Transaction {
 public:
  explicit Transaction(Database& db);  // BEGIN IMMEDIATE: takes the write lock up front
  ~Transaction();                      // rolls back unless commit() ran; never throws
  void commit();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  Database& db_;
  bool done_ = false;
  bool nested_ = false;
};

// Current time as ISO-8601 UTC with milliseconds, the format of every time column.
std::string now_utc();

}  // namespace hilq::db
