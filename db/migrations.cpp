// The schema as a list of migrations; append, never edit a shipped one.
#include "db/migrations.h"

#include <string>
#include <vector>

#include "db/database.h"

namespace hilq::db {
namespace {

const std::vector<std::string> kMigrations = {
    // 1: runs, boards, candidates, evaluations, jobs, measurements, pareto.
    R"sql(
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  command_line  TEXT NOT NULL,
  git_sha       TEXT,
  model_hash    TEXT,
  constraints   TEXT NOT NULL DEFAULT '{}',
  status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
  message       TEXT,
  started_at    TEXT NOT NULL,
  finished_at   TEXT
);
CREATE TABLE boards (
  name          TEXT PRIMARY KEY,
  arch          TEXT NOT NULL,
  features      TEXT NOT NULL,
  cores         INTEGER,
  memory_bytes  INTEGER,
  agent_version TEXT,
  emulated      INTEGER NOT NULL DEFAULT 0,
  last_seen     TEXT NOT NULL
);
CREATE TABLE candidates (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  config        TEXT NOT NULL,
  config_hash   TEXT NOT NULL,
  tier          TEXT,
  parent_id     INTEGER REFERENCES candidates(id),
  UNIQUE (run_id, config_hash)
);
CREATE TABLE evaluations (
  id            INTEGER PRIMARY KEY,
  candidate_id  INTEGER NOT NULL REFERENCES candidates(id),
  split         TEXT NOT NULL,
  metric        TEXT NOT NULL,
  value         REAL NOT NULL,
  UNIQUE (candidate_id, split, metric)
);
CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  candidate_id  INTEGER REFERENCES candidates(id),
  board         TEXT NOT NULL,
  kind          TEXT NOT NULL,
  config        TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  attempts      INTEGER NOT NULL DEFAULT 0,
  agent         TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
CREATE INDEX jobs_by_run ON jobs (run_id, state);
CREATE TABLE measurements (
  id                 INTEGER PRIMARY KEY,
  run_id             INTEGER NOT NULL REFERENCES runs(id),
  candidate_id       INTEGER REFERENCES candidates(id),
  board              TEXT NOT NULL,
  agent              TEXT,
  job_id             TEXT NOT NULL UNIQUE,
  kind               TEXT NOT NULL,
  kernel             TEXT,
  config             TEXT NOT NULL,
  status             TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  error_class        TEXT,
  error              TEXT,
  latency_median_ns  REAL,
  latency_p10_ns     REAL,
  latency_p90_ns     REAL,
  latency_mad_ns     REAL,
  latency_mean_ns    REAL,
  repeats            INTEGER,
  samples_ns         TEXT,
  peak_rss_bytes     INTEGER,
  model_bytes        INTEGER,
  energy_j           REAL,
  power_source       TEXT,
  power_unavailable  TEXT,
  temperature_c      REAL,
  emulated           INTEGER NOT NULL DEFAULT 0,
  metrics            TEXT NOT NULL DEFAULT '{}',
  created_at         TEXT NOT NULL
);
CREATE INDEX measurements_by_run ON measurements (run_id, board);
CREATE TABLE pareto (
  run_id         INTEGER NOT NULL REFERENCES runs(id),
  board          TEXT NOT NULL,
  objective_pair TEXT NOT NULL,
  candidate_id   INTEGER NOT NULL REFERENCES candidates(id),
  PRIMARY KEY (run_id, board, objective_pair, candidate_id)
);
)sql",
    // 2: the durable job queue (spec, lease, last error), run options for --resume, agents.
    R"sql(
ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN spec TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
ALTER TABLE jobs ADD COLUMN error_class TEXT;
ALTER TABLE jobs ADD COLUMN error TEXT;
CREATE TABLE agents (
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  id          TEXT NOT NULL,
  board       TEXT NOT NULL,
  user_id     TEXT,
  status      TEXT NOT NULL CHECK (status IN ('connected', 'lost', 'left', 'quarantined')),
  reason      TEXT,
  first_seen  TEXT NOT NULL,
  last_seen   TEXT NOT NULL,
  PRIMARY KEY (run_id, id)
);
)sql",
    // 3: typed model-bench columns on measurements, backfilled from the metrics JSON of older
    // rows (whose moved keys leave it); the job config kept once, in jobs.config: measurements
    // lose their copy (a row without its job gets one first) and jobs.spec drops its own.
    R"sql(
