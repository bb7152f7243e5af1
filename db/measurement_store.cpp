// The measurements table's typed store (see measurement_store.h).
#include "db/measurement_store.h"

namespace hilq::db {
namespace {

// Columns in MeasurementRow order; the config comes from the job's row.
constexpr const char* kColumns =
    "m.id, m.run_id, m.candidate_id, m.board, m.agent, m.job_id, m.kind, m.kernel, "
    "coalesce(j.config, '{}'), m.status, m.error_class, m.error, m.latency_median_ns, "
    "m.latency_p10_ns, m.latency_p90_ns, m.latency_mad_ns, m.latency_mean_ns, m.repeats, "
    "m.samples_ns, m.peak_rss_bytes, m.model_bytes, m.energy_j, m.power_source, "
    "m.power_unavailable, m.temperature_c, m.emulated, m.setting, m.kernel_path, m.prefill_ms, "
    "m.decode_ms_median, m.decode_ms_p90, m.tokens_per_s, m.kv_bytes, m.arena_bytes, "
    "m.energy_per_token_j, m.metrics, m.created_at, m.agent_version";

MeasurementRow read_row(const Statement& s) {
  MeasurementRow m;
  int c = 0;
  m.id = s.column_int(c++);
  m.run_id = s.column_int(c++);
  m.candidate_id = s.column_optional_int(c++);
  m.board = s.column_text(c++);
  m.agent = s.column_optional_text(c++);
  m.job_id = s.column_text(c++);
  m.kind = s.column_text(c++);
  m.kernel = s.column_optional_text(c++);
  m.config = s.column_text(c++);
  m.status = s.column_text(c++);
  m.error_class = s.column_optional_text(c++);
  m.error = s.column_optional_text(c++);
  m.latency_median_ns = s.column_optional_double(c++);
  m.latency_p10_ns = s.column_optional_double(c++);
  m.latency_p90_ns = s.column_optional_double(c++);
  m.latency_mad_ns = s.column_optional_double(c++);
  m.latency_mean_ns = s.column_optional_double(c++);
  m.repeats = s.column_optional_int(c++);
  m.samples_ns = s.column_optional_text(c++);
  m.peak_rss_bytes = s.column_optional_int(c++);
  m.model_bytes = s.column_optional_int(c++);
  m.energy_j = s.column_optional_double(c++);
  m.power_source = s.column_optional_text(c++);
  m.power_unavailable = s.column_optional_text(c++);
  m.temperature_c = s.column_optional_double(c++);
  m.emulated = s.column_int(c++) != 0;
  m.setting = s.column_optional_text(c++);
  m.kernel_path = s.column_optional_text(c++);
  m.prefill_ms = s.column_optional_double(c++);
  m.decode_ms_median = s.column_optional_double(c++);
  m.decode_ms_p90 = s.column_optional_double(c++);
  m.tokens_per_s = s.column_optional_double(c++);
  m.kv_bytes = s.column_optional_int(c++);
  m.arena_bytes = s.column_optional_int(c++);
  m.energy_per_token_j = s.column_optional_double(c++);
  m.metrics = s.column_text(c++);
  m.created_at = s.column_text(c++);
  m.agent_version = s.column_optional_text(c++);
  return m;
}

}  // namespace

bool MeasurementStore::record(const MeasurementRow& m) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT INTO measurements (run_id, candidate_id, board, agent, job_id, kind, kernel, "
              "status, error_class, error, latency_median_ns, latency_p10_ns, latency_p90_ns, "
              "latency_mad_ns, latency_mean_ns, repeats, samples_ns, peak_rss_bytes, model_bytes, "
              "energy_j, power_source, power_unavailable, temperature_c, emulated, setting, "
              "kernel_path, prefill_ms, decode_ms_median, decode_ms_p90, tokens_per_s, kv_bytes, "
              "arena_bytes, energy_per_token_j, metrics, created_at, agent_version) VALUES (?, "
              "coalesce(?, (SELECT candidate_id FROM jobs WHERE id = ?)), ?, ?, ?, ?, ?, ?, ?, ?, "
              "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
              "ON CONFLICT (job_id) DO NOTHING");
  const std::string now = m.created_at.empty() ? now_utc() : m.created_at;
  s.bind_all(m.run_id, m.candidate_id, m.job_id, m.board, m.agent, m.job_id, m.kind, m.kernel,
             m.status, m.error_class, m.error, m.latency_median_ns, m.latency_p10_ns,
             m.latency_p90_ns, m.latency_mad_ns, m.latency_mean_ns, m.repeats, m.samples_ns,
             m.peak_rss_bytes, m.model_bytes, m.energy_j, m.power_source, m.power_unavailable,
             m.temperature_c, m.emulated ? 1 : 0, m.setting, m.kernel_path, m.prefill_ms,
             m.decode_ms_median, m.decode_ms_p90, m.tokens_per_s, m.kv_bytes, m.arena_bytes,
             m.energy_per_token_j, m.metrics, now, m.agent_version);
  s.run();
  if (db_.changes() == 0) return false;  // tx rolls back: nothing to undo
  // A measurement recorded without a queued job (tools, tests) gets its job row: the config's
  // one place.
  Statement add_job(db_,
                    "INSERT OR IGNORE INTO jobs (id, run_id, candidate_id, board, kind, config, "
                    "state, attempts, agent, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'queued', 1, ?, ?, ?)");
  add_job.bind_all(m.job_id, m.run_id, m.candidate_id, m.board, m.kind, m.config, m.agent, now,
                   now);
  add_job.run();
  Statement job(db_,
                "UPDATE jobs SET state = ?, lease_until = NULL, updated_at = ?, "
                "error_class = coalesce(?, error_class), error = coalesce(?, error) WHERE id = ?");
  job.bind_all(m.status == "ok" ? "done" : "failed", now_utc(), m.error_class, m.error, m.job_id)
      .run();
  tx.commit();
  return true;
}

std::vector<MeasurementRow> MeasurementStore::of_run(int64_t run_id) {
  Statement s(db_, std::string("SELECT ") + kColumns +
                       " FROM measurements m LEFT JOIN jobs j ON j.id = m.job_id "
                       "WHERE m.run_id = ? ORDER BY m.id");
  s.bind(1, run_id);
  std::vector<MeasurementRow> out;
  while (s.step()) out.push_back(read_row(s));
  return out;
}

}  // namespace hilq::db
