// Numbered schema migrations: migration N takes PRAGMA user_version from N-1 to N, each in its
// own transaction, so a crash mid-upgrade leaves the file at a well-defined version.
#pragma once

#include <string>

namespace hilq::db {

class Database;

// The schema version this build writes.
int latest_schema_version();
// Brings the database up to latest_schema_version(); throws DbError for a newer file.
void migrate(Database& db);
// The SQL of migration `version` (1-based), so tests can build a file of an older schema.
const std::string& migration_sql(int version);

}  // namespace hilq::db
