// SQLite RAII wrappers (see database.h).
#include "db/database.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "db/migrations.h"

namespace hilq::db {
namespace {

std::string describe(sqlite3* db, const std::string& path, int rc) {
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return "database '" + path + "': " + (msg ? msg : "unknown error");
}

// "file:<path>?immutable=1" for a read-only file in a folder nobody may write: SQLite then
// needs no -shm/-wal file next to it. '?', '#' and '%' in the path are percent-encoded.
std::string immutable_uri(const std::string& path) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '?' || c == '#' || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      uri += buf;
    } else {
      uri += c;
    }
  }
  return uri + "?immutable=1";
}

bool file_has_content(const std::string& path) {
  std::error_code ec;
  return path != ":memory:" && std::filesystem::is_regular_file(path, ec) &&
         std::filesystem::file_size(path, ec) > 0;
}

}  // namespace

void Database::open(int flags, const std::string& name) {
  const int rc = sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open " + describe(db_, path_, rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw DbError(message);
  }
  // Before anything else: switching to WAL takes a lock, which another reader may hold.
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

// A corrupt file is named once, clearly, before the run writes to it (or a report reads
// nonsense from it).
void Database::quick_check() {
  std::string problems;
  int shown = 0;
  try {
    Statement check(*this, "PRAGMA quick_check");
    while (check.step()) {
      const std::string line = check.column_text(0);
      if (line == "ok") continue;
      if (shown++ < 3) problems += (problems.empty() ? "" : "; ") + line;
    }
  } catch (const DbError& e) {
    throw DbError("database '" + path_ + "' is corrupt or not a SQLite file (" + e.what() +
                  "); restore it from a backup or move it aside");
  }
  if (!problems.empty())
    throw DbError("database '" + path_ + "' is corrupt (PRAGMA quick_check: " + problems +
                  (shown > 3 ? "; ..." : "") + "); restore it from a backup or move it aside");
}

void Database::check_schema_readable() {
  const int version = user_version();
  const int latest = latest_schema_version();
  if (version < latest)
    throw DbError("database '" + path_ + "' has schema version " + std::to_string(version) +
                  ", older than this build's " + std::to_string(latest) +
                  "; it was opened read-only, so it is not migrated: run hil-search on it (or on "
                  "a writable copy) once to migrate it, or use the hilq build that wrote it");
  if (version > latest)
    throw DbError("database '" + path_ + "' has schema version " + std::to_string(version) +
                  ", newer than this build's " + std::to_string(latest) + "; use a newer hilq");
}

Database::Database(const std::string& path, OpenMode mode) : path_(path), mode_(mode) {
  const bool existing = file_has_content(path);
  if (mode == OpenMode::kReadOnly) {
    if (!existing) throw DbError("database '" + path + "': no such file (or it is empty)");
    open(SQLITE_OPEN_READONLY, path);
    try {
      user_version();  // the first read: fails when no -shm can be made next to the file
    } catch (const DbError&) {
      sqlite3_close(db_);
      db_ = nullptr;
      open(SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, immutable_uri(path));
    }
    try {
      exec("PRAGMA query_only = ON");
      quick_check();
      check_schema_readable();
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
    return;
  }
  open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, path);
  try {
    if (existing) quick_check();
    exec("PRAGMA foreign_keys = ON");
    if (path != ":memory:") {
      Statement wal(*this, "PRAGMA journal_mode = WAL");
      if (!wal.step() || wal.column_text(0) != "wal")
        throw DbError("database '" + path + "': could not switch to WAL journal mode");
    }
    exec("PRAGMA synchronous = NORMAL");
    migrate(*this);
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Database::~Database() {
  if (db_) sqlite3_close(db_);
}

void Database::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message =
        "database '" + path_ + "': " + (err ? err : sqlite3_errstr(rc)) + " in: " + sql;
    sqlite3_free(err);
    throw DbError(message);
  }
}

int Database::user_version() {
  Statement s(*this, "PRAGMA user_version");
  s.step();
  return static_cast<int>(s.column_int(0));
}

int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

Statement::Statement(Database& db, const std::string& sql) : db_(db), sql_(sql) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt_, nullptr);
  if (rc != SQLITE_OK)
    throw DbError(describe(db.handle(), db.path(), rc) + " while preparing: " + sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::check(int rc, const char* what) const {
  if (rc != SQLITE_OK)
    throw DbError(describe(db_.handle(), db_.path(), rc) + " (" + what + ") in: " + sql_);
}

Statement& Statement::bind(int index, int64_t value) {
  check(sqlite3_bind_int64(stmt_, index, value), "bind");
  return *this;
}
Statement& Statement::bind(int index, double value) {
  check(sqlite3_bind_double(stmt_, index, value), "bind");
  return *this;
}
Statement& Statement::bind(int index, const std::string& value) {
  check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                          SQLITE_TRANSIENT),
        "bind");
  return *this;
}
Statement& Statement::bind_null(int index) {
  check(sqlite3_bind_null(stmt_, index), "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw DbError(describe(db_.handle(), db_.path(), rc) + " in: " + sql_);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}
int64_t Statement::column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}
std::optional<int64_t> Statement::column_optional_int(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_int(column);
}
std::optional<double> Statement::column_optional_double(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_double(column);
}
std::optional<std::string> Statement::column_optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_text(column);
}

Transaction::Transaction(Database& db) : db_(db) {
  nested_ = sqlite3_get_autocommit(db_.handle()) == 0;
  db_.exec(nested_ ? "SAVEPOINT hilq_nested" : "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (done_) return;
  if (nested_)
    sqlite3_exec(db_.handle(), "ROLLBACK TO hilq_nested; RELEASE hilq_nested", nullptr, nullptr,
                 nullptr);
  else
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec(nested_ ? "RELEASE hilq_nested" : "COMMIT");
  done_ = true;
}

std::string now_utc() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

}  // namespace hilq::db
