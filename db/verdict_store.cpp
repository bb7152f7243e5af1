// ab_jobs and verdicts (see verdict_store.h).
#include "db/verdict_store.h"

namespace hilq::db {

void VerdictStore::insert_ab_job(const AbJobRow& r) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT INTO ab_jobs (job_id, run_id, board, config, arm, round, slot) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)");
  s.bind_all(r.job_id, r.run_id, r.board, r.config, r.arm, r.round, r.slot).run();
  tx.commit();
}

std::vector<AbJobRow> VerdictStore::ab_jobs(int64_t run_id) {
  Statement s(db_,
              "SELECT job_id, run_id, board, config, arm, round, slot FROM ab_jobs "
              "WHERE run_id = ? ORDER BY board, config, round, slot");
  s.bind(1, run_id);
  std::vector<AbJobRow> out;
  while (s.step())
    out.push_back({s.column_text(0), s.column_int(1), s.column_text(2), s.column_text(3),
                   s.column_text(4), static_cast<int>(s.column_int(5)),
                   static_cast<int>(s.column_int(6))});
  return out;
}

std::vector<int64_t> VerdictStore::ab_runs() {
  Statement s(db_, "SELECT DISTINCT run_id FROM ab_jobs ORDER BY run_id");
  std::vector<int64_t> out;
  while (s.step()) out.push_back(s.column_int(0));
  return out;
}

void VerdictStore::replace_verdicts(int64_t run_id, const std::vector<VerdictRow>& rows) {
  Transaction tx(db_);
  Statement del(db_, "DELETE FROM verdicts WHERE run_id = ?");
  del.bind(1, run_id).run();
  Statement s(db_,
              "INSERT INTO verdicts (run_id, board, config, metric, method, baseline_version, "
              "candidate_version, estimate, ci_low, ci_high, p, p_adjusted, baseline_value, "
              "candidate_value, rounds, rounds_used, rounds_dropped, verdict, reason, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const std::string now = now_utc();
  for (const auto& r : rows) {
    s.reset();
    s.bind_all(run_id, r.board, r.config, r.metric, r.method, r.baseline_version,
               r.candidate_version, r.estimate, r.ci_low, r.ci_high, r.p, r.p_adjusted,
               r.baseline_value, r.candidate_value, r.rounds, r.rounds_used, r.rounds_dropped,
               r.verdict, r.reason, now)
        .run();
  }
  tx.commit();
}

std::vector<VerdictRow> VerdictStore::verdicts(int64_t run_id) {
  Statement s(db_,
              "SELECT run_id, board, config, metric, method, baseline_version, candidate_version, "
              "estimate, ci_low, ci_high, p, p_adjusted, baseline_value, candidate_value, rounds, "
              "rounds_used, rounds_dropped, verdict, reason, created_at FROM verdicts "
              "WHERE run_id = ? ORDER BY board, config, metric");
  s.bind(1, run_id);
  std::vector<VerdictRow> out;
  while (s.step()) {
    VerdictRow r;
    r.run_id = s.column_int(0);
    r.board = s.column_text(1);
    r.config = s.column_text(2);
    r.metric = s.column_text(3);
    r.method = s.column_text(4);
    r.baseline_version = s.column_optional_text(5);
    r.candidate_version = s.column_optional_text(6);
    r.estimate = s.column_optional_double(7);
    r.ci_low = s.column_optional_double(8);
    r.ci_high = s.column_optional_double(9);
    r.p = s.column_optional_double(10);
    r.p_adjusted = s.column_optional_double(11);
    r.baseline_value = s.column_optional_double(12);
    r.candidate_value = s.column_optional_double(13);
    r.rounds = static_cast<int>(s.column_int(14));
    r.rounds_used = static_cast<int>(s.column_int(15));
    r.rounds_dropped = static_cast<int>(s.column_int(16));
    r.verdict = s.column_text(17);
    r.reason = s.column_optional_text(18);
    r.created_at = s.column_text(19);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hilq::db
