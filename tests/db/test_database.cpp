// SQLite store: schema creation and migration, WAL on files, run round trip, idempotent results.
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "db/database.h"
#include "db/evaluation_store.h"
#include "db/measurement_store.h"
#include "db/migrations.h"
#include "db/run_store.h"
#include "db/search_store.h"

namespace db = hilq::db;
using Catch::Matchers::Contains;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("hilq_db_test_" + std::to_string(::getpid()) + "_" + std::to_string(rand()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

db::MeasurementRow sample_measurement(int64_t run_id, const std::string& job_id) {
  db::MeasurementRow m;
  m.run_id = run_id;
  m.board = "local";
  m.agent = "local-1";
  m.job_id = job_id;
  m.kind = "kernel-bench";
  m.kernel = "gemv_w8a8__ref";
  m.config = R"({"m":256})";
  m.latency_median_ns = 1500.0;
  m.latency_p10_ns = 1400.0;
  m.latency_p90_ns = 1700.0;
  m.latency_mad_ns = 50.0;
  m.latency_mean_ns = 1520.0;
  m.repeats = 3;
  m.samples_ns = "[1400,1500,1700]";
  m.peak_rss_bytes = 7 << 20;
  m.power_unavailable = "no sensor";
  return m;
}

db::JobRow job_row(const std::string& id, int64_t run) {
  db::JobRow j;
  j.id = id;
  j.run_id = run;
  j.board = "local";
  j.kind = "kernel-bench";
  j.config = "{}";
  return j;
}

}  // namespace

TEST_CASE("A new database is created at the latest schema version", "[db]") {
  db::Database d(":memory:");
  CHECK(d.user_version() == db::latest_schema_version());
  for (const char* table :
       {"runs", "boards", "candidates", "evaluations", "jobs", "measurements", "pareto"}) {
    CAPTURE(table);
    db::Statement s(d, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?");
    s.bind(1, table);
    REQUIRE(s.step());
    CHECK(s.column_int(0) == 1);
  }
}

TEST_CASE("An empty file is migrated and opened in WAL mode", "[db]") {
  TempDir tmp;
  const auto path = (tmp.path / "hil.db").string();
  { std::ofstream(path).flush(); }  // an empty file, as `touch` leaves it
  {
    db::Database d(path);
    CHECK(d.user_version() == db::latest_schema_version());
    db::Statement s(d, "PRAGMA journal_mode");
    REQUIRE(s.step());
    CHECK(s.column_text(0) == "wal");
  }
  db::Database again(path);  // reopening an up-to-date file changes nothing
  CHECK(again.user_version() == db::latest_schema_version());
}

TEST_CASE("A file from a newer hilq is refused, not downgraded", "[db]") {
  TempDir tmp;
  const auto path = (tmp.path / "new.db").string();
  {
    db::Database d(path);
    d.exec("PRAGMA user_version = 999");
  }
  CHECK_THROWS_WITH(db::Database(path), Contains("999") && Contains("newer"));
}

TEST_CASE("An unwritable path fails with the path in the message", "[db]") {
  CHECK_THROWS_WITH(db::Database("/nonexistent-dir/sub/hil.db"),
                    Contains("/nonexistent-dir/sub/hil.db"));
}

TEST_CASE("A run with its board, jobs and measurements round trips", "[db]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search --boards local", std::string("abc123"));
  store.upsert_board({"local", "x86_64", R"(["avx2"])", 2, 1 << 30, "0.1.0", false});
  store.insert_job(job_row("r1-local-1", run));
  store.set_job_state("r1-local-1", "running", std::string("local-1"));
  REQUIRE(store.record_measurement(sample_measurement(run, "r1-local-1")));
  store.finish_run(run, "completed");

  const auto r = store.run(run);
  REQUIRE(r);
  CHECK(r->status == "completed");
  CHECK(r->git_sha == std::string("abc123"));
  CHECK_FALSE(r->model_hash.has_value());
  store.set_model_hash(run, std::string(64, 'f'));
  CHECK(store.run(run)->model_hash == std::string(64, 'f'));
  CHECK_THROWS_AS(store.set_model_hash(run + 1, "x"), hilq::DbError);
  CHECK(r->finished_at.has_value());
  const auto jobs = store.jobs(run);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].state == "done");
  CHECK(jobs[0].attempts == 1);
  CHECK(jobs[0].agent == std::string("local-1"));
  const auto rows = store.measurements(run);
  REQUIRE(rows.size() == 1);
  const auto expected = sample_measurement(run, "r1-local-1");
  CHECK(rows[0].latency_median_ns == expected.latency_median_ns);
  CHECK(rows[0].samples_ns == expected.samples_ns);
  CHECK(rows[0].peak_rss_bytes == expected.peak_rss_bytes);
  CHECK(rows[0].power_unavailable == expected.power_unavailable);
  CHECK_FALSE(rows[0].energy_j.has_value());
  CHECK(store.board("local")->features == R"(["avx2"])");
}

