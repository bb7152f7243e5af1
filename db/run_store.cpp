// Typed stores over the schema of migrations.cpp (see run_store.h).
#include "db/run_store.h"

#include <cstdio>
#include <utility>

namespace hilq::db {
namespace {

RunRow read_run(const Statement& s) {
  RunRow r;
  r.id = s.column_int(0);
  r.command_line = s.column_text(1);
  r.git_sha = s.column_optional_text(2);
  r.model_hash = s.column_optional_text(3);
  r.constraints = s.column_text(4);
  r.status = s.column_text(5);
  r.message = s.column_optional_text(6);
  r.started_at = s.column_text(7);
  r.finished_at = s.column_optional_text(8);
  r.options = s.column_text(9);
  return r;
}

constexpr const char* kRunColumns =
    "id, command_line, git_sha, model_hash, constraints, status, message, started_at, finished_at, "
    "options";

constexpr const char* kJobColumns =
    "id, run_id, candidate_id, board, kind, config, state, attempts, agent, spec, lease_until, "
    "error_class, error";

JobRow read_job(const Statement& s) {
  JobRow j;
  j.id = s.column_text(0);
  j.run_id = s.column_int(1);
  j.candidate_id = s.column_optional_int(2);
  j.board = s.column_text(3);
  j.kind = s.column_text(4);
  j.config = s.column_text(5);
  j.state = s.column_text(6);
  j.attempts = static_cast<int>(s.column_int(7));
  j.agent = s.column_optional_text(8);
  j.spec = s.column_optional_text(9);
  j.lease_until = s.column_optional_text(10);
  j.error_class = s.column_optional_text(11);
  j.error = s.column_optional_text(12);
  return j;
}

}  // namespace

int64_t RunStore::create_run(const std::string& command_line,
                             const std::optional<std::string>& git_sha,
                             const std::string& constraints_json, const std::string& options_json) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT INTO runs (command_line, git_sha, constraints, status, started_at, options) "
              "VALUES (?, ?, ?, 'running', ?, ?)");
  s.bind(1, command_line).bind(2, git_sha).bind(3, constraints_json).bind(4, now_utc());
  s.bind(5, options_json).run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

void RunStore::finish_run(int64_t run_id, const std::string& status,
                          const std::optional<std::string>& message) {
  Transaction tx(db_);
  Statement s(db_, "UPDATE runs SET status = ?, message = ?, finished_at = ? WHERE id = ?");
  s.bind(1, status).bind(2, message).bind(3, now_utc()).bind(4, run_id).run();
  if (db_.changes() != 1) throw DbError("run " + std::to_string(run_id) + " does not exist");
  // Leases end with this host: running jobs are queued again, for a later --resume.
  Statement jobs(db_,
                 "UPDATE jobs SET state = 'queued', lease_until = NULL, updated_at = ? "
                 "WHERE run_id = ? AND state = 'running' AND ? != 'running'");
  jobs.bind(1, now_utc()).bind(2, run_id).bind(3, status).run();
  tx.commit();
}

std::vector<int64_t> RunStore::interrupt_abandoned_runs(double lease_s,
                                                        std::optional<int64_t> except) {
  // Seconds since the last sign of life of each running run (times are ISO-8601 UTC).
  Statement find(db_,
                 "SELECT r.id, (julianday('now') - MAX(julianday(r.started_at), COALESCE("
                 "(SELECT MAX(MAX(julianday(j.updated_at), COALESCE(julianday(j.lease_until), 0)))"
                 " FROM jobs j WHERE j.run_id = r.id), 0))) * 86400.0 "
                 "FROM runs r WHERE r.status = 'running' ORDER BY r.id");
  std::vector<std::pair<int64_t, double>> stale;
  while (find.step()) {
    const int64_t id = find.column_int(0);
    const double idle_s = find.column_double(1);
    if (idle_s > lease_s && (!except || *except != id)) stale.emplace_back(id, idle_s);
  }
  std::vector<int64_t> marked;
  for (const auto& [id, idle_s] : stale) {
    char why[256];
    std::snprintf(why, sizeof why,
                  "the host that ran it is gone: nothing of the run changed for %.0f s, longer "
                  "than the job lease of %.0f s; --resume %lld continues it",
                  idle_s, lease_s, static_cast<long long>(id));
    finish_run(id, "interrupted", std::string(why));
    marked.push_back(id);
  }
  return marked;
}

void RunStore::reopen_run(int64_t run_id) {
  Transaction tx(db_);
  Statement s(
      db_, "UPDATE runs SET status = 'running', message = NULL, finished_at = NULL WHERE id = ?");
  s.bind(1, run_id).run();
  if (db_.changes() != 1) throw DbError("run " + std::to_string(run_id) + " does not exist");
  Statement jobs(db_,
                 "UPDATE jobs SET state = 'queued', lease_until = NULL, updated_at = ? "
                 "WHERE run_id = ? AND state = 'running'");
  jobs.bind(1, now_utc()).bind(2, run_id).run();
  tx.commit();
}

void RunStore::set_model_hash(int64_t run_id, const std::string& sha256) {
  Transaction tx(db_);
  Statement s(db_, "UPDATE runs SET model_hash = ? WHERE id = ?");
  s.bind_all(sha256, run_id).run();
  if (db_.changes() != 1) throw DbError("run " + std::to_string(run_id) + " does not exist");
  tx.commit();
}