ALTER TABLE measurements ADD COLUMN setting TEXT;
ALTER TABLE measurements ADD COLUMN kernel_path TEXT;
ALTER TABLE measurements ADD COLUMN prefill_ms REAL;
ALTER TABLE measurements ADD COLUMN decode_ms_median REAL;
ALTER TABLE measurements ADD COLUMN decode_ms_p90 REAL;
ALTER TABLE measurements ADD COLUMN tokens_per_s REAL;
ALTER TABLE measurements ADD COLUMN kv_bytes INTEGER;
ALTER TABLE measurements ADD COLUMN arena_bytes INTEGER;
ALTER TABLE measurements ADD COLUMN energy_per_token_j REAL;
UPDATE measurements SET
  setting = CASE json_type(metrics, '$.model_label') WHEN 'text'
            THEN json_extract(metrics, '$.model_label') END,
  kernel_path = CASE json_type(metrics, '$.isa') WHEN 'text' THEN json_extract(metrics, '$.isa') END,
  prefill_ms = json_extract(metrics, '$.prefill_ms'),
  decode_ms_median = json_extract(metrics, '$.decode_ms_per_token.median'),
  decode_ms_p90 = json_extract(metrics, '$.decode_ms_per_token.p90'),
  tokens_per_s = json_extract(metrics, '$.tokens_per_s'),
  kv_bytes = json_extract(metrics, '$.memory.kv_cache_bytes'),
  arena_bytes = json_extract(metrics, '$.memory.arena_bytes'),
  energy_per_token_j = json_extract(metrics, '$.energy_per_token_j'),
  metrics = json_remove(metrics, '$.model_label', '$.isa', '$.prefill_ms',
                        '$.decode_ms_per_token', '$.tokens_per_s', '$.memory.kv_cache_bytes',
                        '$.memory.arena_bytes', '$.memory.weights_bytes', '$.energy_per_token_j',
                        '$.model_bytes', '$.kernel')
WHERE json_valid(metrics) AND json_type(metrics) = 'object';
INSERT OR IGNORE INTO jobs (id, run_id, candidate_id, board, kind, config, state, attempts, agent,
                            created_at, updated_at)
  SELECT job_id, run_id, candidate_id, board, kind, config,
         CASE status WHEN 'ok' THEN 'done' ELSE 'failed' END, 1, agent, created_at, created_at
  FROM measurements;
ALTER TABLE measurements DROP COLUMN config;
UPDATE jobs SET spec = json_remove(spec, '$.config')
WHERE spec IS NOT NULL AND json_valid(spec) AND json_type(spec) = 'object';
)sql",
    // 4: the search: what became of each candidate (memory, status, why), the build of the agent
    // behind each measurement (its cache key), the sensitivity and score caches shared by every
    // run of a model, and each board's pick.
    R"sql(