TEST_CASE("A duplicate result for a job is ignored, never stored twice", "[db]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("x", std::nullopt);
  store.insert_job(job_row("j1", run));
  CHECK(store.record_measurement(sample_measurement(run, "j1")));
  auto late = sample_measurement(run, "j1");
  late.latency_median_ns = 9e9;
  CHECK_FALSE(store.record_measurement(late));
  const auto rows = store.measurements(run);
  REQUIRE(rows.size() == 1);
  CHECK(*rows[0].latency_median_ns == 1500.0);
}

TEST_CASE("An interrupted run keeps its results; unfinished jobs stay queued for --resume",
          "[db]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("x", std::nullopt);
  for (const char* id : {"a", "b", "c"}) store.insert_job(job_row(id, run));
  store.record_measurement(sample_measurement(run, "a"));
  store.job_started("b", "local-1", "2030-01-01T00:00:00Z");
  store.finish_run(run, "interrupted", std::string("Ctrl-C"));
  const auto jobs = store.jobs(run);
  CHECK(jobs[0].state == "done");
  CHECK(jobs[1].state == "queued");  // its lease ended with the host
  CHECK_FALSE(jobs[1].lease_until.has_value());
  CHECK(jobs[1].attempts == 1);
  CHECK(jobs[2].state == "queued");
  CHECK(store.measurements(run).size() == 1);
  CHECK(store.run(run)->status == "interrupted");
  CHECK(store.unfinished_jobs(run).size() == 2);
}

TEST_CASE("The durable queue: start with a lease, re-queue with the error, resume a dead run",
          "[db]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("x", std::nullopt, "{}", R"({"boards":["local"]})");
  CHECK(store.run(run)->options == R"({"boards":["local"]})");
  db::JobRow j = job_row("j", run);
  j.spec = R"({"job_id":"j"})";
  store.insert_job(j);
  store.job_started("j", "a1", "2030-01-01T00:00:00Z");
  auto row = store.jobs(run).at(0);
  CHECK(row.state == "running");
  CHECK(row.lease_until == std::string("2030-01-01T00:00:00Z"));
  CHECK(row.spec == j.spec);
  store.job_requeued("j", "agent-lost", "a1 stopped heartbeating");
  row = store.jobs(run).at(0);
  CHECK(row.state == "queued");
  CHECK(row.error_class == std::string("agent-lost"));
  store.job_started("j", "a2", "2030-01-01T00:00:00Z");
  // The host dies here (no finish_run); a new host resumes the run.
  store.reopen_run(run);
  row = store.jobs(run).at(0);
  CHECK(row.state == "queued");
  CHECK(row.attempts == 2);
  CHECK(store.run(run)->status == "running");
  store.record_measurement(sample_measurement(run, "j"));
  CHECK(store.jobs(run).at(0).state == "done");
  CHECK(store.unfinished_jobs(run).empty());
  // A job already finished is not restarted by a late event.
  store.job_started("j", "a3", "2030-01-01T00:00:00Z");
  CHECK(store.jobs(run).at(0).state == "done");
}

TEST_CASE("Agents are recorded per run; a quarantine sticks", "[db]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("x", std::nullopt);
  store.upsert_agent({run, "a1", "pi5", std::string("pi5-lab"), "connected", std::nullopt});
  store.upsert_agent({run, "a1", "pi5", std::nullopt, "quarantined", std::string("health check")});
  store.upsert_agent({run, "a1", "pi5", std::nullopt, "lost", std::nullopt});
  const auto agents = store.agents(run);
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].status == "quarantined");
  CHECK(agents[0].reason == std::string("health check"));
  CHECK(agents[0].user_id == std::string("pi5-lab"));
}

