// The search's tables (see search_store.h).
#include "db/search_store.h"

namespace hilq::db {

std::optional<SensitivityRow> SearchStore::sensitivity(const std::string& model_hash,
                                                       const std::string& unit,
                                                       const std::string& setting,
                                                       const std::string& split, int windows,
                                                       int scorer_version) {
  Statement s(
      db_,
      "SELECT metric, value, metric_change, output_kl FROM sensitivity WHERE model_hash = "
      "? AND unit = ? AND setting = ? AND split = ? AND windows = ? AND scorer_version = ?");
  s.bind_all(model_hash, unit, setting, split, windows, scorer_version);
  if (!s.step()) return std::nullopt;
  return SensitivityRow{model_hash,
                        unit,
                        setting,
                        split,
                        windows,
                        s.column_text(0),
                        s.column_double(1),
                        s.column_double(2),
                        s.column_double(3),
                        scorer_version};
}

void SearchStore::put_sensitivity(const SensitivityRow& r) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT OR REPLACE INTO sensitivity (model_hash, unit, setting, split, windows, "
              "metric, value, metric_change, output_kl, created_at, scorer_version) VALUES "
              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind_all(r.model_hash, r.unit, r.setting, r.split, r.windows, r.metric, r.value,
             r.metric_change, r.output_kl, now_utc(), r.scorer_version)
      .run();
  tx.commit();
}

std::vector<SensitivityRow> SearchStore::sensitivities(const std::string& model_hash) {
  Statement s(db_,
              "SELECT unit, setting, split, windows, metric, value, metric_change, output_kl, "
              "scorer_version FROM sensitivity WHERE model_hash = ? ORDER BY unit, setting");
  s.bind(1, model_hash);
  std::vector<SensitivityRow> out;
  while (s.step())
    out.push_back({model_hash, s.column_text(0), s.column_text(1), s.column_text(2),
                   static_cast<int>(s.column_int(3)), s.column_text(4), s.column_double(5),
                   s.column_double(6), s.column_double(7), static_cast<int>(s.column_int(8))});
  return out;
}

std::optional<ScoreRow> SearchStore::score(const std::string& model_hash,
                                           const std::string& config_hash, const std::string& split,
                                           int windows, const std::string& metric,
                                           int scorer_version) {
  Statement s(db_,
              "SELECT value, output_kl, seconds FROM scores WHERE model_hash = ? AND config_hash "
              "= ? AND split = ? AND windows = ? AND metric = ? AND scorer_version = ?");
  s.bind_all(model_hash, config_hash, split, windows, metric, scorer_version);
  if (!s.step()) return std::nullopt;
  ScoreRow r{model_hash, config_hash,        split,        windows,
             metric,     s.column_double(0), std::nullopt, 0.0};
  r.output_kl = s.column_optional_double(1);
  r.seconds = s.column_optional_double(2).value_or(0.0);
  r.scorer_version = scorer_version;
  return r;
}

void SearchStore::put_score(const ScoreRow& r) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT OR REPLACE INTO scores (model_hash, config_hash, split, windows, metric, "
              "value, output_kl, seconds, created_at, scorer_version) VALUES "
              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind_all(r.model_hash, r.config_hash, r.split, r.windows, r.metric, r.value, r.output_kl,
             r.seconds, now_utc(), r.scorer_version)
      .run();
  tx.commit();
}

namespace {

constexpr const char* kMeasuredColumns =
    "m.id, m.run_id, m.decode_ms_median, m.decode_ms_p90, m.prefill_ms, m.model_bytes, "
    "m.peak_rss_bytes, m.energy_per_token_j, m.power_unavailable, m.emulated";

MeasuredPoint measured_point(const Statement& s) {
  return {s.column_int(0),
          s.column_int(1),
          s.column_double(2),
          s.column_optional_double(3),
          s.column_optional_double(4),
          s.column_optional_int(5),
          s.column_optional_int(6),
          s.column_optional_double(7),
          s.column_optional_text(8),
          s.column_int(9) != 0};
}

}  // namespace

std::optional<MeasuredPoint> SearchStore::measured(int64_t run_id, int64_t candidate_id,
                                                   const std::string& board) {
  Statement s(db_, std::string("SELECT ") + kMeasuredColumns +
                       " FROM measurements m WHERE m.run_id = ? AND m.candidate_id = ? AND "
                       "m.board = ? AND m.status = 'ok' AND m.decode_ms_median IS NOT NULL "
                       "ORDER BY m.id DESC LIMIT 1");
  s.bind_all(run_id, candidate_id, board);
  if (!s.step()) return std::nullopt;
  return measured_point(s);
}

std::optional<MeasuredPoint> SearchStore::cached_measurement(int64_t run_id,
                                                             const std::string& config_hash,
                                                             const std::string& board,
                                                             const std::string& agent_version,
                                                             const std::string& job_config) {
  Statement s(db_, std::string("SELECT ") + kMeasuredColumns +
                       " FROM measurements m JOIN candidates c ON c.id = m.candidate_id "
                       "JOIN jobs j ON j.id = m.job_id "
                       "WHERE m.run_id <> ? AND c.config_hash = ? AND m.board = ? AND "
                       "m.agent_version = ? AND j.config = ? AND m.status = 'ok' AND "
                       "m.kind = 'model-bench' AND m.decode_ms_median IS NOT NULL "
                       "ORDER BY m.id DESC LIMIT 1");
  s.bind_all(run_id, config_hash, board, agent_version, job_config);
  if (!s.step()) return std::nullopt;
  return measured_point(s);
}

void SearchStore::reuse_measurement(int64_t measurement_id, int64_t run_id, int64_t candidate_id) {
  static const char* kCopied =
      "board, agent, kind, kernel, status, error_class, error, latency_median_ns, "
      "latency_p10_ns, latency_p90_ns, latency_mad_ns, latency_mean_ns, repeats, samples_ns, "
      "peak_rss_bytes, model_bytes, energy_j, power_source, power_unavailable, temperature_c, "
      "emulated, setting, kernel_path, prefill_ms, decode_ms_median, decode_ms_p90, "
      "tokens_per_s, kv_bytes, arena_bytes, energy_per_token_j, created_at, agent_version";
  Transaction tx(db_);
  Statement s(db_, std::string("INSERT OR IGNORE INTO measurements (run_id, candidate_id, job_id, "
                               "metrics, ") +
                       kCopied +
                       ") SELECT ?, ?, 'r' || ? || '-reuse-' || job_id, "
                       "json_set(metrics, '$.reused_from', job_id), " +
                       kCopied + " FROM measurements WHERE id = ?");
  s.bind_all(run_id, candidate_id, run_id, measurement_id).run();
  tx.commit();
}

void SearchStore::set_run_constraints(int64_t run_id, const std::string& json) {
  Transaction tx(db_);
  Statement s(db_, "UPDATE runs SET constraints = ? WHERE id = ?");
  s.bind_all(json, run_id).run();
  tx.commit();
}

void SearchStore::set_outcome(int64_t candidate_id, const CandidateOutcome& o) {
  Transaction tx(db_);
  Statement s(db_,
              "UPDATE candidates SET label = ?, memory_bytes = ?, status = ?, reason = ?, "
              "artifact_sha256 = ? WHERE id = ?");
  s.bind_all(o.label, o.memory_bytes, o.status, o.reason, o.artifact_sha256, candidate_id).run();
  if (db_.changes() != 1)
    throw DbError("candidate " + std::to_string(candidate_id) + " does not exist");
  tx.commit();
}

std::optional<CandidateOutcome> SearchStore::outcome(int64_t candidate_id) {
  Statement s(db_,
              "SELECT label, memory_bytes, status, reason, artifact_sha256 FROM candidates "
              "WHERE id = ? AND status IS NOT NULL");
  s.bind(1, candidate_id);
  if (!s.step()) return std::nullopt;
  return CandidateOutcome{s.column_optional_text(0), s.column_optional_int(1), s.column_text(2),
                          s.column_optional_text(3), s.column_optional_text(4)};
}

void SearchStore::set_front(int64_t run_id, const std::string& board,
                            const std::string& objective_pair,
                            const std::vector<int64_t>& candidate_ids) {
  Transaction tx(db_);
  Statement del(db_, "DELETE FROM pareto WHERE run_id = ? AND board = ? AND objective_pair = ?");
  del.bind_all(run_id, board, objective_pair).run();
  for (const int64_t id : candidate_ids) {
    Statement ins(db_,
                  "INSERT OR IGNORE INTO pareto (run_id, board, objective_pair, candidate_id) "
                  "VALUES (?, ?, ?, ?)");
    ins.bind_all(run_id, board, objective_pair, id).run();
  }
  tx.commit();
}

std::vector<int64_t> SearchStore::front(int64_t run_id, const std::string& board,
                                        const std::string& objective_pair) {
  Statement s(db_,
              "SELECT candidate_id FROM pareto WHERE run_id = ? AND board = ? AND "
              "objective_pair = ? ORDER BY candidate_id");
  s.bind_all(run_id, board, objective_pair);
  std::vector<int64_t> out;
  while (s.step()) out.push_back(s.column_int(0));
  return out;
}

void SearchStore::set_pick(const PickRow& p) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT OR REPLACE INTO picks (run_id, board, rule, candidate_id, score) VALUES "
              "(?, ?, ?, ?, ?)");
  s.bind_all(p.run_id, p.board, p.rule, p.candidate_id, p.score).run();
  tx.commit();
}

std::optional<PickRow> SearchStore::pick(int64_t run_id, const std::string& board) {
  Statement s(db_, "SELECT rule, candidate_id, score FROM picks WHERE run_id = ? AND board = ?");
  s.bind_all(run_id, board);
  if (!s.step()) return std::nullopt;
  return PickRow{run_id, board, s.column_text(0), s.column_int(1), s.column_optional_double(2)};
}

}  // namespace hilq::db