std::optional<RunRow> RunStore::run(int64_t run_id) {
  Statement s(db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
  s.bind(1, run_id);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::optional<int64_t> RunStore::latest_run_id() {
  Statement s(db_, "SELECT max(id) FROM runs");
  s.step();
  return s.column_optional_int(0);
}

std::vector<RunRow> RunStore::runs() {
  Statement s(db_, std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id");
  std::vector<RunRow> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

void RunStore::upsert_board(const BoardRow& b) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT INTO boards (name, arch, features, cores, memory_bytes, agent_version, "
              "emulated, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
              "ON CONFLICT (name) DO UPDATE SET arch = excluded.arch, features = "
              "excluded.features, cores = excluded.cores, memory_bytes = excluded.memory_bytes, "
              "agent_version = excluded.agent_version, emulated = excluded.emulated, "
              "last_seen = excluded.last_seen");
  s.bind(1, b.name).bind(2, b.arch).bind(3, b.features).bind(4, b.cores);
  s.bind(5, b.memory_bytes).bind(6, b.agent_version).bind(7, b.emulated ? 1 : 0);
  s.bind(8, now_utc()).run();
  tx.commit();
}

std::optional<BoardRow> RunStore::board(const std::string& name) {
  Statement s(db_,
              "SELECT name, arch, features, cores, memory_bytes, agent_version, emulated "
              "FROM boards WHERE name = ?");
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  BoardRow b;
  b.name = s.column_text(0);
  b.arch = s.column_text(1);
  b.features = s.column_text(2);
  b.cores = static_cast<int>(s.column_int(3));
  b.memory_bytes = s.column_int(4);
  b.agent_version = s.column_text(5);
  b.emulated = s.column_int(6) != 0;
  return b;
}

void RunStore::insert_job(const JobRow& j) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT INTO jobs (id, run_id, candidate_id, board, kind, config, state, attempts, "
              "agent, created_at, updated_at, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const std::string now = now_utc();
  s.bind(1, j.id).bind(2, j.run_id).bind(3, j.candidate_id).bind(4, j.board).bind(5, j.kind);
  s.bind(6, j.config).bind(7, j.state).bind(8, j.attempts).bind(9, j.agent);
  s.bind(10, now).bind(11, now).bind(12, j.spec).run();
  tx.commit();
}

void RunStore::set_job_state(const std::string& job_id, const std::string& state,
                             const std::optional<std::string>& agent) {
  Transaction tx(db_);
  Statement s(db_,
              "UPDATE jobs SET state = ?, agent = coalesce(?, agent), updated_at = ?, "
              "attempts = attempts + (? = 'running') WHERE id = ?");
  s.bind(1, state).bind(2, agent).bind(3, now_utc()).bind(4, state).bind(5, job_id).run();
  if (db_.changes() != 1) throw DbError("job '" + job_id + "' does not exist");
  tx.commit();
}

std::vector<JobRow> RunStore::jobs(int64_t run_id) {
  Statement s(db_, std::string("SELECT ") + kJobColumns +
                       " FROM jobs WHERE run_id = ? ORDER BY created_at, rowid");
  s.bind(1, run_id);
  std::vector<JobRow> out;
  while (s.step()) out.push_back(read_job(s));
  return out;
}

std::vector<JobRow> RunStore::unfinished_jobs(int64_t run_id) {
  Statement s(db_, std::string("SELECT ") + kJobColumns +
                       " FROM jobs WHERE run_id = ? AND state IN ('queued', 'running') "
                       "ORDER BY created_at, rowid");
  s.bind(1, run_id);
  std::vector<JobRow> out;
  while (s.step()) out.push_back(read_job(s));
  return out;
}

void RunStore::job_started(const std::string& job_id, const std::string& agent,
                           const std::string& lease_until) {
  Transaction tx(db_);
  Statement s(db_,
              "UPDATE jobs SET state = 'running', agent = ?, attempts = attempts + 1, "
              "lease_until = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'running')");
  s.bind_all(agent, lease_until, now_utc(), job_id).run();
  tx.commit();
}

void RunStore::job_requeued(const std::string& job_id, const std::string& error_class,
                            const std::string& error) {
  Transaction tx(db_);
  Statement s(db_,
              "UPDATE jobs SET state = 'queued', lease_until = NULL, error_class = ?, error = ?, "
              "updated_at = ? WHERE id = ? AND state IN ('queued', 'running')");
  s.bind_all(error_class, error, now_utc(), job_id).run();
  tx.commit();
}

void RunStore::upsert_agent(const AgentRow& a) {
  Transaction tx(db_);
  const std::string now = now_utc();
  Statement s(db_,
              "INSERT INTO agents (run_id, id, board, user_id, status, reason, first_seen, "
              "last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, id) DO UPDATE SET "
              "board = excluded.board, user_id = coalesce(excluded.user_id, user_id), "
              "status = CASE WHEN status = 'quarantined' THEN status ELSE excluded.status END, "
              "reason = coalesce(excluded.reason, reason), last_seen = excluded.last_seen");
  s.bind_all(a.run_id, a.id, a.board, a.user_id, a.status, a.reason, now, now).run();
  tx.commit();
}

int RunStore::agents_left(int64_t run_id, const std::string& reason) {
  Transaction tx(db_);
  Statement s(db_,
              "UPDATE agents SET status = 'left', reason = ?, last_seen = ? "
              "WHERE run_id = ? AND status = 'connected'");
  s.bind_all(reason, now_utc(), run_id).run();
  const int changed = db_.changes();
  tx.commit();
  return changed;
}

std::vector<AgentRow> RunStore::agents(int64_t run_id) {
  Statement s(db_,
              "SELECT run_id, id, board, user_id, status, reason FROM agents WHERE run_id = ? "
              "ORDER BY board, id");
  s.bind(1, run_id);
  std::vector<AgentRow> out;
  while (s.step())
    out.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_optional_text(3),
                   s.column_text(4), s.column_optional_text(5)});
  return out;
}

}  // namespace hilq::db