TEST_CASE("Store writes inside a caller's transaction become savepoints: one commit for many",
          "[db]") {
  TempDir dir;
  const std::string path = (dir.path / "batch.db").string();
  db::Database d(path);
  db::RunStore store(d);
  const int64_t run = store.create_run("x", std::nullopt);
  for (const char* id : {"a", "b"}) store.insert_job(job_row(id, run));
  {
    db::Transaction batch(d);
    CHECK(store.record_measurement(sample_measurement(run, "a")));
    CHECK_FALSE(store.record_measurement(sample_measurement(run, "a")));  // rolled back alone
    CHECK(store.record_measurement(sample_measurement(run, "b")));
    // Not committed yet: another connection does not see the rows.
    db::Database other(path);
    CHECK(db::RunStore(other).measurements(run).empty());
    batch.commit();
  }
  db::Database other(path);
  CHECK(db::RunStore(other).measurements(run).size() == 2);
}

TEST_CASE("A transaction that is not committed leaves no trace", "[db]") {
  db::Database d(":memory:");
  {
    db::Transaction tx(d);
    d.exec("INSERT INTO runs (command_line, status, started_at) VALUES ('x', 'running', 'now')");
  }
  db::Statement s(d, "SELECT count(*) FROM runs");
  s.step();
  CHECK(s.column_int(0) == 0);
  CHECK_THROWS_AS(d.exec("INSERT INTO runs (command_line, status, started_at) "
                         "VALUES ('x', 'bogus', 'now')"),
                  hilq::DbError);
}

TEST_CASE("Migration 3 gives old model-bench rows their columns and keeps the config once",
          "[db]") {
  TempDir tmp;
  const auto path = (tmp.path / "v2.db").string();
  {
    // A file as hil-search wrote it at schema version 2: the config in jobs.config, jobs.spec
    // and measurements.config; the model figures only in the metrics JSON.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    std::string sql = db::migration_sql(1) + db::migration_sql(2) + R"sql(
INSERT INTO runs (id, command_line, status, started_at) VALUES (1, 'x', 'completed', 't');
INSERT INTO jobs (id, run_id, board, kind, config, state, created_at, updated_at, spec)
  VALUES ('r1-local-1', 1, 'local', 'model-bench', '{"setting":"W4A8"}', 'done', 't', 't',
          '{"job_id":"r1-local-1","kind":"model-bench","config":{"setting":"W4A8"}}');
INSERT INTO measurements (run_id, board, job_id, kind, config, status, latency_median_ns,
                          metrics, created_at)
  VALUES (1, 'local', 'r1-local-1', 'model-bench', '{"setting":"W4A8"}', 'ok', 2e5,
          '{"model_label":"W4A8","isa":"avx2","prefill_ms":12.5,"tokens_per_s":5000,
            "decode_ms_per_token":{"median":0.2,"p90":0.25},"energy_per_token_j":0.001,
            "memory":{"weights_bytes":3,"kv_cache_bytes":65536,"arena_bytes":4096,
                      "file_bytes":9},"greedy_tokens":[1,2]}', 't');
INSERT INTO measurements (run_id, board, job_id, kind, config, status, metrics, created_at)
  VALUES (1, 'local', 'lone-1', 'kernel-bench', '{"m":256}', 'failed', 'not json', 't');
PRAGMA user_version = 2;
)sql";
    REQUIRE(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  db::Database d(path);
  CHECK(d.user_version() == db::latest_schema_version());
  db::RunStore store(d);
  const auto rows = store.measurements(1);
  REQUIRE(rows.size() == 2);
  const auto& m = rows[0];
  CHECK(m.setting == std::string("W4A8"));
  CHECK(m.kernel_path == std::string("avx2"));
  CHECK(m.prefill_ms == 12.5);
  CHECK(m.decode_ms_median == 0.2);
  CHECK(m.decode_ms_p90 == 0.25);
  CHECK(m.tokens_per_s == 5000.0);
  CHECK(m.kv_bytes == int64_t{65536});
  CHECK(m.arena_bytes == int64_t{4096});
  CHECK(m.energy_per_token_j == 0.001);
  CHECK(m.config == R"({"setting":"W4A8"})");  // from the job's row
  CHECK(m.metrics == R"({"memory":{"file_bytes":9},"greedy_tokens":[1,2]})");
  CHECK(rows[1].config == R"({"m":256})");  // a measurement without a job got one
  CHECK(rows[1].metrics == "not json");     // unreadable JSON is left as it was
  const auto jobs = store.jobs(1);
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].spec == std::string(R"({"job_id":"r1-local-1","kind":"model-bench"})"));
  CHECK(jobs[1].state == "failed");
  db::Statement cols(d,
                     "SELECT count(*) FROM pragma_table_info('measurements') WHERE name='config'");
  REQUIRE(cols.step());
  CHECK(cols.column_int(0) == 0);
}