ALTER TABLE candidates ADD COLUMN label TEXT;
ALTER TABLE candidates ADD COLUMN memory_bytes INTEGER;
ALTER TABLE candidates ADD COLUMN status TEXT;
ALTER TABLE candidates ADD COLUMN reason TEXT;
ALTER TABLE candidates ADD COLUMN artifact_sha256 TEXT;
ALTER TABLE measurements ADD COLUMN agent_version TEXT;
CREATE TABLE sensitivity (
  model_hash     TEXT NOT NULL,
  unit           TEXT NOT NULL,
  setting        TEXT NOT NULL,
  split          TEXT NOT NULL,
  windows        INTEGER NOT NULL,
  metric         TEXT NOT NULL,
  value          REAL NOT NULL,
  metric_change  REAL NOT NULL,
  output_kl      REAL NOT NULL,
  created_at     TEXT NOT NULL,
  PRIMARY KEY (model_hash, unit, setting, split, windows)
);
CREATE TABLE scores (
  model_hash   TEXT NOT NULL,
  config_hash  TEXT NOT NULL,
  split        TEXT NOT NULL,
  windows      INTEGER NOT NULL,
  metric       TEXT NOT NULL,
  value        REAL NOT NULL,
  output_kl    REAL,
  seconds      REAL,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (model_hash, config_hash, split, windows, metric)
);
CREATE TABLE picks (
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  board         TEXT NOT NULL,
  rule          TEXT NOT NULL,
  candidate_id  INTEGER NOT NULL REFERENCES candidates(id),
  score         REAL,
  PRIMARY KEY (run_id, board)
);
)sql",
    // 5: paired A/B runs (hil-search --baseline-agent/--candidate-agent): which arm, round and
    // ABBA position each job is, and the verdict per (board, config, metric) of a run.
    R"sql(
CREATE TABLE ab_jobs (
  job_id  TEXT PRIMARY KEY REFERENCES jobs(id),
  run_id  INTEGER NOT NULL REFERENCES runs(id),
  board   TEXT NOT NULL,
  config  TEXT NOT NULL,
  arm     TEXT NOT NULL CHECK (arm IN ('baseline', 'candidate')),
  round   INTEGER NOT NULL CHECK (round >= 1),
  slot    INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 3),
  UNIQUE (run_id, board, config, round, slot)
);
CREATE TABLE verdicts (
  run_id             INTEGER NOT NULL REFERENCES runs(id),
  board              TEXT NOT NULL,
  config             TEXT NOT NULL,
  metric             TEXT NOT NULL,
  method             TEXT NOT NULL,
  baseline_version   TEXT,
  candidate_version  TEXT,
  estimate           REAL,
  ci_low             REAL,
  ci_high            REAL,
  p                  REAL,
  p_adjusted         REAL,
  baseline_value     REAL,
  candidate_value    REAL,
  rounds             INTEGER NOT NULL,
  rounds_used        INTEGER NOT NULL,
  rounds_dropped     INTEGER NOT NULL,
  verdict            TEXT NOT NULL
                     CHECK (verdict IN ('REGRESSED', 'SAME', 'IMPROVED', 'INCONCLUSIVE')),
  reason             TEXT,
  created_at         TEXT NOT NULL,
  PRIMARY KEY (run_id, board, config, metric)
);
)sql",
    // 6: the host scorer's version on the sensitivity and score caches (search/scorer.h
    // kScorerVersion): a score computed by another version of the scoring arithmetic (1: the
    // log-softmax with glibc's exp, every row before this migration) is never read as a current
    // one, and a new score replaces it.
    R"sql(
ALTER TABLE sensitivity ADD COLUMN scorer_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE scores ADD COLUMN scorer_version INTEGER NOT NULL DEFAULT 1;
)sql",
};

}  // namespace

int latest_schema_version() { return static_cast<int>(kMigrations.size()); }

const std::string& migration_sql(int version) {
  if (version < 1 || version > latest_schema_version())
    throw DbError("there is no schema migration " + std::to_string(version));
  return kMigrations[static_cast<size_t>(version - 1)];
}

void migrate(Database& db) {
  int version = db.user_version();
  if (version > latest_schema_version())
    throw DbError("database '" + db.path() + "' has schema version " + std::to_string(version) +
                  ", newer than this build's " + std::to_string(latest_schema_version()) +
                  "; use a newer hilq");
  while (version < latest_schema_version()) {
    Transaction tx(db);
    db.exec(kMigrations[static_cast<size_t>(version)]);
    ++version;
    db.exec("PRAGMA user_version = " + std::to_string(version));
    tx.commit();
  }
}

}  // namespace hilq::db