TEST_CASE("A measurement recorded without a queued job keeps its config in a job row", "[db]") {
  db::Database d(":memory:");
  db::MeasurementStore store(d);
  const int64_t run = db::RunStore(d).create_run("x", std::nullopt);
  auto m = sample_measurement(run, "solo");
  m.setting = "W8A8";
  m.kv_bytes = 77;
  REQUIRE(store.record(m));
  const auto rows = store.of_run(run);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].config == m.config);
  CHECK(rows[0].setting == m.setting);
  CHECK(rows[0].kv_bytes == m.kv_bytes);
  CHECK(db::RunStore(d).jobs(run).at(0).state == "done");
}

TEST_CASE("A candidate is stored once per config hash; an evaluation again replaces its value",
          "[db]") {
  db::Database d(":memory:");
  const int64_t run = db::RunStore(d).create_run("x", std::nullopt);
  db::EvaluationStore store(d);
  const int64_t a = store.candidate(run, R"({"setting":"W4A8"})", "h1", std::string("global"));
  CHECK(store.candidate(run, R"({"setting":"W4A8"})", "h1") == a);
  const int64_t b = store.candidate(run, R"({"setting":"W8A8"})", "h2", std::nullopt, a);
  CHECK(b != a);
  store.record({a, "validation", "perplexity", 25.0});
  store.record({a, "validation", "perplexity", 24.5});
  store.record({a, "test", "perplexity", 26.0});
  const auto evaluations = store.evaluations(a);
  REQUIRE(evaluations.size() == 2);
  CHECK(evaluations[0].value == 24.5);
  const auto candidates = store.candidates(run);
  REQUIRE(candidates.size() == 2);
  CHECK(candidates[0].tier == std::string("global"));
  CHECK(candidates[1].parent_id == a);
  CHECK(store.evaluations(b).empty());
}

TEST_CASE("Migration 6 marks cached scores as scorer version 1, which a version 2 lookup misses",
          "[db]") {
  TempDir tmp;
  const auto path = (tmp.path / "v5.db").string();
  {
    // Cache rows as a version-5 file holds them (computed with the glibc-exp log-softmax).
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    std::string sql;
    for (int v = 1; v <= 5; ++v) sql += db::migration_sql(v);
    sql += R"sql(
INSERT INTO scores (model_hash, config_hash, split, windows, metric, value, output_kl, seconds,
                    created_at) VALUES ('m', 'c', 'validation', 64, 'perplexity', 10.5, 0.25, 1, 't');
INSERT INTO sensitivity (model_hash, unit, setting, split, windows, metric, value, metric_change,
                         output_kl, created_at)
  VALUES ('m', 'embed', 'W4', 'calibration', 8, 'perplexity', 11, 0.1, 0.5, 't');
PRAGMA user_version = 5;
)sql";
    REQUIRE(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  db::Database d(path);
  REQUIRE(d.user_version() == db::latest_schema_version());
  db::SearchStore store(d);
  const auto old = store.score("m", "c", "validation", 64, "perplexity", 1);
  REQUIRE(old.has_value());
  CHECK(old->value == 10.5);
  CHECK(old->scorer_version == 1);
  CHECK_FALSE(store.score("m", "c", "validation", 64, "perplexity", 2).has_value());
  REQUIRE(store.sensitivity("m", "embed", "W4", "calibration", 8, 1).has_value());
  CHECK_FALSE(store.sensitivity("m", "embed", "W4", "calibration", 8, 2).has_value());
  // A new score replaces the old one (same key but the version), so no stale row remains.
  store.put_score({"m", "c", "validation", 64, "perplexity", 10.25, 0.125, 2.0, 2});
  const auto now = store.score("m", "c", "validation", 64, "perplexity", 2);
  REQUIRE(now.has_value());
  CHECK(now->value == 10.25);
  CHECK(now->output_kl == 0.125);
  CHECK_FALSE(store.score("m", "c", "validation", 64, "perplexity", 1).has_value());
  store.put_sensitivity({"m", "embed", "W4", "calibration", 8, "perplexity", 12, 0.2, 0.75, 2});
  const auto rows = store.sensitivities("m");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].value == 12);
  CHECK(rows[0].scorer_version == 2);
}
